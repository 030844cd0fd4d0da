"""Camera motion between two frames: estimate the global shift, cancel it, tell a cut from motion.

The frame differences a model reads (``model.frame_diff``) are dominated by the camera when it
moves: under a pan every edge of the scene moves, and an actor's motion in the scene is
added to the camera's. The classical fix (improved dense trajectories, TSN's warped flow)
estimates the camera's motion and cancels it before reading motion; here:

1. :func:`frame_features`, once per frame: the grey frame at half size (the 2x2 mean also
   averages sensor noise), its horizontal and vertical edge strength, soft-saturated
   (``|g_x| / sqrt(|g|^2 + c^2)``, ``c`` twice the frame's mean gradient) so that a dim scene
   counts about as much as a bright actor, projected on the columns (rows) within each of
   6 horizontal (vertical) bands of the frame; and every 8th pixel's colour for the cut test.
2. :func:`estimate_shift`: in each band, the shift of the column profile from one frame to the
   next: the integer shift of least squared difference within ``max_shift`` (a share of the
   side), refined by a parabola through its neighbours. The bands vote (weighted median): an
   actor or a distractor in a minority of them is outvoted, and where fewer than 2 in 3 bands
   agree the shift is 0 (no motion shared by most of the frame; an actor filling a dim scene
   would otherwise have its own motion cancelled). Rows likewise: ``(dx, dy)`` pixels,
   ``cur[y, x] ~ prev[y - dy, x - dx]``. Then :func:`supported`: the shift is the camera's only
   where aligning by it brings most of the frame's blocks closer (an actor over a still, dim
   scene can carry most bands' edges, but moves only a few blocks); otherwise 0.
3. :func:`shift_frames`: the previous frame moved by ``(dx, dy)`` (bilinear), so
   ``cur - shift_frames(prev, d)`` holds what moved in the scene; where the moved frame has no
   pixels (the border the camera brought into view) the difference is 0.
4. :func:`is_cut`: a new scene, not a moving one: the colour histograms changed and so did the
   camera-aligned grey pixels (half size); the difference across a cut is 0 (a cut is the
   largest "motion" in a video and means nothing).

:func:`stabilized_differences` does all of it for clips ``(B, T, H, W, C)``, each frame's
features computed once; :func:`stabilized_difference` for pairs. Everything is batched torch on
the frames' device, without gradients (the estimate is a function of the input only) and
without data-dependent control flow or FFTs, so it runs in the exported graphs (ONNX) and the
per-frame step as in training.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

#: Largest shift searched, as a share of the frame's width (columns) and height (rows).
MAX_SHIFT = 0.15
#: Bands of the frame that estimate the shift each and vote (see :func:`estimate_shift`).
STRIPS = 6
#: Share of the bands that must agree (within a pixel of their weighted median) on a shift for it
#: to be cancelled: where an actor fills much of a dim scene the bands disagree, and a wrong
#: shift (the actor's) would cancel the very motion to be read.
MIN_AGREEMENT = 2 / 3
#: A shift is the camera's (:func:`supported`) where aligning by it brings the pixels of at least
#: CAMERA_SHARE of the frame's BLOCKS x BLOCKS blocks closer, by a share SUPPORT of their
#: unaligned difference: an actor over a still scene moves a few blocks, the camera all those
#: with any texture. (On the generated still-camera clips the bands' vote alone moves 17% of the
#: pairs by more than 2 px, the actor's motion; with this check none: ``bench/bench_motion.py``.)
BLOCKS = 4
SUPPORT = 0.25
CAMERA_SHARE = 0.6
#: A pair of frames is a cut above both (see :func:`is_cut`): the colour histograms' distance in
#: bins, and the aligned residual over the frames' contrast (``bench/bench_motion.py`` measures
#: false and missed cuts on generated clips).
CUT_HISTOGRAM = 0.6
CUT_RESIDUAL = 1.0


class FrameFeatures(NamedTuple):
    """What the estimator and the cut test read of each frame (:func:`frame_features`)."""

    columns: torch.Tensor   #: (N, strips, W' - 2): column edge profiles of horizontal bands, half size
    rows: torch.Tensor      #: (N, strips, H' - 2): row edge profiles of vertical bands, half size
    grey: torch.Tensor      #: (N, H', W'): the grey frame at half size (2x2 means)
    colours: torch.Tensor   #: (N, H / 8, W / 8, C): every 8th pixel's colour, for the histograms


def _strips(edges: torch.Tensor, strips: int) -> torch.Tensor:
    """``(N, A, L)`` -> ``(N, k, L)``: the mean over ``k <= strips`` equal bands of axis A."""
    N, A, L = edges.shape
    k = max(1, min(strips, A // 4))
    band = A // k
    return edges[:, :band * k].reshape(N, k, band, L).mean(2)


def frame_features(frames: torch.Tensor, strips: int = STRIPS) -> FrameFeatures:
    """The features of frames ``(N, H, W, C)`` (any pixel scaling) that :func:`estimate_shift`
    and :func:`is_cut` compare."""
    with torch.no_grad():
        N, H, W, C = frames.shape
        H2, W2 = H // 2, W // 2
        pairs = frames[:, :2 * H2, :2 * W2].reshape(N, H2, 2, 2 * W2 * C)               # rows in pairs
        g = (pairs[:, :, 0] + pairs[:, :, 1]).view(N, H2, W2, 2 * C).sum(-1) / (4 * C)  # (N, H', W'): 2x2 grey means
        gx = g[:, 1:-1, 2:] - g[:, 1:-1, :-2]                                     # (N, H' - 2, W' - 2)
        gy = g[:, 2:, 1:-1] - g[:, :-2, 1:-1]
        mag2 = gx * gx + gy * gy
        c = 2 * mag2.sqrt().mean((1, 2), keepdim=True) + 1e-6                     # the frame's own scale
        norm = (mag2 + c * c).rsqrt()
        return FrameFeatures(_strips(gx.abs() * norm, strips), _strips((gy.abs() * norm).transpose(1, 2), strips),
                             g, frames[:, 4::8, 4::8].contiguous())


def _profile_shift(prev: torch.Tensor, cur: torch.Tensor, max_shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``s`` with ``cur[x] ~ prev[x - s]`` of profiles ``(N, L)``: ``(N,)``, sub-pixel, and
    its confidence ``(N,)`` in [0, 1]: how far the best cost dips below the mean cost."""
    length = prev.shape[-1]
    S = max(1, min(int(max_shift), (length - 2) // 3))
    prev = prev - prev.mean(-1, keepdim=True)
    cur = cur - cur.mean(-1, keepdim=True)
    window = cur[:, S:length - S]                                                   # (N, L - 2S)
    candidates = torch.stack([prev[:, S - s:length - S - s] for s in range(-S, S + 1)], 1)  # (N, 2S+1, L - 2S)
    cost = (candidates - window[:, None]).square().mean(-1)                          # (N, 2S + 1)
    k = cost.argmin(-1, keepdim=True)                                                # (N, 1)
    c0 = cost.gather(1, k)
    cm = cost.gather(1, (k - 1).clamp(min=0))
    cp = cost.gather(1, (k + 1).clamp(max=2 * S))
    curvature = cm - 2 * c0 + cp
    mean = cost.mean(-1, keepdim=True)
    # a parabola through the neighbours; none where the match is exact (identical profiles)
    refine = (curvature > 0) & (c0 > 1e-9 * mean)
    offset = torch.where(refine, 0.5 * (cm - cp) / curvature.clamp(min=1e-12), torch.zeros_like(c0))
    confidence = (mean - c0) / (mean + 1e-12)
    return (k - S).to(prev.dtype)[:, 0] + offset.clamp(-0.5, 0.5)[:, 0], confidence[:, 0]


def _consensus(shifts: torch.Tensor, weights: torch.Tensor, tolerance: float = 1.0) -> torch.Tensor:
    """``(N, K)`` estimates and weights -> ``(N,)``: the weighted median, refined as the weighted
    mean of the estimates within ``tolerance`` of it (a minority moving otherwise is outvoted);
    0 where fewer than :data:`MIN_AGREEMENT` of the ``K`` estimates lie within ``tolerance`` of
    it (no motion shared by most of the frame: nothing to cancel)."""
    order = shifts.argsort(-1)
    sorted_shifts, sorted_weights = shifts.gather(-1, order), weights.gather(-1, order)
    cumulative = sorted_weights.cumsum(-1)
    half = 0.5 * cumulative[:, -1:]
    index = (cumulative < half).sum(-1, keepdim=True).clamp(max=shifts.shape[-1] - 1)
    median = sorted_shifts.gather(-1, index)                                          # (N, 1)
    inliers = ((shifts - median).abs() <= tolerance).to(weights.dtype)                 # (N, K)
    near = inliers * weights
    agreed = inliers.mean(-1) >= MIN_AGREEMENT
    return torch.where(agreed, (near * shifts).sum(-1) / near.sum(-1).clamp(min=1e-12), torch.zeros_like(median[:, 0]))


def shift_between(prev: FrameFeatures, cur: FrameFeatures, max_shift: float = MAX_SHIFT) -> torch.Tensor:
    """:func:`estimate_shift` from the frames' :func:`frame_features`: ``(N, 2)`` full-size pixels."""
    with torch.no_grad():
        N = prev.columns.shape[0]
        estimates = []
        for p0, p1 in ((prev.columns, cur.columns), (prev.rows, cur.rows)):
            k, length = p0.shape[1:]
            shift, confidence = _profile_shift(p0.flatten(0, 1), p1.flatten(0, 1), round(max_shift * (length + 2)))
            estimates.append(_consensus(shift.view(N, k), confidence.clamp(min=0).view(N, k) + 1e-6))
        return 2 * torch.stack(estimates, -1)   # half-size pixels -> pixels


def estimate_shift(prev: torch.Tensor, cur: torch.Tensor, max_shift: float = MAX_SHIFT,
                   strips: int = STRIPS) -> torch.Tensor:
    """The camera's shift from ``prev`` to ``cur`` (frames ``(N, H, W, C)``): ``(N, 2)`` as
    ``(dx, dy)`` pixels, ``cur[y, x] ~ prev[y - dy, x - dx]``; at most ``max_shift`` of the
    width and height.

    ``dx`` is estimated in each of ``strips`` horizontal bands of the frame from its column
    edge profile (``dy`` likewise in vertical bands), and the bands vote: the weighted median
    of their estimates, weighted by how clearly each found its shift, so an actor or a
    distractor that moves otherwise in a minority of the bands is outvoted; the winner is kept
    where :func:`supported` finds it the camera's, else the shift is 0.
    """
    return camera_shift(frame_features(prev, strips), frame_features(cur, strips), max_shift)


def _covers(shift: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The share of each column ``(N, W)`` and row ``(N, H)`` that a frame moved by ``shift``
    covers: 1 inside, linear over the last pixel, 0 where it brings in nothing."""
    xs = torch.arange(width, dtype=shift.dtype, device=shift.device) - shift[:, :1]     # (N, W)
    ys = torch.arange(height, dtype=shift.dtype, device=shift.device) - shift[:, 1:]    # (N, H)
    return (xs + 1).clamp(0, 1) * (width - xs).clamp(0, 1), (ys + 1).clamp(0, 1) * (height - ys).clamp(0, 1)


def _moved(frames: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``frames`` ``(N, H, W, C)`` moved by ``shift``, bilinear, as a contiguous ``(N, H, W, C)``."""
    N, H, W, _ = frames.shape
    # grid_sample's normalised coordinates (align_corners=False): pixel centre u -> (2u + 1) / size - 1;
    # a translation adds one offset to every pixel's (a grid built per pixel costs more than the warp)
    xs = (2 * torch.arange(W, dtype=frames.dtype, device=frames.device) + 1) / W - 1          # (W,)
    ys = (2 * torch.arange(H, dtype=frames.dtype, device=frames.device) + 1) / H - 1          # (H,)
    base = torch.stack([xs.expand(H, W), ys[:, None].expand(H, W)], -1)                       # (H, W, 2)
    offset = -2 * shift / torch.tensor([W, H], dtype=frames.dtype, device=frames.device)       # (N, 2)
    # the frames as a channels-last (N, C, H, W) view: grid_sample reads it without a copy
    moved = F.grid_sample(frames.permute(0, 3, 1, 2), base + offset[:, None, None, :], mode="bilinear",
                          padding_mode="border", align_corners=False)                         # (N, C, H, W)
    return moved.permute(0, 2, 3, 1).contiguous()


def shift_frames(frames: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames`` ``(N, H, W, C)`` moved by ``shift`` ``(N, 2)`` = ``(dx, dy)`` pixels (bilinear,
    the edge pixels repeated beyond the frame): ``out[y, x] = frames[y - dy, x - dx]``. Returns
    it and the share ``(N, H, W, 1)`` of each pixel that the frame covers (0 where it brings in
    nothing)."""
    shift = shift.to(frames.dtype)
    cover_x, cover_y = _covers(shift, frames.shape[1], frames.shape[2])
    return _moved(frames, shift), (cover_y[:, :, None] * cover_x[:, None, :]).unsqueeze(-1)


def histogram_distance(prev: torch.Tensor, cur: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """``(N,)``: the earth mover's distance, in bins, between the colour histograms of frames
    ``(N, H, W, C)`` (per channel, ``bins`` bins over the pair's own range of values), averaged
    over the channels. Motion moves pixels but keeps their colours; a cut changes them. (Its
    cost grows with the pixels: :func:`is_cut` gives it every 8th pixel.)"""
    pair = torch.stack([prev, cur], 1).flatten(2, 3).transpose(2, 3)                  # (N, 2, C, P)
    low = pair.amin((1, 2, 3), keepdim=True)
    high = pair.amax((1, 2, 3), keepdim=True)
    u = ((pair - low) / (high - low + 1e-6) * bins).unsqueeze(-2)                      # (N, 2, C, 1, P)
    edges = torch.arange(1, bins, dtype=pair.dtype, device=pair.device).unsqueeze(-1)  # (bins - 1, 1)
    cumulative = (u < edges).to(pair.dtype).mean(-1)                                   # (N, 2, C, bins - 1)
    return (cumulative[:, 0] - cumulative[:, 1]).abs().sum(-1).mean(-1)


def residual_ratio(prev: torch.Tensor, cur: torch.Tensor, aligned: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """``(N,)``: the mean absolute aligned residual ``|cur - aligned|`` where ``cover`` holds, over
    the frames' mean absolute deviation from their own means (frames ``(N, H, W, C)``): about
    1.4 for two unrelated frames (``E|a - b| = sqrt(2) E|a - m|`` for independent Gaussian
    pixels), less for one scene, by the share of it that moved."""
    dims = tuple(range(1, cur.dim()))
    residual = ((cur - aligned).abs() * cover).sum(dims) / (cover.sum(dims) * cur.shape[-1]).clamp(min=1)
    spread = 0.5 * ((cur - cur.mean(dims, keepdim=True)).abs().mean(dims)
                    + (prev - prev.mean(dims, keepdim=True)).abs().mean(dims))
    return residual / (spread + 1e-6)


def is_cut(prev: FrameFeatures, cur: FrameFeatures, shift: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the pair of frames is a cut: its colours changed (:func:`histogram_distance`
    above :data:`CUT_HISTOGRAM`) and so did its camera-aligned pixels (:func:`residual_ratio` of
    the half-size grey frames, the previous moved by ``shift`` ``(N, 2)``, above
    :data:`CUT_RESIDUAL`): a new scene, not a moving one."""
    aligned, cover = shift_frames(prev.grey.unsqueeze(-1), shift / 2)                 # (N, H', W', 1)
    return _cut(prev, cur, aligned, cover)


def _cut(prev: FrameFeatures, cur: FrameFeatures, aligned: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """:func:`is_cut` given the previous half-size grey frame already moved (``aligned``, ``cover``
    ``(N, H', W', 1)``)."""
    return ((histogram_distance(prev.colours, cur.colours) > CUT_HISTOGRAM)
            & (residual_ratio(prev.grey.unsqueeze(-1), cur.grey.unsqueeze(-1), aligned, cover) > CUT_RESIDUAL))


def _block_means(x: torch.Tensor, blocks: int) -> torch.Tensor:
    """``(N, H, W)`` -> ``(N, blocks, blocks)``: the mean of each block (the remainder rows and
    columns left out)."""
    N, H, W = x.shape
    h, w = H // blocks, W // blocks
    return x[:, :h * blocks, :w * blocks].reshape(N, blocks, h, blocks, w).mean((2, 4))


def supported(prev_grey: torch.Tensor, cur_grey: torch.Tensor, aligned: torch.Tensor, cover: torch.Tensor,
              blocks: int = BLOCKS) -> torch.Tensor:
    """``(N,)`` bool: the shift that moved ``prev_grey`` to ``aligned`` (grey frames ``(N, H, W)``;
    ``cover`` ``(N, H, W)``: where the moved frame covers) is the camera's: aligning brings the
    pixels of at least :data:`CAMERA_SHARE` of the ``blocks x blocks`` blocks closer, by
    :data:`SUPPORT` of their unaligned difference."""
    before = _block_means((cur_grey - prev_grey).abs() * cover, blocks)
    after = _block_means((cur_grey - aligned).abs() * cover, blocks)                # (N, b, b)
    closer = (after < (1 - SUPPORT) * before).to(before.dtype)
    return closer.mean((1, 2)) >= CAMERA_SHARE


def _camera(prev: FrameFeatures, cur: FrameFeatures, max_shift: float) -> tuple[torch.Tensor, ...]:
    """The camera's shift ``(N, 2)`` (:func:`camera_shift`), and the previous half-size grey frame
    moved by it with its cover ``(N, H', W', 1)`` (for the cut test)."""
    shift = shift_between(prev, cur, max_shift)
    prev_grey = prev.grey.unsqueeze(-1)
    aligned, cover = shift_frames(prev_grey, shift / 2)                                  # half size
    camera = supported(prev.grey, cur.grey, aligned[..., 0], cover[..., 0])            # (N,)
    # where the vote is not the camera's: no shift, the previous frame as it is
    still = ~camera.view(-1, 1, 1, 1)
    return (shift * camera.to(shift.dtype).unsqueeze(-1), torch.where(still, prev_grey, aligned),
            torch.where(still, torch.ones_like(cover), cover))


def camera_shift(prev: FrameFeatures, cur: FrameFeatures, max_shift: float = MAX_SHIFT) -> torch.Tensor:
    """:func:`estimate_shift` from the frames' :func:`frame_features`: the bands' vote
    (:func:`shift_between`), kept where :func:`supported` finds it the camera's; ``(N, 2)``."""
    with torch.no_grad():
        return _camera(prev, cur, max_shift)[0]


def _shifts(prev: FrameFeatures, cur: FrameFeatures, max_shift: float, cuts: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The camera's shift of each pair ``(N, 2)`` and whether to keep its difference ``(N,)``
    (0 across a cut); the half-size grey frame is moved once, for the camera check and the cut
    test both."""
    shift, aligned, cover = _camera(prev, cur, max_shift)
    keep = torch.ones_like(shift[:, 0])
    if cuts:
        keep = (~_cut(prev, cur, aligned, cover)).to(shift.dtype)
    return shift, keep


def _masked(cur: torch.Tensor, moved: torch.Tensor, shift: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``(cur - moved)`` ``(*lead, H, W, C)``, 0 where the moved frame brings in nothing (``shift``
    ``(*lead, 2)``) and where ``keep`` ``(*lead,)`` is 0; the mask applied on ``(H, W C)`` rows
    (C fastest), which is fast."""
    *lead, H, W, C = cur.shape
    cover_x, cover_y = _covers(shift.reshape(-1, 2), H, W)                            # (N, W), (N, H)
    columns = cover_x[:, :, None].expand(-1, W, C).reshape(*lead, 1, W * C)
    rows = (cover_y * keep.reshape(-1, 1)).reshape(*lead, H, 1)
    return ((cur - moved).reshape(*lead, H, W * C) * rows * columns).view(*lead, H, W, C)


def stabilized_difference(prev: torch.Tensor, cur: torch.Tensor, max_shift: float = MAX_SHIFT,
                          cuts: bool = True) -> torch.Tensor:
    """``cur - prev`` of frames ``(N, H, W, C)`` with the camera's shift cancelled.

    The previous frame is moved by :func:`estimate_shift`; the border it does not cover is 0,
    and with ``cuts`` so is the whole difference of a pair that :func:`is_cut` calls a cut.

    Examples:
        >>> cells = torch.rand(1, 12, 18, 3, generator=torch.Generator().manual_seed(0))
        >>> scene = cells.repeat_interleave(5, 1).repeat_interleave(5, 2)     # (1, 60, 90, 3), blocky
        >>> prev, cur = scene[:, :, 20:70], scene[:, :, 17:67]   # the view moved left: the scene right
        >>> estimate_shift(prev, cur).round(decimals=1).abs().tolist()
        [[3.0, 0.0]]
        >>> float((cur - prev).abs().mean()) > 0.2 > 0.01 > float(stabilized_difference(prev, cur).abs().mean())
        True
    """
    with torch.no_grad():
        shift, keep = _shifts(frame_features(prev), frame_features(cur), max_shift, cuts)
        return _masked(cur, _moved(prev, shift.to(prev.dtype)), shift.to(prev.dtype), keep.to(prev.dtype))


def stabilized_differences(clips: torch.Tensor, max_shift: float = MAX_SHIFT, cuts: bool = True) -> torch.Tensor:
    """:func:`stabilized_difference` of consecutive frames of clips ``(B, T, H, W, C)``:
    ``(B, T - 1, H, W, C)``, each frame's features computed once."""
    B, T, H, W, C = clips.shape
    with torch.no_grad():
        features = frame_features(clips.reshape(B * T, H, W, C))
        before = FrameFeatures(*(f.unflatten(0, (B, T))[:, :-1].flatten(0, 1) for f in features))
        after = FrameFeatures(*(f.unflatten(0, (B, T))[:, 1:].flatten(0, 1) for f in features))
        shift, keep = _shifts(before, after, max_shift, cuts)                          # (B (T - 1), 2), (B (T - 1),)
        shift, keep = shift.to(clips.dtype), keep.to(clips.dtype)
        # every frame moved (the last of a clip by nothing): no copy of the clips is made
        padded = torch.cat([shift.view(B, T - 1, 2), shift.new_zeros(B, 1, 2)], 1).flatten(0, 1)
        moved = _moved(clips.reshape(B * T, H, W, C), padded).view(B, T, H, W, C)[:, :-1]
        return _masked(clips[:, 1:], moved, shift.view(B, T - 1, 2), keep.view(B, T - 1))
