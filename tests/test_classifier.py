"""SequenceClassifier, TTMLP and build_classifier: flattening, last-state reading, masking, losses."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tensorrnn.nn import (
    TTMLP, DenseLinear, SequenceClassifier, TensorizedGRU, TensorizedLSTM, TensorizedRNN, TTGRU, build_classifier,
)

F64 = torch.float64


def test_frames_flatten_channel_fastest_and_head_reads_last_state():
    torch.manual_seed(0)
    model = SequenceClassifier(TTGRU((4, 5, 3), (1, 2, 3), 2, dtype=F64), num_classes=7)
    frames = torch.randn(2, 4, 4, 5, 3, dtype=F64)                 # (B, T, H, W, C)
    flat = torch.stack([frames[:, :, h, w, c] for h in range(4) for w in range(5) for c in range(3)], -1)
    _, h_n = model.rnn(flat)
    expected = h_n[-1] @ model.head.weight.T + model.head.bias
    torch.testing.assert_close(model(frames), expected)


def test_bidirectional_stacked_features_are_top_layer_final_states():
    torch.manual_seed(1)
    rnn = TensorizedLSTM((3, 4), (2, 3), "tt", 2, num_layers=2, bidirectional=True, dtype=F64)
    model = SequenceClassifier(rnn, num_classes=3)
    x = torch.randn(2, 5, 12, dtype=F64)
    out, (h_n, _) = rnn(x)
    feats = model.features(x)
    torch.testing.assert_close(feats, torch.cat([h_n[2], h_n[3]], dim=1))
    torch.testing.assert_close(feats[:, :6], out[:, -1, :6])       # forward: state after the last step
    torch.testing.assert_close(feats[:, 6:], out[:, 0, 6:])        # reverse: state after step 0
    assert model.head.in_features == 12


def test_lengths_mask_padded_frames():
    torch.manual_seed(2)
    model = build_classifier("gru", (3, 4), (2, 3), 5, factorization="tt", rank=2, dtype=F64)
    x = torch.randn(3, 6, 12, dtype=F64)
    lengths = torch.tensor([6, 2, 4])
    logits = model(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(logits[b:b + 1], model(x[b:b + 1, :n]))


def test_torch_rnn_baseline_with_lengths_matches_dense_tensorized():
    torch.manual_seed(3)
    ref = nn.GRU(12, 6, batch_first=True, dtype=F64)
    ours = TensorizedGRU((12,), (6,), "dense", dtype=F64)
    lin = nn.Linear(12, 18, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(ref.weight_ih_l0)
        lin.bias.copy_(ref.bias_ih_l0)
        ours.weight_hh_l0.copy_(ref.weight_hh_l0)
        ours.bias_hh_l0.copy_(ref.bias_hh_l0)
    ours.input_projs[0] = DenseLinear.from_linear(lin, (12,), (18,))
    a, b = SequenceClassifier(ref, 4), SequenceClassifier(ours, 4)
    b.head.load_state_dict(a.head.state_dict())
    x = torch.randn(3, 5, 12, dtype=F64)
    lengths = torch.tensor([5, 1, 3])
    torch.testing.assert_close(a(x, lengths), b(x, lengths))


def test_losses_single_and_multilabel():
    torch.manual_seed(4)
    logits = torch.randn(4, 3, dtype=F64)
    single = build_classifier("rnn", (3, 4), (2, 3), 3, rank=2)
    multi = build_classifier("lstm", (3, 4), (2, 3), 3, rank=2, multilabel=True)
    target = torch.tensor([0, 2, 1, 1])
    multi_hot = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    expected_ce = -F.log_softmax(logits, 1)[torch.arange(4), target].mean()
    expected_bce = -(multi_hot * F.logsigmoid(logits) + (1 - multi_hot) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(single.loss(logits, target), expected_ce)
    torch.testing.assert_close(multi.loss(logits, multi_hot), expected_bce)
    assert multi.multilabel and not single.multilabel


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_ttmlp_pools_valid_frames(pooling):
    torch.manual_seed(5)
    mlp = TTMLP((3, 4), (2, 3), 5, rank=2, pooling=pooling, activation="tanh", dtype=F64)
    x = torch.randn(2, 4, 3, 4, dtype=F64)
    lengths = torch.tensor([4, 2])
    h = torch.tanh(mlp.proj(x.reshape(2, 4, 12)))                  # (B, T, 6)
    pool = (lambda v: v.mean(0)) if pooling == "mean" else (lambda v: v.amax(0))
    expected = torch.stack([pool(h[0]), pool(h[1, :2])])
    torch.testing.assert_close(mlp.features(x, lengths), expected)
    torch.testing.assert_close(mlp(x, lengths), mlp.head(expected))


def test_build_classifier_archs_and_kwargs():
    for arch, cls in (("rnn", TensorizedRNN), ("gru", TensorizedGRU), ("lstm", TensorizedLSTM)):
        model = build_classifier(arch, (3, 4), (2, 3), 11, "bt", 2, blocks=2, num_layers=2,
                                 recurrent_dropout=0.25)
        assert type(model.rnn) is cls and model.rnn.blocks == 2 and model.rnn.num_layers == 2
        assert model.rnn.recurrent_dropout == 0.25 and model.head.out_features == 11
    mlp = build_classifier("mlp", (3, 4), (2, 3), 11, "tr", 2, pooling="max")
    assert isinstance(mlp, TTMLP) and mlp.pooling == "max"
    with pytest.raises(ValueError, match="arch='cnn'"):
        build_classifier("cnn", (3, 4), (2, 3), 11)


def test_bad_input():
    model = build_classifier("gru", (3, 4), (2, 3), 5, rank=2)
    with pytest.raises(ValueError, match="in_features=12"):
        model(torch.randn(2, 4, 13))
    with pytest.raises(ValueError, match="at least 3 dims"):
        model(torch.randn(2, 12))
    with pytest.raises(ValueError, match="num_classes=0"):
        build_classifier("gru", (3, 4), (2, 3), 0, rank=2)
    with pytest.raises(ValueError, match="pooling='sum'"):
        TTMLP((3, 4), (2, 3), 5, rank=2, pooling="sum")
    with pytest.raises(ValueError, match=r"\[1, 4\]"):
        TTMLP((3, 4), (2, 3), 5, rank=2)(torch.randn(2, 4, 12), torch.tensor([5, 1]))
