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
   side), refined by a parabola through its neighbours. The bands' estimates fall in two
   clusters at most worth trying: the weighted median's (most bands: the camera's when an
   actor or a distractor holds a minority of them) and the others' (the camera's when the
   actor fills half the bands, as a hand before a phone's camera does). Rows likewise: ``(dx,
   dy)`` pixels, ``cur[y, x] ~ prev[y - dy, x - dx]``, so 4 candidate shifts
   (:func:`shift_candidates`). Then the check: a candidate is the camera's only where aligning
   by it brings most of the frame's blocks closer (:func:`closer_share`: an actor over a still,
   dim scene can carry every band's edges, but moves only a few blocks); of those that are,
   the one that brings the most closer wins; where none is, the shift is 0.
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

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

#: Largest shift searched, as a share of the frame's width (columns) and height (rows).
MAX_SHIFT = 0.15
#: Largest horizontal shift a frame is moved by, as a share of its width (:func:`shift_frames`).
MAX_WARP = 0.25
#: Bands of the frame that estimate the shift each and vote (see :func:`estimate_shift`).
STRIPS = 6
#: A shift is the camera's (:func:`camera_shift`) where aligning by it brings the pixels of at least
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
        cells = (pairs[:, :, 0] + pairs[:, :, 1]).view(N, H2, W2, 2 * C)                 # each 2x2 cell's 2C values
        g = cells[..., 0] + cells[..., 1]      # summed value by value: a reduction over 2C values a cell is slower
        for k in range(2, 2 * C):
            g += cells[..., k]
        g /= 4 * C                                                                      # (N, H', W'): 2x2 grey means
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
    # prev[x - s] for s = -S .. S: the windows of prev starting at S - s, a view
    candidates = prev.unfold(1, length - 2 * S, 1).flip(1)                          # (N, 2S+1, L - 2S)
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


def _weighted_median(shifts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` estimates and weights -> ``(N, 1)``: their weighted median."""
    order = shifts.argsort(-1)
    sorted_shifts, sorted_weights = shifts.gather(-1, order), weights.gather(-1, order)
    cumulative = sorted_weights.cumsum(-1)
    index = (cumulative < 0.5 * cumulative[:, -1:]).sum(-1, keepdim=True).clamp(max=shifts.shape[-1] - 1)
    return sorted_shifts.gather(-1, index)


def _clusters(shifts: torch.Tensor, weights: torch.Tensor, tolerance: float = 1.0) -> torch.Tensor:
    """``(N, K)`` estimates and weights -> ``(N, 2)``: the weighted mean of the estimates within
    ``tolerance`` of their weighted median (the majority's motion), and likewise of the others
    (the minority's; the majority's again where there are none). An actor that fills half the
    bands makes the minority the camera's, so both are checked (:func:`closer_share`)."""
    def near(median: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inliers = ((shifts - median).abs() <= tolerance).to(weights.dtype) * mask
        w = inliers * weights
        return (w * shifts).sum(-1) / w.sum(-1).clamp(min=1e-12), inliers

    majority, taken = near(_weighted_median(shifts, weights), torch.ones_like(weights))
    rest = 1 - taken
    minority, others = near(_weighted_median(shifts, weights * rest + 1e-9 * taken), rest)
    return torch.stack([majority, torch.where(others.sum(-1) > 0, minority, majority)], -1)


def shift_candidates(prev: FrameFeatures, cur: FrameFeatures, max_shift: float = MAX_SHIFT) -> torch.Tensor:
    """The bands' candidate shifts from the frames' :func:`frame_features`: ``(N, 4, 2)``
    full-size pixels, the majority's and the minority's ``dx`` (:func:`_clusters` of the
    horizontal bands) each with the majority's and the minority's ``dy``; the first is the
    bands' vote (:func:`shift_between`)."""
    with torch.no_grad():
        N = prev.columns.shape[0]
        axes = []
        for p0, p1 in ((prev.columns, cur.columns), (prev.rows, cur.rows)):
            k, length = p0.shape[1:]
            shift, confidence = _profile_shift(p0.flatten(0, 1), p1.flatten(0, 1), round(max_shift * (length + 2)))
            axes.append(_clusters(shift.view(N, k), confidence.clamp(min=0).view(N, k) + 1e-6))
        dx, dy = axes                                                                    # (N, 2) each
        pairs = torch.stack([dx.repeat_interleave(2, -1), dy.repeat(1, 2)], -1)          # (N, 4, 2)
        return 2 * pairs   # half-size pixels -> pixels


def shift_between(prev: FrameFeatures, cur: FrameFeatures, max_shift: float = MAX_SHIFT) -> torch.Tensor:
    """The bands' vote from the frames' :func:`frame_features`: ``(N, 2)`` full-size pixels, the
    shift most bands agree on in each axis (unchecked; :func:`camera_shift` checks it)."""
    return shift_candidates(prev, cur, max_shift)[:, 0]


def estimate_shift(prev: torch.Tensor, cur: torch.Tensor, max_shift: float = MAX_SHIFT,
                   strips: int = STRIPS) -> torch.Tensor:
    """The camera's shift from ``prev`` to ``cur`` (frames ``(N, H, W, C)``): ``(N, 2)`` as
    ``(dx, dy)`` pixels, ``cur[y, x] ~ prev[y - dy, x - dx]``; at most ``max_shift`` of the
    width and height.

    ``dx`` is estimated in each of ``strips`` horizontal bands of the frame from its column
    edge profile (``dy`` likewise in vertical bands); the bands' estimates, weighted by how
    clearly each found its shift, give two candidates an axis (the majority's and the
    minority's motion, :func:`shift_candidates`), and the candidate that aligns most of the
    frame's blocks is the camera's (:func:`camera_shift`); where none aligns most, the shift
    is 0.
    """
    return camera_shift(frame_features(prev, strips), frame_features(cur, strips), max_shift)


def _covers(shift: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The share of each column ``(N, W)`` and row ``(N, H)`` that a frame moved by ``shift``
    covers: 1 inside, linear over the last pixel, 0 where it brings in nothing."""
    xs = torch.arange(width, dtype=shift.dtype, device=shift.device) - shift[:, :1]     # (N, W)
    ys = torch.arange(height, dtype=shift.dtype, device=shift.device) - shift[:, 1:]    # (N, H)
    return (xs + 1).clamp(0, 1) * (width - xs).clamp(0, 1), (ys + 1).clamp(0, 1) * (height - ys).clamp(0, 1)


def _windows(x: torch.Tensor, start: torch.Tensor, length: int) -> torch.Tensor:
    """``x[n, ..., start[n]:start[n] + length]`` of ``x`` ``(N, ..., L)`` for every ``n``: a new
    ``(N, ..., length)``. Eagerly from a view of all windows (no index tensor of the output's
    size); in an exported graph by one gather (the view would be exported as every window)."""
    if torch.compiler.is_exporting():
        index = start.view(-1, *[1] * (x.dim() - 1)) + torch.arange(length, device=x.device)
        return x.gather(-1, index.expand(*x.shape[:-1], length))
    batch = torch.arange(x.shape[0], device=x.device)
    return x.unfold(-1, length, 1)[(batch, *[slice(None)] * (x.dim() - 2), start)]


def _rows_and_columns(frames: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """:func:`_moved` without a sampling grid: ``(N, H, W, C)``, the form exported to ONNX.

    A translation moves whole rows and then whole columns: the rows by gathering each output
    row's two source rows, the columns by taking each frame's window of its edge-padded rows.
    onnxruntime runs it several times faster than ONNX's ``GridSample``; PyTorch runs
    :func:`_translated` faster still.
    """
    N, H, W, C = frames.shape
    P = math.ceil(MAX_WARP * W) + 2                                                     # padding columns
    batch = torch.arange(N, device=frames.device)
    # rows: out[y] = (1 - a) in[y - f] + a in[y - f - 1], f = floor(dy), a = dy - f (edge rows repeated)
    f = torch.floor(shift[:, 1])
    rows = (torch.arange(-1, H, device=frames.device) - f.long()[:, None]).clamp(0, H - 1) + H * batch[:, None]
    pairs = frames.reshape(N * H, W * C).index_select(0, rows.flatten()).view(N, H + 1, W * C)
    moved = torch.lerp(pairs[:, 1:], pairs[:, :-1], (shift[:, 1] - f).view(N, 1, 1)).view(N, H, W, C)
    # columns likewise, from the window of P edge-repeated columns each side that starts at P - 1 - f
    f = torch.floor(shift[:, 0])
    padded = torch.cat([moved[:, :, :1].expand(N, H, P, C), moved, moved[:, :, -1:].expand(N, H, P, C)], 2)
    pairs = _windows(padded.view(N, H, (W + 2 * P) * C), (P - 1 - f.long()) * C, (W + 1) * C)   # (N, H, (W + 1) C)
    return torch.lerp(pairs[..., C:], pairs[..., :-C], (shift[:, 0] - f).view(N, 1, 1)).view(N, H, W, C)


def _translated(source: torch.Tensor, which: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """:func:`_moved` eagerly: the frames ``source[which]`` (``source`` ``(M, H, W, C)``, ``which``
    ``(N,)``) each moved by its ``shift`` ``(N, 2)``, a new ``(N, H, W, C)``.

    Each output pixel mixes the same four offsets of its frame (bilinear), so each frame's
    ``(H + 1) x (W + 1)`` source window (indices clamped to the frame: the edge pixels
    repeated) is gathered, its rows whole and then its columns, and two lerps mix them: a few
    passes over the frames, where ``grid_sample`` reads a sampling grid of twice the frames'
    pixels and works out every pixel's weights from it. ``which`` picks the frames without a
    copy of them (a clip's frames but its last; each frame once per candidate shift).
    """
    M, H, W, C = source.shape
    N = which.shape[0]
    whole = torch.floor(shift)
    frac = (shift - whole).to(source.dtype)
    whole = whole.long()
    # out[y, x] = (1 - b) ((1 - a) in[y - fy, x - fx] + a in[y - fy, x - fx - 1]) + b (the same a row up)
    rows = (torch.arange(-1, H, device=source.device) - whole[:, 1:]).clamp_(0, H - 1) + H * which[:, None]
    window = source.reshape(M * H, W * C).index_select(0, rows.flatten()).view(N, H + 1, W * C)
    cols = (torch.arange(-1, W, device=source.device) - whole[:, :1]).clamp_(0, W - 1)             # (N, W + 1)
    cols = (cols.unsqueeze(-1) * C + torch.arange(C, device=source.device)).view(N, 1, (W + 1) * C)
    window = window.gather(2, cols.expand(N, H + 1, (W + 1) * C))                                  # (N, H + 1, (W + 1) C)
    rows_moved = torch.lerp(window[:, 1:], window[:, :-1], frac[:, 1].view(N, 1, 1))               # (N, H, (W + 1) C)
    return torch.lerp(rows_moved[..., C:], rows_moved[..., :-C], frac[:, 0].view(N, 1, 1)).view(N, H, W, C)


def _moved(source: torch.Tensor, shift: torch.Tensor, which: torch.Tensor | None = None) -> torch.Tensor:
    """The frames ``source[which]`` (``source`` ``(M, H, W, C)``; all of them, in order, without
    ``which``) moved by ``shift`` ``(N, 2)`` (bilinear, the edge pixels repeated beyond the
    frame), as a new ``(N, H, W, C)``: eagerly by :func:`_translated`; in an exported graph by
    :func:`_rows_and_columns`, the form measured in onnxruntime. ``dx`` is clamped to
    :data:`MAX_WARP` of the width (as far as the exported form pads)."""
    M, H, W, C = source.shape
    limit = math.ceil(MAX_WARP * W) + 1
    shift = torch.stack([shift[:, 0].clamp(-limit, limit), shift[:, 1]], -1).to(source.dtype)
    if torch.compiler.is_exporting():
        return _rows_and_columns(source if which is None else source.index_select(0, which), shift)
    return _translated(source, torch.arange(M, device=source.device) if which is None else which, shift)


def shift_frames(frames: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``frames`` ``(N, H, W, C)`` moved by ``shift`` ``(N, 2)`` = ``(dx, dy)`` pixels (bilinear,
    the edge pixels repeated beyond the frame): ``out[y, x] = frames[y - dy, x - dx]``, ``dx``
    clamped to :data:`MAX_WARP` of the width. Returns it and the share ``(N, H, W, 1)`` of each
    pixel that the frame covers (0 where it brings in nothing)."""
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
    u = (pair - low) / (high - low + 1e-6) * bins                                      # (N, 2, C, P) in [0, bins)
    if torch.compiler.is_exporting():   # ONNX: the share below each bin's upper edge, by comparison
        edges = torch.arange(1, bins, dtype=pair.dtype, device=pair.device).unsqueeze(-1)  # (bins - 1, 1)
        cumulative = (u.unsqueeze(-2) < edges).to(pair.dtype).mean(-1)                     # (N, 2, C, bins - 1)
    else:   # the same shares from the bins' counts (u < k exactly where floor(u) < k)
        index = u.floor().clamp_(0, bins - 1).long()
        counts = torch.zeros(*u.shape[:-1], bins, dtype=pair.dtype, device=pair.device)
        counts.scatter_add_(-1, index, torch.ones_like(u))
        cumulative = counts.cumsum(-1)[..., :-1] / u.shape[-1]
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
    return F.avg_pool2d(x.unsqueeze(1), (H // blocks, W // blocks))[:, 0]


def closer_share(prev_grey: torch.Tensor, cur_grey: torch.Tensor, aligned: torch.Tensor, cover: torch.Tensor,
                 blocks: int = BLOCKS) -> torch.Tensor:
    """``(*lead,)``: the share of the ``blocks x blocks`` blocks whose pixels moving ``prev_grey``
    to ``aligned`` brings closer to ``cur_grey``, by :data:`SUPPORT` of their unaligned
    difference (grey frames and ``cover``, where the moved frame covers, broadcast to
    ``(*lead, H, W)``)."""
    before = (cur_grey - prev_grey).abs() * cover
    after = (cur_grey - aligned).abs() * cover
    lead = after.shape[:-2]
    before, after = (_block_means(x.expand(after.shape).flatten(0, -3), blocks) for x in (before, after))
    return (after < (1 - SUPPORT) * before).to(before.dtype).mean((1, 2)).view(lead)


def _camera(prev: FrameFeatures, cur: FrameFeatures, max_shift: float) -> tuple[torch.Tensor, ...]:
    """The camera's shift ``(N, 2)`` (:func:`camera_shift`), and the previous half-size grey frame
    moved by it with its cover ``(N, H', W', 1)`` (for the cut test)."""
    candidates = shift_candidates(prev, cur, max_shift)                                 # (N, K, 2)
    N, K, _ = candidates.shape
    # each candidate checked on the half-size grey frames (on quarter-size ones, where sensor noise is
    # averaged away, the actor's motion passes the check more often)
    grey, h, w = prev.grey, *prev.grey.shape[1:]
    half = candidates.to(grey.dtype).flatten(0, 1) / 2                                  # (N K, 2)
    moved = _moved(grey.unsqueeze(-1), half, torch.arange(N, device=grey.device).repeat_interleave(K))
    cover_x, cover_y = _covers(half, h, w)                                              # (N K, w), (N K, h)
    share = _closer_share_separable(grey, cur.grey, moved.view(N, K, h, w), cover_x.view(N, K, w),
                                    cover_y.view(N, K, h))                              # (N, K)
    # the candidate that brings the most blocks closer (ties: the majority's), if it is the camera's
    best = share.argmax(-1)                                                               # (N,)
    camera = share.gather(1, best[:, None]) >= CAMERA_SHARE                             # (N, 1)
    pick = best + K * torch.arange(N, device=best.device)                                # (N,) of N K
    shift = candidates.flatten(0, 1)[pick] * camera.to(candidates.dtype)
    # the previous half-size grey frame moved by it (by nothing where no candidate is the camera's)
    still = ~camera.view(N, 1, 1, 1)
    cover = (cover_y[pick, :, None] * cover_x[pick, None, :]).unsqueeze(-1)             # (N, h, w, 1)
    return shift, torch.where(still, grey.unsqueeze(-1), moved[pick]), torch.where(still, torch.ones_like(cover), cover)


def _closer_share_separable(prev_grey: torch.Tensor, cur_grey: torch.Tensor, moved: torch.Tensor,
                            cover_x: torch.Tensor, cover_y: torch.Tensor, blocks: int = BLOCKS) -> torch.Tensor:
    """:func:`closer_share` of ``K`` moved frames ``(N, K, h, w)`` each, their cover given by its
    columns ``(N, K, w)`` and rows ``(N, K, h)``: ``(N, K)``. The cover is a product of the two, so
    a block's covered sum is ``rows^T |d| columns`` over the block: two small matrix products
    instead of a cover mask and a block pooling over every candidate's frame."""
    N, K, h, w = moved.shape
    bh, bw = h // blocks, w // blocks
    # (w, blocks) and (h, blocks): which block each column and row falls in (the remainder in none)
    in_x = (torch.arange(w, device=moved.device)[:, None] // bw == torch.arange(blocks, device=moved.device)).to(moved.dtype)
    in_y = (torch.arange(h, device=moved.device)[:, None] // bh == torch.arange(blocks, device=moved.device)).to(moved.dtype)
    columns = cover_x.unsqueeze(-1) * in_x                                              # (N, K, w, blocks)
    rows = (cover_y.unsqueeze(-1) * in_y).transpose(-1, -2)                             # (N, K, blocks, h)
    after = rows @ ((cur_grey.unsqueeze(1) - moved).abs_() @ columns)                   # (N, K, blocks, blocks)
    plain = (cur_grey - prev_grey).abs()                                                # (N, h, w)
    before = rows @ (plain @ columns.transpose(1, 2).reshape(N, w, K * blocks)).view(N, h, K, blocks).transpose(1, 2)
    return (after < (1 - SUPPORT) * before).to(moved.dtype).mean((2, 3))


def camera_shift(prev: FrameFeatures, cur: FrameFeatures, max_shift: float = MAX_SHIFT) -> torch.Tensor:
    """:func:`estimate_shift` from the frames' :func:`frame_features`: of the bands' candidates
    (:func:`shift_candidates`), the one that brings the most of the frame's blocks closer, if it
    brings at least :data:`CAMERA_SHARE` of them closer (:func:`closer_share`), else 0; ``(N, 2)``."""
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
    """``cur - moved`` ``(*lead, H, W, C)`` (``cur`` may be a view: a clip's frames but its first),
    0 where the moved frame brings in nothing (``shift`` ``(*lead, 2)``) and where ``keep``
    ``(*lead,)`` is 0. Eagerly ``moved`` (:func:`_moved`'s new tensor, of as many frames) is
    overwritten: each new tensor of a clip's size costs more to allocate than to compute."""
    *lead, H, W, C = cur.shape
    cover_x, cover_y = _covers(shift.reshape(-1, 2), H, W)                            # (N, W), (N, H)
    rows = (cover_y * keep.reshape(-1, 1)).view(*lead, H, 1)
    columns = cover_x.repeat_interleave(C, -1).view(*lead, 1, W * C)
    cur = cur.reshape(*lead, H, W * C)          # a view: each frame's rows of W C values are contiguous
    if torch.compiler.is_exporting():   # functional: the exporter's decompositions mistake out='s strides
        return ((cur - moved.reshape(*lead, H, W * C)) * rows * columns).view(*lead, H, W, C)
    difference = moved.view(*lead, H, W * C)
    return torch.sub(cur, difference, out=difference).mul_(rows).mul_(columns).view(*lead, H, W, C)


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
        return _masked(cur, _moved(prev, shift), shift.to(prev.dtype), keep.to(prev.dtype))


def stabilized_differences(clips: torch.Tensor, max_shift: float = MAX_SHIFT, cuts: bool = True) -> torch.Tensor:
    """:func:`stabilized_difference` of consecutive frames of clips ``(B, T, H, W, C)``:
    ``(B, T - 1, H, W, C)``, each frame's features computed once. On the CPU, where most pairs
    are unmoved (a still camera), their plain differences are taken and only the others moved."""
    B, T, H, W, C = clips.shape
    with torch.no_grad():
        features = frame_features(clips.reshape(B * T, H, W, C))
        before = FrameFeatures(*(f.unflatten(0, (B, T))[:, :-1].flatten(0, 1) for f in features))
        after = FrameFeatures(*(f.unflatten(0, (B, T))[:, 1:].flatten(0, 1) for f in features))
        shift, keep = _shifts(before, after, max_shift, cuts)                          # (B (T - 1), 2), (B (T - 1),)
        shift, keep = shift.to(clips.dtype), keep.to(clips.dtype)
        # the frames but each clip's last, moved, picked from the clips without a copy of them
        source = clips.reshape(B * T, H, W, C)
        which = (torch.arange(B, device=clips.device)[:, None] * T + torch.arange(T - 1, device=clips.device)).flatten()
        moving = shift.ne(0).any(-1)                                                   # (B (T - 1),)
        # on an accelerator every pair is moved (counting them would wait for the device)
        if torch.compiler.is_exporting() or clips.device.type != "cpu" or 2 * int(moving.sum()) > moving.numel():
            moved = _moved(source, shift, which)                                       # (B (T - 1), H, W, C)
            return _masked(clips[:, 1:], moved, shift.view(B, T - 1, 2), keep.view(B, T - 1))
        # most pairs unmoved (a still camera): their plain differences, and only the others moved
        difference = clips[:, 1:] - clips[:, :-1]                                      # (B, T - 1, H, W, C)
        if not bool(keep.all()):
            difference.mul_(keep.view(B, T - 1, 1, 1, 1))
        index = moving.nonzero()[:, 0]
        if index.numel():
            moved = _moved(source, shift[index], which[index])
            difference.view(-1, H, W, C)[index] = _masked(source.index_select(0, which[index] + 1), moved,
                                                          shift[index], keep[index])
        return difference
