"""``model.context``: the logits of the scene's pooled look added to the network's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_streamed_equals_clips, streamed, streamed_step_graph, traced_session
from test_appearance import clip  # (B, T, 48, 64, 3) float64 frames of a panning, smooth scene
from tensorrnn.nn import SceneContext
from tensorrnn.train.module import VideoClassifier

SHAPE = [8, 8, 12, 12]   # 48 * 64 * 3 features


def model(**kwargs) -> VideoClassifier:
    torch.manual_seed(0)
    options = {"arch": "gru", "stem": True, "context": True, **kwargs}
    m = VideoClassifier(factorization="tt", in_shape=SHAPE, hidden_shape=[2, 2, 2, 2], rank=2, num_classes=3,
                        input_dropout=0.0, dropout=0.0, **options).double().eval()
    if m.scene_context is not None:   # running statistics of their own, so that the tests see them used
        m.scene_context.norm.running_mean.uniform_(0.0, 0.5)
        m.scene_context.norm.running_var.uniform_(0.5, 2.0)
    return m


def looks_by_definition(context: SceneContext, frames: torch.Tensor) -> torch.Tensor:
    """look[n, o] = the mean over the whole 4x4 patches (i, j) of relu(b[o] + sum over u, v, c of
    w[o, c, u, v] * x[n, 4i + u, 4j + v, c]); rows and columns past the last whole patch unread."""
    w, b = context.conv.weight, context.conv.bias
    N, H, W, _ = frames.shape
    out = torch.zeros(N, w.shape[0], dtype=frames.dtype)
    for i in range(H // 4):
        for j in range(W // 4):
            patch = frames[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4]                    # (N, 4, 4, C): u, v, c
            out += (torch.einsum("nuvc,ocuv->no", patch, w) + b).clamp_min(0)
    return out / ((H // 4) * (W // 4))


def test_a_look_is_the_mean_of_rectified_patches_by_their_definition():
    torch.manual_seed(0)
    context = SceneContext(5).double()
    frames = torch.randn(2, 3, 10, 13, 3, dtype=torch.float64)                    # 2 x 3 whole patches
    looks = context.pool(frames)
    assert looks.shape == (2, 3, 16)
    torch.testing.assert_close(looks, looks_by_definition(context, frames.flatten(0, 1)).view(2, 3, 16),
                               rtol=0, atol=1e-12)


def test_the_looks_are_standardised_by_the_batch_in_training_and_by_the_running_statistics_after():
    torch.manual_seed(0)
    context = SceneContext(4).double()
    looks = torch.randn(6, 16, dtype=torch.float64) * 3 + 2
    mean, var = torch.rand(16, dtype=torch.float64), torch.rand(16, dtype=torch.float64) + 0.5
    context.norm.running_mean.copy_(mean)
    context.norm.running_var.copy_(var)
    head = context.head
    context.eval()
    torch.testing.assert_close(context.logits(looks), head((looks - mean) / (var + 1e-5).sqrt()), rtol=0, atol=1e-12)
    context.train()
    context.dropout.p = 0.0
    standard = (looks - looks.mean(0)) / (looks.var(0, unbiased=False) + 1e-5).sqrt()
    torch.testing.assert_close(context.logits(looks), head(standard), rtol=0, atol=1e-12)
    # the running statistics moved a tenth of the way to the batch's (unbiased variance, as torch's)
    torch.testing.assert_close(context.norm.running_mean, 0.9 * mean + 0.1 * looks.mean(0), rtol=0, atol=1e-12)
    torch.testing.assert_close(context.norm.running_var, 0.9 * var + 0.1 * looks.var(0), rtol=0, atol=1e-12)
    # a training batch of one clip has no statistics of its own: the running ones standardise it
    running = context.norm.running_mean.clone(), context.norm.running_var.clone()
    torch.testing.assert_close(context.logits(looks[:1]), head((looks[:1] - running[0]) / (running[1] + 1e-5).sqrt()),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(context.norm.running_mean, running[0], rtol=0, atol=0)


@pytest.mark.parametrize("frame_diff", [True, False])
def test_the_model_adds_the_logits_of_the_mean_look_of_the_frames_its_steps_end_on(frame_diff):
    m, x = model(frame_diff=frame_diff), clip()
    read = x[:, 1:] if frame_diff else x
    expected = m.net(m.encode(m.steps(x))) + m.scene_context.logits(looks_by_definition(
        m.scene_context, read.flatten(0, 1)).view(2, -1, 16).mean(1))
    torch.testing.assert_close(m(x), expected, rtol=0, atol=1e-12)
    # 16 channels of 4x4 patches of 3 colours, and a linear layer to 3 classes
    extra = sum(p.numel() for p in m.parameters()) - sum(p.numel() for p in model(
        frame_diff=frame_diff, context=False).parameters())
    assert extra == 16 * 48 + 16 + 16 * 3 + 3


@pytest.mark.parametrize("options", [{}, {"frame_diff": False}, {"readout": "mean"}, {"arch": "lstm"}])
def test_step_equals_forward_in_float64(options):
    assert_streamed_equals_clips(model(**options), clip(frames=6))


def test_the_steps_state_holds_the_running_sum_and_count_of_looks():
    m, x = model(), clip()
    state = m.init_state(2)
    assert [tuple(s.shape) for s in state[-2:]] == [(1, 2, 16), (1, 2, 1)]
    for t in range(3):
        _, state = m.step(x[:, t], state)
    torch.testing.assert_close(state[-1], torch.full((1, 2, 1), 2.0, dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(state[-2][0], m.scene_context.pool(x[:, 1:3]).sum(1), rtol=0, atol=1e-12)


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"^model.context='yes': expected true or false"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, context="yes")
    features = VideoClassifier("gru", "tt", [4, 4, 4, 4], [2, 2, 2, 2], rank=2, num_classes=3, context=True,
                               frame_diff=False)
    with pytest.raises(ValueError, match=r"frames of shape \(2, 5, 256\): model.context reads video frames"):
        features(torch.zeros(2, 5, 256))
    with pytest.raises(ValueError, match=r"^channels=0: expected a positive integer"):
        SceneContext(3, channels=0)
    with pytest.raises(ValueError, match=r"frames of shape \(2, 3, 48\): expected \(\.\.\., H, W, 3\) frames with "
                                         r"H and W at least 4"):
        SceneContext(3).pool(torch.zeros(2, 3, 48))


def test_a_training_batch_of_one_clip_trains():
    m, x = model(), clip(batch=1).float()
    m = m.float().train()
    loss = m(x).logsumexp(-1).sum()
    loss.backward()
    assert m.scene_context.conv.weight.grad.abs().sum() > 0


def test_the_exported_graphs_agree_with_pytorch(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from tensorrnn.deploy.graphs import ClipGraph, exportable, state_names

    m = model().float()
    assert state_names(m)[-2:] == ["look_sum", "looks"]
    frames = (clip().float() * 255).clamp(0, 255).to(torch.uint8)
    with exportable(m):
        expected = ClipGraph(m, "unit")(frames)
    clip_graph = traced_session(m, "clip", (64, 48), tmp_path / "clip.onnx")
    np.testing.assert_allclose(clip_graph.run(None, {"frames": frames.numpy()})[0], expected.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(streamed_step_graph(m, frames, tmp_path / "step.onnx"), expected.numpy(),
                               rtol=0, atol=1e-4)
    # the step graph as `tensorrnn export --step` traces it: dynamic batch, the batch of every state at its dim
    step_graph = traced_session(m, "step", (64, 48), tmp_path / "traced_step.onnx")
    np.testing.assert_allclose(streamed(step_graph, m, frames), expected.numpy(), rtol=0, atol=1e-4)
    with torch.no_grad():   # the clip graph is the model's forward behind the pixel scaling
        torch.testing.assert_close(expected, m.probabilities(m(frames.float() / 128 - 1)), rtol=0, atol=1e-5)
