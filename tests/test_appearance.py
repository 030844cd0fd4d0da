"""``model.appearance``: each step reads the frame beside its (stabilised) difference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_streamed_equals_clips, streamed_step_graph
from tensorrnn.nn.motion import stabilized_differences
from tensorrnn.train.module import VideoClassifier

SHAPE = [8, 8, 12, 12]   # 48 * 64 * 3: one frame; the network reads [8, 8, 12, 24], a frame and its difference


def model(**kwargs) -> VideoClassifier:
    torch.manual_seed(0)
    return VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, input_dropout=0.0, dropout=0.0,
                           appearance=True, **kwargs).double().eval()


def clip(batch: int = 2, frames: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    cells = torch.rand(batch, 3, 12, 16, generator=g, dtype=torch.float64)
    scene = torch.nn.functional.interpolate(cells, size=(70, 90), mode="bilinear", align_corners=False)
    x = torch.stack([scene[:, :, 8 + t:56 + t, 10 + 2 * t:74 + 2 * t] for t in range(frames)], 1)
    return x.permute(0, 1, 3, 4, 2).contiguous()                                   # (B, T, 48, 64, 3), panning


@pytest.mark.parametrize("stabilize", [False, True])
def test_each_step_is_the_frame_beside_its_difference(stabilize):
    m, x = model(stabilize=stabilize), clip()
    diff = stabilized_differences(x) if stabilize else x[:, 1:] - x[:, :-1]
    steps = m.steps(x)
    assert steps.shape == (2, 4, 48, 64, 6) and m.in_features == 48 * 64 * 3 and m.step_shape == (8, 8, 12, 24)
    assert m.net.rnn.input_size == 2 * 48 * 64 * 3
    torch.testing.assert_close(steps[..., :3], x[:, 1:], rtol=0, atol=0)
    torch.testing.assert_close(steps[..., 3:], diff, rtol=0, atol=0)
    # the network's input row is C fastest: pixel (0, 1) holds its colour, then its difference
    row = steps.reshape(2, 4, -1)
    torch.testing.assert_close(row[0, 0, 6:12], torch.cat([x[0, 1, 0, 1], diff[0, 0, 0, 1]]), rtol=0, atol=0)


@pytest.mark.parametrize("stabilize", [False, True])
def test_step_equals_forward_in_float64(stabilize):
    m = model(stabilize=stabilize)
    assert m.init_state(2)[0].shape == (2, 48 * 64 * 3)                              # the previous frame
    assert_streamed_equals_clips(m, clip())


def test_in_shape_stays_the_frame_and_bad_options_are_named():
    auto = VideoClassifier("gru", "tt", "auto", [2, 2, 2, 2], rank=2, num_classes=3, appearance=True,
                           frame_features=48 * 64 * 3)
    assert auto.in_shape == (8, 8, 12, 12) and auto.step_shape == (8, 8, 12, 24)
    assert auto.in_features == 48 * 64 * 3 and auto.net.rnn.input_size == 2 * 48 * 64 * 3
    with pytest.raises(ValueError, match=r"^model.appearance=True with model.frame_diff=False"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, appearance=True, frame_diff=False)
    with pytest.raises(ValueError, match=r"^model.appearance='yes': expected true or false"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, appearance="yes")


def test_the_exported_step_graph_reads_the_frame_too(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from tensorrnn.deploy.graphs import ClipGraph, exportable

    m = model().float()
    frames = (clip().float() * 255).clamp(0, 255).to(torch.uint8)
    with exportable(m):
        expected = ClipGraph(m, "unit")(frames)
    np.testing.assert_allclose(streamed_step_graph(m, frames, tmp_path / "step.onnx"), expected.numpy(),
                               rtol=0, atol=1e-4)
    assert expected.std() > 1e-3
