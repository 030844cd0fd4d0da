"""``readout="mean"``: the head reads the mean of the top layer's states over the valid steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import streamed_step_graph
from tensorrnn.nn import TTGRU, SequenceClassifier, build_classifier
from tensorrnn.train.module import VideoClassifier


@pytest.mark.parametrize("dense", [False, True])
def test_mean_readout_is_the_mean_over_the_valid_steps(dense):
    torch.manual_seed(0)
    rnn = (torch.nn.GRU(60, 8, num_layers=2, batch_first=True) if dense
           else TTGRU((4, 5, 3), (2, 2, 2), rank=2, num_layers=2)).double()
    model = SequenceClassifier(rnn, num_classes=3, readout="mean").double().eval()
    x, lengths = torch.randn(3, 6, 60, dtype=torch.float64), torch.tensor([6, 2, 4])
    with torch.no_grad():
        features = model.features(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            output = rnn(x[b:b + 1, :n])[0]                      # (1, n, H): the sequence alone
            torch.testing.assert_close(features[b], output[0].mean(0), rtol=0, atol=1e-12)
        last = SequenceClassifier(rnn, num_classes=3).double().eval()
        assert (last.features(x, lengths) - features).abs().max() > 1e-3   # it is another readout


@pytest.mark.parametrize("arch", ["gru", "lstm"])
def test_step_equals_forward_with_the_mean_readout_in_float64(arch):
    torch.manual_seed(0)
    model = VideoClassifier(arch, "tt", [4, 6, 8, 9], [2, 2, 2, 2], rank=2, num_classes=3, readout="mean",
                            input_dropout=0.0, dropout=0.0).double().eval()
    x = torch.randn(2, 5, 24, 24, 3, dtype=torch.float64)
    with torch.no_grad():
        state = model.init_state(2)
        assert state[-1].shape == (1, 2, 1) and state[-2].shape == (1, 2, 4 * 4)
        for t in range(5):
            probs, state = model.step(x[:, t], state)
            if t >= 1:
                torch.testing.assert_close(probs, model.probabilities(model(x[:, :t + 1])), rtol=0, atol=1e-12)
        assert state[-1].flatten().tolist() == [4.0, 4.0]        # 5 frames, 4 differences


def test_bad_readouts_are_named():
    with pytest.raises(ValueError, match=r"^model.readout='max': expected one of 'last', 'mean'"):
        VideoClassifier("gru", "tt", [4, 6, 8, 9], [2, 2, 2, 2], rank=2, num_classes=3, readout="max")
    with pytest.raises(ValueError, match=r"^model.readout='mean' with model.arch='mlp'"):
        VideoClassifier("mlp", "tt", [4, 6, 8, 9], [2, 2, 2, 2], rank=2, num_classes=3, readout="mean")
    with pytest.raises(ValueError, match=r"^readout='mean' with arch='mlp'"):
        build_classifier("mlp", (4, 5, 3), (2, 2, 2), 3, rank=2, readout="mean")


def test_the_exported_step_graph_keeps_the_running_sum(tmp_path):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from tensorrnn.deploy.graphs import ClipGraph, exportable, state_names

    torch.manual_seed(0)
    model = VideoClassifier("gru", "tt", [4, 6, 8, 9], [2, 2, 2, 2], rank=2, num_classes=3, readout="mean").eval()
    frames = torch.randint(0, 256, (2, 5, 24, 24, 3), dtype=torch.uint8)
    with exportable(model):
        expected = ClipGraph(model, "unit")(frames)
    assert state_names(model) == ["previous_frame", "seen", "h", "h_sum", "steps"] and len(model.init_state(2)) == 5
    np.testing.assert_allclose(streamed_step_graph(model, frames, tmp_path / "step.onnx"), expected.numpy(),
                               rtol=0, atol=1e-4)
    assert expected.std() > 1e-3
