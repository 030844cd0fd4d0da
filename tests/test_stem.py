"""``model.stem``: a 4x4 stride-2 convolution and a ReLU between the normalised frames and the map."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_streamed_equals_clips, streamed_step_graph, traced_session
from test_appearance import clip  # (B, T, 48, 64, 3) float64 frames of a panning, smooth scene
from tensorrnn.nn import ConvStem
from tensorrnn.train.module import VideoClassifier

SHAPE = [8, 8, 12, 12]   # 48 * 64 * 3 features: one frame, and as many after the stem (24 * 32 * 12)


def reference(stem: ConvStem, x: torch.Tensor) -> torch.Tensor:
    """The stem by its definition, level by level: each level's output is relu(conv(its input))."""
    for conv in [stem.conv, *stem.deeper]:
        x = level(conv.weight, conv.bias, x)
    return x


def level(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One level: relu of :func:`convolution`."""
    return convolution(w, b, x).clamp_min(0)


def convolution(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One output at a time: out[n, i, j, o] = b[o] + sum over c, u, v of
    w[o, c, u, v] * x[n, 2i - 1 + u, 2j - 1 + v, c], the frame zero outside."""
    N, H, W, C = x.shape                                                          # w (4C, C, 4, 4), b (4C,)
    padded = torch.zeros(N, H + 2, W + 2, C, dtype=x.dtype)
    padded[:, 1:-1, 1:-1] = x
    out = torch.empty(N, H // 2, W // 2, 4 * C, dtype=x.dtype)
    for i in range(H // 2):
        for j in range(W // 2):
            patch = padded[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4]                   # (N, 4, 4, C): u, v, c
            out[:, i, j] = torch.einsum("nuvc,ocuv->no", patch, w) + b
    return out


def test_a_two_level_stem_equals_its_definition():
    # a second level reads the first's rectified output: 3 -> 12 -> 48 channels, (H/4, W/4)
    torch.manual_seed(0)
    stem = ConvStem(3, depth=2).double()
    for conv in [stem.conv, *stem.deeper]:
        torch.nn.init.normal_(conv.bias, std=0.5)
    x = torch.randn(2, 3, 12, 16, 3, dtype=torch.float64)
    y = stem(x)
    assert y.shape == (2, 3, 3, 4, 48) and y.numel() == x.numel() and stem.out_channels == 48
    torch.testing.assert_close(y, reference(stem, x.flatten(0, 1)).view(y.shape), rtol=0, atol=1e-12)
    assert (y == 0).any() and (y > 0).any()
    # 588 weights for the first level, 12 * 48 * 16 + 48 = 9,264 for the second
    assert sum(p.numel() for p in stem.parameters()) == 588 + 9264
    assert "3 -> 48 channels, 4x4 stride 2, 2 levels" in repr(stem)
    # one level keeps its parameter names (checkpoints of the one-level stem load as before)
    assert list(ConvStem(3).state_dict()) == ["conv.weight", "conv.bias"]


def test_a_two_level_stem_gradchecks_in_place_in_float64():
    # both ReLUs run in place (the last one's backward in the gradient it is handed): the gradients
    # of the input and of both levels' weights must equal the definition's
    torch.manual_seed(0)
    stem = ConvStem(3, depth=2).double()
    x = torch.randn(2, 8, 8, 3, dtype=torch.float64, requires_grad=True)
    params = dict(stem.named_parameters())
    names = list(params)

    def run(x, *tensors):
        return torch.func.functional_call(stem, dict(zip(names, tensors)), (x,), {"grad_in_place": True}) * 1.0

    assert torch.autograd.gradcheck(run, (x, *[p.detach().requires_grad_() for p in params.values()]))


@pytest.mark.parametrize("init", ["torch", "he"])
def test_every_level_is_initialised_by_init(init):
    torch.manual_seed(0)
    stem = ConvStem(3, init=init, depth=2)
    second = stem.deeper[0]
    if init == "he":
        assert torch.equal(second.bias, torch.zeros(48))
        assert second.weight.std().item() == pytest.approx((2 / (16 * 12)) ** 0.5, rel=0.1)
    else:                                           # Conv2d's: uniform within 1 / sqrt(fan in)
        assert second.weight.abs().max().item() <= (16 * 12) ** -0.5
        assert second.weight.abs().max().item() > 0.9 * (16 * 12) ** -0.5
    before = second.weight.detach().clone()
    stem.reset_parameters()
    assert not torch.equal(before, second.weight)


def model(**kwargs) -> VideoClassifier:
    torch.manual_seed(0)
    return VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, input_dropout=0.0, dropout=0.0,
                           stem=True, **kwargs).double().eval()


@pytest.mark.parametrize("channels", [3, 6])
def test_the_stem_equals_its_definition_channels_last(channels):
    torch.manual_seed(channels)
    stem = ConvStem(channels).double()
    torch.nn.init.normal_(stem.conv.bias)                       # a bias of order one, so its indexing shows
    x = torch.randn(2, 3, 10, 14, channels, dtype=torch.float64)                  # (B, T, H, W, C)
    y = stem(x)
    assert y.shape == (2, 3, 5, 7, 4 * channels) and y.numel() == x.numel()
    torch.testing.assert_close(y, reference(stem, x.flatten(0, 1)).view(y.shape), rtol=0, atol=1e-12)
    assert (y == 0).any() and (y > 0).any()                                         # the ReLU cut some, not all
    assert sum(p.numel() for p in stem.parameters()) == 64 * channels ** 2 + 4 * channels   # 588 / 2,328


def test_the_stem_gradchecks_in_float64():
    # its ReLU runs in place on the convolution's output: the gradients must not notice
    torch.manual_seed(0)
    stem = ConvStem(3).double()
    x = torch.randn(2, 6, 8, 3, dtype=torch.float64, requires_grad=True)
    w, b = stem.conv.weight, stem.conv.bias
    assert torch.autograd.gradcheck(lambda x, w, b: torch.func.functional_call(
        stem, {"conv.weight": w, "conv.bias": b}, (x,)), (x, w, b))


@pytest.mark.parametrize("upstream", ["dense", "expanded"])
@pytest.mark.parametrize("grad_in_place", [True, False])
def test_the_stems_backward_equals_autograds_relu(upstream, grad_in_place):
    # with grad_in_place (the model's) the ReLU's backward masks the incoming gradient in its own
    # memory when it is dense (the map's input gradient), out of place when it is expanded (a sum's)
    torch.manual_seed(1)
    stem = ConvStem(3).double()
    x = torch.randn(2, 3, 10, 14, 3, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 3, 5, 7, 12, dtype=torch.float64)

    def loss(out):
        return out.sum() if upstream == "expanded" else (out * weights).sum()

    grads = torch.autograd.grad(loss(stem(x, grad_in_place=grad_in_place)), (x, stem.conv.weight, stem.conv.bias))
    plain = torch.relu(stem.conv(x.flatten(0, 1).permute(0, 3, 1, 2))).permute(0, 2, 3, 1).reshape(2, 3, 5, 7, 12)
    expected = torch.autograd.grad(loss(plain), (x, stem.conv.weight, stem.conv.bias))
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert (grads[0] != 0).any() and (plain == 0).any()      # gradients flow, and the ReLU cut some


def test_a_gradient_the_caller_passes_is_overwritten_only_when_asked():
    torch.manual_seed(2)
    stem = ConvStem(3).double()
    x = torch.randn(2, 10, 14, 3, dtype=torch.float64)
    out = stem(x)
    given = torch.randn_like(out)
    kept = given.clone()
    stem(x).backward(given)                                  # the default: the caller's gradient stays
    assert torch.equal(given, kept)
    stem(x, grad_in_place=True).backward(given)              # in place: masked where the ReLU cut
    torch.testing.assert_close(given, kept * (out > 0), rtol=0, atol=0)
    assert (out == 0).any() and (given != kept).any()


def test_the_models_stem_writes_its_gradient_in_place():
    # the model's stem output feeds its map, whose backward hands back a gradient of its own
    m = model().train()
    seen, forward = [], m.stem.forward
    m.stem.forward = lambda x, **options: seen.append(options) or forward(x, **options)
    x = torch.randn(2, 3, 48, 64, 3, dtype=torch.float64)
    m(x).sum().backward()
    assert seen == [{"grad_in_place": True}] and m.stem.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [3, 6])
@pytest.mark.parametrize("init, mean_square", [("he", 1.0), ("torch", 1 / 6)])
def test_the_stems_init_sets_the_mean_square_it_hands_the_map(channels, init, mean_square):
    # iid N(0, 1) input, away from the padding: z_o ~ N(b_o, |w_o|^2), so E[relu(z_o)^2] =
    # (b^2 + s^2) Phi(b / s) + b s phi(b / s) with s = |w_o|. He's std sqrt(2 / 16C) and a zero
    # bias make it |w_o|^2 / 2, 1 in expectation (what the map's glorot init assumes); torch's
    # uniform init has a third of He's variance: about 1/6
    normal = torch.distributions.Normal(0.0, 1.0)
    for seed in range(5):
        torch.manual_seed(seed)
        stem = ConvStem(channels, init=init).double()
        w, b = stem.conv.weight.detach(), stem.conv.bias.detach()
        if init == "he":
            assert torch.equal(b, torch.zeros(4 * channels, dtype=torch.float64))
            assert w.std().item() == pytest.approx((2 / (16 * channels)) ** 0.5, rel=0.1)
        s = w.pow(2).sum(dim=(1, 2, 3)).sqrt()
        t = b / s
        closed = (b ** 2 + s ** 2) * normal.cdf(t) + b * s * normal.log_prob(t).exp()    # (4C,): each channel's
        assert closed.mean().item() == pytest.approx(mean_square, rel=0.3)
        y = stem(torch.randn(256, 34, 34, channels, dtype=torch.float64))[:, 1:-1, 1:-1]   # interior 15x15
        torch.testing.assert_close(y.pow(2).mean(dim=(0, 1, 2)), closed, rtol=0.1, atol=0)


def test_the_default_init_is_torchs_and_reset_parameters_draws_by_it():
    torch.manual_seed(0)
    stem = ConvStem(3)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 12, 4, 2, 1)
    assert stem.init == "torch" and torch.equal(stem.conv.weight, conv.weight)    # the same draws as Conv2d's
    he = ConvStem(3, init="he")
    he.conv.bias.data.fill_(1.0)
    he.reset_parameters()
    assert torch.equal(he.conv.bias, torch.zeros(12)) and "he init" in repr(he)
    with pytest.raises(ValueError, match=r"^init='xavier': expected one of 'torch', 'he'$"):
        ConvStem(3, init="xavier")


@pytest.mark.parametrize("appearance", [False, True])
def test_the_model_reads_the_stem_of_its_normalised_steps(appearance):
    m, x = model(appearance=appearance), clip()
    base = VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, appearance=appearance)
    channels = 6 if appearance else 3
    assert m.in_shape == base.in_shape and m.net.rnn.input_size == base.net.rnn.input_size
    params = sum(p.numel() for p in m.parameters()) - sum(p.numel() for p in base.parameters())
    assert params == 64 * channels ** 2 + 4 * channels
    encoded = m.encode(m.steps(x))
    assert encoded.shape == (2, 4, 24, 32, 4 * channels)
    torch.testing.assert_close(encoded, m.stem(m.input_norm(m.steps(x))), rtol=0, atol=0)
    # the network reads exactly that: its output from the encoded steps is the model's
    torch.testing.assert_close(m(x), m.net(encoded), rtol=0, atol=0)


@pytest.mark.parametrize("appearance", [False, True])
def test_step_equals_forward_in_float64(appearance):
    assert_streamed_equals_clips(model(appearance=appearance), clip())


def test_a_two_level_stem_in_the_model_reads_quarter_frames():
    m, x = model(stem_depth=2), clip()
    assert m.encode(m.steps(x)).shape == (2, 4, 12, 16, 48)                # 48 * 64 * 3 features, as before
    assert sum(p.numel() for p in m.parameters()) - sum(p.numel() for p in model().parameters()) == 9264
    assert_streamed_equals_clips(m, x)


def test_bad_options_and_inputs_are_named():
    with pytest.raises(ValueError, match=r"^model.stem='yes': expected true or false"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem="yes")
    with pytest.raises(ValueError, match=r"^model.stem_init='kaiming': expected one of 'torch', 'he'"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem=True, stem_init="kaiming")
    with pytest.raises(ValueError, match=r"^model.stem_init='he' with model.stem=False: there is no stem to "
                                         r"initialise; expected stem: true"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem_init="he")
    assert VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem=True,
                           stem_init="he").stem.init == "he"
    for depth in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match=rf"^model.stem_depth={depth!r}: expected an integer from 1 to 3$"):
            VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem=True, stem_depth=depth)
        with pytest.raises(ValueError, match=rf"^depth={depth!r}: expected an integer from 1 to 3$"):
            ConvStem(3, depth=depth)
    with pytest.raises(ValueError, match=r"^model.stem_depth=2 with model.stem=False: there is no stem to deepen"):
        VideoClassifier("gru", "tt", SHAPE, [2, 2, 2, 2], rank=2, num_classes=3, stem_depth=2)
    with pytest.raises(ValueError, match=r"input of shape \(2, 12, 18, 3\): expected \(\.\.\., H, W, 3\) frames "
                                         r"with H and W multiples of 4 \(2 levels\)"):
        ConvStem(3, depth=2)(torch.zeros(2, 12, 18, 3))
    with pytest.raises(ValueError, match=r"^in_channels=0: expected a positive integer"):
        ConvStem(0)
    with pytest.raises(ValueError, match=r"input of shape \(2, 5, 7, 3\): expected \(\.\.\., H, W, 3\) frames "
                                         r"with even H and W"):
        ConvStem(3)(torch.zeros(2, 5, 7, 3))
    features = VideoClassifier("gru", "tt", [4, 4, 4, 4], [2, 2, 2, 2], rank=2, num_classes=3, stem=True)
    with pytest.raises(ValueError, match=r"steps of shape \(2, 4, 256\): model.stem needs video frames"):
        features(torch.zeros(2, 5, 256))


@pytest.mark.parametrize("options", [{}, {"stem_depth": 2}])
def test_the_exported_graphs_agree_with_pytorch(tmp_path, options):
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from tensorrnn.deploy.graphs import ClipGraph, exportable

    m = model(**options).float()
    frames = (clip().float() * 255).clamp(0, 255).to(torch.uint8)
    with exportable(m):
        expected = ClipGraph(m, "unit")(frames)
    session = traced_session(m, "clip", (64, 48), tmp_path / "clip.onnx")
    np.testing.assert_allclose(session.run(None, {"frames": frames.numpy()})[0], expected.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(streamed_step_graph(m, frames, tmp_path / "step.onnx"), expected.numpy(),
                               rtol=0, atol=1e-4)
    assert expected.std() > 1e-3
