"""Camera-motion compensation: the estimator on frames of a known shift, the stabilised
difference, cuts, and the model's stabilised input in forward, step and the exported graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import assert_streamed_equals_clips
from tensorrnn.nn.motion import (estimate_shift, frame_features, histogram_distance, is_cut, shift_between,
                                 shift_frames, stabilized_difference, stabilized_differences)
from tensorrnn.nn import motion
from tensorrnn.train.module import VideoClassifier

H, W = 120, 160


def scene(seed: int, height: int = 200, width: int = 260) -> torch.Tensor:
    """A textured scene ``(3, height, width)`` in [0, 255]: random colour cells of a few sizes."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(3, height, width)
    for cells, weight in ((6, 0.5), (14, 0.3), (30, 0.2)):
        grid = torch.rand(1, 3, cells, cells, generator=g)
        out += weight * F.interpolate(grid, size=(height, width), mode="nearest")[0]
    return 255 * out


def view(background: torch.Tensor, x0: float, y0: float) -> torch.Tensor:
    """The ``(H, W, 3)`` view of ``background`` whose top-left pixel centre is at ``(x0, y0)``
    (sub-pixel: bilinear)."""
    _, height, width = background.shape
    xs, ys = torch.arange(W) + x0, torch.arange(H) + y0
    grid = torch.stack([((2 * xs + 1) / width - 1)[None].expand(H, W), ((2 * ys + 1) / height - 1)[:, None]
                        .expand(H, W)], -1)
    return F.grid_sample(background[None], grid[None], align_corners=False)[0].permute(1, 2, 0)


def disc(frame: torch.Tensor, cx: float, cy: float, radius: float = 12.0) -> torch.Tensor:
    """A striped red disc pasted at ``(cx, cy)``: a distractor with a motion of its own."""
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    inside = ((xx - cx) ** 2 + (yy - cy) ** 2) <= radius ** 2
    stripes = ((xx // 4) % 2)[..., None] * torch.tensor([220.0, 20, 20]) + 30
    return torch.where(inside[..., None], stripes, frame)


def pair(seed: int, dx: float, dy: float, distractor: bool = True, noise: float = 8.0):
    """Two frames of one scene, the camera moved so that ``cur[y, x] = prev[y - dy, x - dx]``,
    scaled as ``unit`` (x / 128 - 1), with sensor noise and a distractor moving its own way."""
    g = torch.Generator().manual_seed(seed + 1)
    background = scene(seed)
    prev, cur = view(background, 50, 40), view(background, 50 - dx, 40 - dy)
    if distractor:
        prev, cur = disc(prev, 60, 50), disc(cur, 75, 58)
    prev = prev + noise * (2 * torch.rand(prev.shape, generator=g) - 1)
    cur = cur + noise * (2 * torch.rand(cur.shape, generator=g) - 1)
    return prev[None] / 128 - 1, cur[None] / 128 - 1


@pytest.mark.parametrize("seed", range(6))
def test_known_shifts_are_recovered_within_half_a_pixel_with_a_distractor(seed):
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-15, 15), rng.uniform(-10, 10)
    prev, cur = pair(seed, dx, dy)
    (ex, ey), = estimate_shift(prev, cur).tolist()
    assert abs(ex - dx) < 0.5 and abs(ey - dy) < 0.5, (ex, ey, dx, dy)
    # batched: each pair its own shift, the same answers
    prev2, cur2 = pair(seed + 10, -dy, dx)
    both = estimate_shift(torch.cat([prev, prev2]), torch.cat([cur, cur2]))
    torch.testing.assert_close(both[0], torch.tensor([ex, ey]), rtol=0, atol=1e-5)
    assert (both[1] - torch.tensor([-dy, dx])).abs().max() < 0.5


def test_no_motion_is_the_identity():
    prev, _ = pair(3, 0, 0, distractor=False, noise=0)
    assert estimate_shift(prev, prev).abs().max() == 0
    moved, cover = shift_frames(prev, torch.zeros(1, 2))
    torch.testing.assert_close(moved, prev, rtol=0, atol=1e-5)       # bilinear at the pixel centres
    assert bool((cover == 1).all())
    assert stabilized_difference(prev, prev).abs().max() < 1e-5
    # with fresh sensor noise in each frame the estimate stays near zero
    prev, cur = pair(4, 0, 0, distractor=False)
    assert estimate_shift(prev, cur).abs().max() < 0.25


def test_an_actor_over_a_still_flat_scene_is_not_taken_for_the_camera():
    # a tall actor carries every band's edges, so the bands agree on its motion; aligning by it
    # brings only its own blocks closer, so it is not the camera's and nothing is cancelled
    g = torch.Generator().manual_seed(0)
    frames = torch.full((2, H, W, 3), 60.0) + 4 * torch.rand(2, H, W, 3, generator=g)
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    look = (((xs // 6) + (ys // 6)) % 2).unsqueeze(-1) * torch.tensor([180.0, 200, 60]) + 30
    for t, x0 in enumerate((60, 65)):
        inside = (xs >= x0) & (xs < x0 + W // 5) & (ys >= 10) & (ys < H - 10)
        frames[t][inside] = look[inside]
    prev, cur = frames[:1] / 128 - 1, frames[1:] / 128 - 1
    votes = shift_between(frame_features(prev), frame_features(cur))
    assert float(votes[0, 0]) > 4                                # the bands alone follow the actor (5 px)
    assert estimate_shift(prev, cur).abs().max() == 0
    torch.testing.assert_close(stabilized_difference(prev, cur), cur - prev, rtol=0, atol=1e-5)


def actor(frame: torch.Tensor, x0: int, y0: int, width: int, height: int) -> torch.Tensor:
    """A bright checkerboard ``width x height`` pasted at ``(x0, y0)`` into a scaled frame ``(H, W, 3)``."""
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    look = (((xs - x0) // 6 + (ys - y0) // 6) % 2).unsqueeze(-1) * torch.tensor([200.0, 230, 60]) + 20
    inside = (xs >= x0) & (xs < x0 + width) & (ys >= y0) & (ys < y0 + height)
    return torch.where(inside[..., None], look / 128 - 1, frame)


def test_an_actor_across_most_bands_under_a_pan_leaves_the_camera_to_the_blocks():
    # a tall, narrow actor crosses 4 of the 6 horizontal bands, moving 12 px right while the camera
    # moves the scene 6: most bands follow the actor, but the camera's shift (the minority's)
    # brings more of the frame's blocks closer, and is the one cancelled
    found, followed = 0, 0
    for seed in range(8):
        prev, cur = pair(seed, 6.0, -4.0, distractor=False)
        prev, cur = actor(prev[0], 84, 20, 24, 84)[None], actor(cur[0], 96, 16, 24, 84)[None]
        votes = shift_between(frame_features(prev), frame_features(cur))
        followed += abs(float(votes[0, 0]) - 12) < 0.5
        (ex, ey), = estimate_shift(prev, cur).tolist()
        found += abs(ex - 6) < 0.5 and abs(ey + 4) < 0.5
    assert followed >= 4 and found >= 7, (followed, found)


def test_an_actor_across_half_the_bands_under_a_pan_does_not_stop_the_camera_being_cancelled():
    # the actor holds 3 of the 6 horizontal bands: no 2 in 3 of them agree, yet the camera's shift
    # is the majority's and brings most blocks closer
    found = 0
    for seed in range(8):
        prev, cur = pair(seed, 6.0, -4.0, distractor=False)
        prev, cur = actor(prev[0], 44, 30, 36, 60)[None], actor(cur[0], 56, 26, 36, 60)[None]
        (ex, ey), = estimate_shift(prev, cur).tolist()
        found += abs(ex - 6) < 0.5 and abs(ey + 4) < 0.5
    assert found >= 6, found


def test_the_stabilised_difference_of_a_pure_pan_is_near_zero_away_from_the_borders():
    prev, cur = pair(5, 7.0, -4.0, distractor=False, noise=0)
    plain = (cur - prev).abs()[:, 12:-12, 12:-12].mean()
    stable = stabilized_difference(prev, cur)
    inner = stable.abs()[:, 12:-12, 12:-12]
    assert inner.mean() < 0.02 * plain and inner.max() < 0.15    # a tenth of a pixel at the sharpest edges
    # the border the camera brought into view (7 columns on the left, 4 rows at the bottom) is 0
    # (to within the estimate's fraction of a pixel)
    assert stable[:, :, :6].abs().max() == 0 and stable[:, -3:].abs().max() == 0


def test_shift_frames_moves_by_whole_and_fractional_pixels():
    frames = torch.rand(1, H, W, 3, dtype=torch.float64)
    moved, cover = shift_frames(frames, torch.tensor([[3.0, -2.0]], dtype=torch.float64))
    torch.testing.assert_close(moved[0, :-2, 3:], frames[0, 2:, :-3])          # out[y, x] = in[y + 2, x - 3]
    assert cover[0, :, :3].abs().max() == 0 and cover[0, -2:].abs().max() == 0 and cover[0, 5, 5, 0] == 1
    half, _ = shift_frames(frames, torch.tensor([[0.5, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(half[0, :, 1:], 0.5 * (frames[0, :, 1:] + frames[0, :, :-1]))


def bilinear(frames: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``frames`` ``(N, H, W, C)`` moved by ``shift`` ``(N, 2)`` by ``grid_sample`` (bilinear, the
    edge pixels repeated): the reference for both forms of the move."""
    N, height, width, _ = frames.shape
    xs = ((2 * torch.arange(width, dtype=frames.dtype) + 1) - 2 * shift[:, :1]) / width - 1     # (N, W)
    ys = ((2 * torch.arange(height, dtype=frames.dtype) + 1) - 2 * shift[:, 1:]) / height - 1   # (N, H)
    grid = torch.stack([xs[:, None, :].expand(N, height, width), ys[:, :, None].expand(N, height, width)], -1)
    return F.grid_sample(frames.permute(0, 3, 1, 2), grid, mode="bilinear", padding_mode="border",
                         align_corners=False).permute(0, 2, 3, 1)


def test_both_forms_of_the_move_equal_grid_sample_in_float64():
    # PyTorch moves frames by one gather of each frame's source window, exported graphs by row and
    # column gathers; both are grid_sample's bilinear move with the edge pixels repeated
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(5, 30, 40, 3, generator=g, dtype=torch.float64)
    shift = torch.tensor([[0.0, 0.0], [3.25, -2.5], [-7.75, 4.0], [0.5, 29.5], [-10.4, -0.3]], dtype=torch.float64)
    moved, _ = shift_frames(frames, shift)
    torch.testing.assert_close(moved, bilinear(frames, shift), rtol=0, atol=1e-12)
    torch.testing.assert_close(motion._rows_and_columns(frames, shift), bilinear(frames, shift), rtol=0, atol=1e-12)
    # frames picked by index, each moved by its own shift (as a clip's frames but its last are)
    picked = motion._translated(frames, torch.tensor([4, 1, 4]), shift[[2, 3, 1]])
    torch.testing.assert_close(picked, bilinear(frames[[4, 1, 4]], shift[[2, 3, 1]]), rtol=0, atol=1e-12)


def test_the_colour_histograms_distance_is_the_same_counted_or_compared(monkeypatch):
    # PyTorch counts each pixel's bin; the exported graph compares every pixel with every bin's edge
    g = torch.Generator().manual_seed(1)
    prev = torch.rand(6, 15, 20, 3, generator=g, dtype=torch.float64) * 2 - 1
    cur = torch.rand(6, 15, 20, 3, generator=g, dtype=torch.float64) ** 3
    counted = histogram_distance(prev, cur)
    monkeypatch.setattr(torch.compiler, "is_exporting", lambda: True)
    torch.testing.assert_close(histogram_distance(prev, cur), counted, rtol=0, atol=1e-12)
    assert float(histogram_distance(prev, prev).abs().max()) == 0 and float(counted.min()) > 0.5


def test_a_cut_is_told_from_camera_motion_and_zeroes_the_difference():
    prev, cur = pair(6, 9.0, 3.0)                    # one scene, a pan and a distractor
    other = pair(7, 0.0, 0.0)[1]                     # another scene: a cut
    frames_a, frames_b = torch.cat([prev, prev]), torch.cat([cur, other])
    before, after = frame_features(frames_a), frame_features(frames_b)
    assert is_cut(before, after, shift_between(before, after)).tolist() == [False, True]
    hist = histogram_distance(frames_a, frames_b)
    assert hist[0] < 0.3 < 0.6 < hist[1]
    stable = stabilized_difference(frames_a, frames_b)
    assert stable[1].abs().max() == 0 and stable[0].abs().max() > 0.5      # the distractor moved
    assert stabilized_difference(frames_a, frames_b, cuts=False)[1].abs().max() > 0.5


# --- in the model ------------------------------------------------------------------------------

def small_model(**kwargs) -> VideoClassifier:
    torch.manual_seed(0)
    return VideoClassifier("gru", "tt", [8, 8, 12, 12], [2, 2, 2, 2], rank=2, num_classes=3, input_dropout=0.0,
                           dropout=0.0, stabilize=True, **kwargs).double().eval()


def panning_clip(batch: int = 2, frames: int = 5) -> torch.Tensor:
    """``(B, T, 48, 64, 3)`` float64: views of a smooth scene drifting 1-2 px a frame, with noise."""
    g = torch.Generator().manual_seed(0)
    cells = torch.rand(batch, 3, 12, 16, generator=g, dtype=torch.float64)
    background = F.interpolate(cells, size=(70, 90), mode="bilinear", align_corners=False)
    clips = [background[:, :, 8 + t:56 + t, 10 + 2 * t:74 + 2 * t] for t in range(frames)]
    x = torch.stack(clips, 1).permute(0, 1, 3, 4, 2)
    return x + 0.01 * torch.rand(x.shape, generator=g, dtype=torch.float64)


def test_clips_and_pairs_give_the_same_stabilised_differences():
    x = panning_clip(batch=3, frames=4)
    pairs = torch.stack([stabilized_difference(x[:, t], x[:, t + 1]) for t in range(3)], 1)
    torch.testing.assert_close(stabilized_differences(x), pairs, rtol=0, atol=1e-12)


def test_a_batch_of_mostly_still_clips_moves_only_its_panning_pairs():
    # where most pairs are unmoved the clips' differences are taken plainly and only the moved
    # pairs stabilised: each pair as it is alone, a cut's difference 0
    pan = panning_clip(batch=1, frames=4)
    still = pan[:, :1].expand(3, 4, *pan.shape[2:]).clone()
    still = still + 0.01 * torch.rand(still.shape, generator=torch.Generator().manual_seed(1), dtype=still.dtype)
    still[2, 2:] = still[2, 2:].flip(1, 2) * -1                          # a cut between frames 1 and 2
    x = torch.cat([still, pan])                                          # 3 of 12 pairs moved
    shifts = torch.stack([estimate_shift(x[:, t], x[:, t + 1]) for t in range(3)], 1)
    assert int(shifts.ne(0).any(-1).sum()) == 3 and bool(shifts[3].ne(0).any(-1).all())
    pairs = torch.stack([stabilized_difference(x[:, t], x[:, t + 1]) for t in range(3)], 1)
    stable = stabilized_differences(x)
    torch.testing.assert_close(stable, pairs, rtol=0, atol=1e-12)
    torch.testing.assert_close(stable[:2], x[:2, 1:] - x[:2, :-1], rtol=0, atol=0)
    assert stable[2, 1].abs().max() == 0 and stable[2, 0].abs().max() > 0


def test_the_model_reads_stabilised_differences_and_its_step_equals_forward_in_float64():
    model = small_model()
    x = panning_clip()
    with torch.no_grad():
        steps = model.steps(x)
        plain = (x[:, 1:] - x[:, :-1]).abs().mean()
        assert steps.shape == (2, 4, 48, 64, 3) and steps.abs().mean() < 0.2 * plain
    assert_streamed_equals_clips(model, x)


def test_stabilize_needs_frame_differences_and_frames():
    with pytest.raises(ValueError, match=r"^model.stabilize=True with model.frame_diff=False"):
        VideoClassifier("gru", "tt", [4, 6, 8, 6], [2, 2, 2, 2], rank=2, num_classes=3, frame_diff=False,
                        stabilize=True)
    with pytest.raises(ValueError, match=r"^model.stabilize='yes': expected true or false"):
        VideoClassifier("gru", "tt", [4, 6, 8, 6], [2, 2, 2, 2], rank=2, num_classes=3, stabilize="yes")
    model = VideoClassifier("gru", "tt", [4, 4, 8], [2, 2, 2], rank=2, num_classes=3, stabilize=True)
    with pytest.raises(ValueError, match=r"model.stabilize needs video frames"):
        model(torch.randn(2, 4, 128))


def test_the_exported_graphs_stabilise_as_pytorch_does(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from tensorrnn.deploy.graphs import ClipGraph, StepGraph, exportable, state_names

    model = small_model().float()
    frames = (panning_clip().float() * 255).clamp(0, 255).to(torch.uint8)            # (2, 5, 16, 24, 3)
    with exportable(model):
        clip, step = ClipGraph(model, "unit"), StepGraph(model, "unit")
        expected = clip(frames)
        state = model.init_state(2)
        torch.onnx.export(clip, (frames,), str(tmp_path / "clip.onnx"), dynamo=True,
                          dynamic_shapes=({0: torch.export.Dim("batch", max=64), 1: torch.export.Dim("time", min=2,
                                                                                                     max=64)},))
        torch.onnx.export(step, (frames[:, 0], *state), str(tmp_path / "step.onnx"), dynamo=True)
    run = onnxruntime.InferenceSession(str(tmp_path / "clip.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(run.run(None, {run.get_inputs()[0].name: frames.numpy()})[0], expected.numpy(),
                               rtol=0, atol=1e-4)
    stepper = onnxruntime.InferenceSession(str(tmp_path / "step.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in stepper.get_inputs()]
    values = [s.numpy() for s in state]
    for t in range(5):
        probs, *values = stepper.run(None, dict(zip(names, [frames[:, t].numpy(), *values])))
    assert len(values) == len(state_names(model))
    np.testing.assert_allclose(probs, expected.numpy(), rtol=0, atol=1e-4)
    assert expected.std() > 1e-3


def test_the_blocks_check_taken_separably_equals_closer_share_in_float64():
    # the candidate check sums each block's covered residual as rows^T |d| columns: the share of
    # blocks it brings closer is closer_share's, with the cover as a full mask and block means
    g = torch.Generator().manual_seed(2)
    N, K, h, w = 5, 4, 62, 83                         # remainder rows and columns outside every block
    prev = torch.rand(N, h, w, generator=g, dtype=torch.float64)
    cur = prev + 0.3 * torch.rand(N, h, w, generator=g, dtype=torch.float64)
    noise = torch.rand(N, K, h, w, generator=g, dtype=torch.float64)
    # two candidates near the current frame (closer in most blocks), two far from both (in few)
    moved = torch.cat([cur.unsqueeze(1) + 0.2 * noise[:, :2], prev.unsqueeze(1) + 0.6 * noise[:, 2:]], 1)
    cover_x = torch.rand(N, K, w, generator=g, dtype=torch.float64).round()
    cover_y = torch.rand(N, K, h, generator=g, dtype=torch.float64).clamp(min=0.2)
    reference = motion.closer_share(prev.unsqueeze(1), cur.unsqueeze(1), moved,
                                    cover_y.unsqueeze(-1) * cover_x.unsqueeze(-2))
    share = motion._closer_share_separable(prev, cur, moved.clone(), cover_x, cover_y)
    torch.testing.assert_close(share, reference, rtol=0, atol=0)
    assert float(share[:, :2].min()) > 0.5 > float(share[:, 2:].max())   # a check that goes either way
