"""model.feature_dropout: dropout on every step's input after the normalisation (the augmentation
of per-frame CNN features), in training only."""
from __future__ import annotations

import pytest
import torch

from tensorrnn.train.module import VideoClassifier

FEATURES, STEPS = 32, 5


def feature_model(p: float) -> VideoClassifier:
    torch.manual_seed(0)
    model = VideoClassifier(arch="gru", factorization="tt", in_shape=[4, 8], hidden_shape=[4, 4], rank=2,
                            num_classes=3, frame_diff=False, feature_dropout=p, input_dropout=0.0, dropout=0.0)
    # a fitted normalisation, so that its place before the dropout shows
    model.input_norm.mean = torch.full((FEATURES,), 0.5)
    model.input_norm.std = torch.full((FEATURES,), 2.0)
    return model.double()


def net_input(model: VideoClassifier, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = model.net.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    model(x)
    handle.remove()
    return seen[0]


def test_training_drops_each_normalised_feature_and_scales_the_rest():
    model = feature_model(0.5).train()
    x = torch.rand(64, STEPS, FEATURES, dtype=torch.float64) + 1.0  # normalised: (x - 0.5) / 2 > 0
    torch.manual_seed(1)
    seen = net_input(model, x)
    normalised = (x - 0.5) / 2.0
    dropped = seen == 0
    assert 0.45 < dropped.double().mean() < 0.55
    torch.testing.assert_close(seen[~dropped], 2.0 * normalised[~dropped], rtol=0, atol=1e-12)
    # each feature of each step of each clip on its own: not whole frames or whole features
    assert dropped.any(-1).all() and not dropped.all(-1).any()


def test_evaluation_and_zero_dropout_read_the_features_unchanged():
    x = torch.rand(8, STEPS, FEATURES, dtype=torch.float64)
    plain, dropping = feature_model(0.0), feature_model(0.7)
    dropping.load_state_dict(plain.state_dict())
    torch.testing.assert_close(dropping.eval()(x), plain.eval()(x), rtol=0, atol=0)
    torch.testing.assert_close(net_input(plain.train(), x), (x - 0.5) / 2.0, rtol=0, atol=1e-15)
    # the step-by-step path (the timeline, the exported step graph) never drops, even in training mode
    dropping.train()
    state = dropping.init_state(len(x))
    for t in range(STEPS):
        probs, state = dropping.step(x[:, t], state)
    torch.testing.assert_close(probs, plain.eval()(x).softmax(-1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("value", [1.0, -0.1, "half"])
def test_a_bad_feature_dropout_is_named(value):
    with pytest.raises(ValueError, match=r"model\.feature_dropout=.*probability in \[0, 1\)"):
        VideoClassifier(arch="gru", factorization="tt", in_shape=[4, 8], hidden_shape=[4, 4], rank=2,
                        num_classes=3, frame_diff=False, feature_dropout=value)
