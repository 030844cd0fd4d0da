"""Factorised recurrent maps (``recurrent_factorization``) and whole-model accounting.

A factorised ``U`` must give exactly what a dense RNN whose ``weight_hh`` is built from it gives
(outputs, states, gradients; float64), for every format, cell and direction; the recurrence must
never build ``U``; the fully factorised UCF11 configs must hold at most 10,000 parameters (a
closed form); ``summary().whole_model()`` must account for every parameter.
"""
from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from tensorrnn import papers
from tensorrnn.experiments import params
from tensorrnn.nn import (
    FACTORIZATIONS, TensorizedGRU, TensorizedLSTM, TensorizedRNN, build_classifier, summary,
)
from tensorrnn.tensor import tt

F64 = torch.float64
REPO = Path(__file__).resolve().parents[1]
CLASSES = {"rnn": TensorizedRNN, "gru": TensorizedGRU, "lstm": TensorizedLSTM}
IN, HID = (3, 4), (2, 3)                                   # 12 inputs, 6 hidden units
#: Every factorised format registered (a new format is tested here by registering it).
FORMATS = [f for f in FACTORIZATIONS if f != "dense"]
RANK = 2


def factorised_and_dense(mode: str, fmt: str, seed: int = 0, **kwargs):
    """A model with a factorised U and a dense-U twin: same input maps and biases, weight_hh = to_dense(U)."""
    torch.manual_seed(seed)
    fac = CLASSES[mode](IN, HID, "tt", RANK, recurrent_factorization=fmt, recurrent_rank=RANK,
                        recurrent_blocks=2 if fmt == "bt" else None, dtype=F64, **kwargs)
    with torch.no_grad():                                   # non-zero biases, so their paths are tested
        for name, p in fac.named_parameters():
            if name.startswith("bias_hh") or name.endswith(".bias"):
                p.normal_()
    dense = CLASSES[mode](IN, HID, "tt", RANK, dtype=F64, **kwargs)
    state = {k: v for k, v in fac.state_dict().items() if not k.startswith("recurrent_projs.")}
    for layer in range(fac.num_layers):
        for reverse in (False, True)[: fac.num_directions]:
            weight, _ = fac.recurrent_weights(layer, reverse)
            state[f"weight_hh_l{layer}{'_reverse' if reverse else ''}"] = weight.detach()
    dense.load_state_dict(state)
    return fac, dense


def run(model, x, hx, lengths):
    out, state = model(x, hx, lengths=lengths)
    states = state if isinstance(state, tuple) else (state,)
    loss = (out * torch.linspace(-1, 1, out.shape[-1], dtype=F64)).sum() + sum((s ** 2).sum() for s in states)
    return out, states, loss


CELLS = [("rnn", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}), ("lstm", {})]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode, options", CELLS, ids=["rnn", "gru", "gru-reset-before", "lstm"])
@pytest.mark.parametrize("bidirectional, num_layers", [(False, 1), (True, 2)], ids=["uni", "bi-2layers"])
def test_factorised_u_equals_dense_u_built_from_it(fmt, mode, options, bidirectional, num_layers):
    fac, dense = factorised_and_dense(mode, fmt, bidirectional=bidirectional, num_layers=num_layers,
                                      gate_activation="hard_sigmoid" if mode == "gru" else "sigmoid", **options)
    L = num_layers * (2 if bidirectional else 1)
    x = torch.randn(3, 5, 12, dtype=F64)
    h0 = torch.randn(L, 3, 6, dtype=F64)
    hx = (h0, torch.randn(L, 3, 6, dtype=F64)) if mode == "lstm" else h0
    lengths = torch.tensor([5, 2, 4])
    x_f, x_d = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_f, states_f, loss_f = run(fac, x_f, hx, lengths)
    out_d, states_d, loss_d = run(dense, x_d, hx, lengths)
    torch.testing.assert_close(out_f, out_d, rtol=1e-12, atol=1e-12)
    for a, b in zip(states_f, states_d):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    loss_f.backward()
    loss_d.backward()
    torch.testing.assert_close(x_f.grad, x_d.grad, rtol=1e-10, atol=1e-12)
    dense_params = dict(dense.named_parameters())
    for name, p in fac.named_parameters():                  # input maps and biases: the same gradient
        if not name.startswith("recurrent_projs."):
            torch.testing.assert_close(p.grad, dense_params[name].grad, rtol=1e-10, atol=1e-12)
    for layer in range(num_layers):                         # U's factors: the chain rule through to_dense
        for reverse in (False, True)[: fac.num_directions]:
            u = fac.recurrent_map(layer, reverse)
            g_dense = dense.recurrent_map(layer, reverse).grad              # dL/dU, (c*H, H)
            factors = list(u.parameters())
            expected = torch.autograd.grad(u.to_dense(), factors, grad_outputs=g_dense)
            for p, g in zip(factors, expected):
                torch.testing.assert_close(p.grad, g, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["gru", "lstm"])
def test_recurrent_dropout_masks_the_state_before_a_factorised_u(mode):
    fac, dense = factorised_and_dense(mode, "tt", recurrent_dropout=0.4)
    fac.train(), dense.train()
    x = torch.randn(4, 6, 12, dtype=F64)
    torch.manual_seed(5)
    out_f, _ = fac(x)
    torch.manual_seed(5)
    out_d, _ = dense(x)
    torch.testing.assert_close(out_f, out_d, rtol=1e-12, atol=1e-12)
    torch.manual_seed(6)
    assert not torch.allclose(fac(x)[0], out_f)            # the masks do change the output


def test_per_gate_input_maps_with_a_packed_factorised_u():
    fac, dense = factorised_and_dense("lstm", "tt", shared_gates=False)
    assert len(fac.recurrent_projs) == 1 and fac.recurrent_projs[0].out_features == 4 * 6   # U stays packed
    x = torch.randn(2, 4, 12, dtype=F64)
    torch.testing.assert_close(fac(x)[0], dense(x)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
def test_scan_with_a_factorised_u_traces_without_graph_breaks():
    from tensorrnn.nn.rnn import gru_scan

    torch._dynamo.reset()
    fac, _ = factorised_and_dense("gru", "tt")
    u, b = fac.recurrent_map(), fac.bias_hh_l0
    gi, h = torch.randn(3, 2, 18, dtype=F64), torch.randn(2, 6, dtype=F64)
    compiled = torch.compile(gru_scan, backend="eager", fullgraph=True)
    for reset_after in (True, False):
        out, h_n = compiled(gi, h, u, b, None, None, False, reset_after, False)
        ref_out, ref_h = gru_scan(gi, h, u, b, None, None, False, reset_after, False)
        torch.testing.assert_close(out, ref_out)
        torch.testing.assert_close(h_n, ref_h)


def test_the_recurrence_never_builds_u(monkeypatch):
    fac, _ = factorised_and_dense("gru", "tt", reset_after=False, bidirectional=True)
    for u in fac.recurrent_projs:
        monkeypatch.setattr(u, "to_dense", lambda: pytest.fail("U was built densely"))
    out, h = fac(torch.randn(2, 4, 12, dtype=F64))
    (out.sum() + h.sum()).backward()
    assert all(p.grad is not None for p in fac.recurrent_projs.parameters())


@pytest.mark.parametrize("reset_after", [True, False])
def test_gradcheck_tiny_fully_factorised_gru(reset_after):
    torch.manual_seed(2)
    model = TensorizedGRU((2, 3), (2, 2), "tt", 2, recurrent_factorization="tt", reset_after=reset_after,
                          dtype=F64)
    names = [n for n, _ in model.named_parameters()]

    def f(x, *values):
        out, h = torch.func.functional_call(model, dict(zip(names, values)), (x,))
        return out, h

    x = torch.randn(2, 3, 6, dtype=F64, requires_grad=True)
    values = [p.detach().clone().requires_grad_() for p in model.parameters()]
    assert torch.autograd.gradcheck(f, (x, *values))


def test_dense_default_keeps_torchs_names_and_registers_no_recurrent_maps():
    model = TensorizedLSTM(IN, HID, "tt", 2, bidirectional=True)
    assert model.recurrent_factorization == "dense" and not hasattr(model, "recurrent_projs")
    assert sorted(k for k in model.state_dict() if not k.startswith("input_projs.")) == [
        "bias_hh_l0", "bias_hh_l0_reverse", "weight_hh_l0", "weight_hh_l0_reverse"]
    assert model.recurrent_map(0, True) is model.weight_hh_l0_reverse
    assert "recurrent" not in repr(model).split("(input_projs)")[0].split("rank=2")[1]


def test_shapes_and_defaults_of_a_factorised_u():
    gru = TensorizedGRU((4, 6), (4, 4), "tt", 3, recurrent_factorization="tr")
    assert gru.recurrent_shape == ((4, 4), (12, 4)) and gru.recurrent_rank == 3   # from hidden_shape, rank
    assert sorted(k for k in gru.state_dict() if not k.startswith("input_projs.")) == [
        "bias_hh_l0", "recurrent_projs.0.cores.0", "recurrent_projs.0.cores.1",
        "recurrent_projs.0.cores.2", "recurrent_projs.0.cores.3"]
    lstm = TensorizedLSTM((4, 6), (4, 4), "dense", recurrent_factorization="tt", recurrent_rank=[2],
                          recurrent_shape=(2, 8))
    u = lstm.recurrent_projs[0]
    assert (u.in_shape, u.out_shape, u.ranks) == ((2, 8), (8, 8), [1, 2, 1])
    pair = TensorizedLSTM((4, 6), (4, 4), "tt", 2, recurrent_factorization="tt",
                          recurrent_shape=[[16], [64]])
    assert pair.recurrent_projs[0].out_shape == (64,)
    weight, bias = lstm.recurrent_weights()
    assert weight.shape == (64, 16) and bias.shape == (64,)
    torch.testing.assert_close(weight, u.to_dense())


@pytest.mark.parametrize("init, std", [("uniform", 1 / math.sqrt(3 * 256)), ("orthogonal", 1 / math.sqrt(256))])
def test_a_factorised_u_starts_with_the_dense_inits_entry_std(init, std):
    torch.manual_seed(0)
    lstm = TensorizedLSTM((2, 3, 2, 2), (4, 4, 4, 4), "tt", 4, recurrent_factorization="tt", recurrent_init=init,
                          forget_bias=1.0)
    stds = [lstm.recurrent_weights()[0].std().item()]
    for _ in range(15):
        lstm.reset_parameters()
        stds.append(lstm.recurrent_weights()[0].std().item())
    # 7%: tight enough to tell the dense "uniform" std from the layer's own Glorot std (9.5% above)
    assert sum(stds) / len(stds) == pytest.approx(std, rel=0.07)
    bias = lstm.bias_hh_l0.detach()
    if init == "orthogonal":                                # zero, plus the forget bias on gate f
        assert bias.tolist() == [0.0] * 256 + [1.0] * 256 + [0.0] * 512
    else:
        assert bias[:256].abs().max() <= 1 / 16 and (bias[256:512] - 1.0).abs().max() <= 1 / 16


# --- the fully factorised models --------------------------------------------------------------

def tt_params(in_shape, out_shape, rank: int) -> int:
    r = [1] + [rank] * (len(in_shape) - 1) + [1]
    return sum(m * n * r[k] * r[k + 1] for k, (m, n) in enumerate(zip(in_shape, out_shape)))


def whole_tt_model(in_shape, hidden_shape, gates: int, rank: int, classes: int, factorised_u: bool) -> int:
    """Closed form: input map (TT) + U (TT or dense) + bias_ih + bias_hh + head weight and bias."""
    H = math.prod(hidden_shape)
    out = (gates * hidden_shape[0], *hidden_shape[1:])
    u = tt_params(hidden_shape, out, rank) if factorised_u else gates * H * H
    return tt_params(in_shape, out, rank) + u + 2 * gates * H + H * classes + classes


@pytest.mark.parametrize("name, gates", [("ucf11_tt_gru_full", 3), ("ucf11_tt_lstm_full", 4)])
def test_full_configs_hold_at_most_10000_parameters(name, gates):
    from tensorrnn.train.module import VideoClassifier

    config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    model = VideoClassifier(**config["model"], num_classes=len(papers.UCF11_CLASSES))
    count = sum(p.numel() for p in model.net.parameters())                    # the network, as the papers count
    expected = whole_tt_model(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, gates, 4, 11, True)
    assert count == expected == {3: 8_363, 4: 9_067}[gates]
    whole = sum(p.numel() for p in model.parameters())                        # and the stem before it
    assert config["model"]["stem"] is True and whole == count + 64 * 3 ** 2 + 4 * 3 <= 10_000
    dense_u = whole_tt_model(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, gates, 4, 11, False)
    header = (REPO / "configs" / f"{name}.yaml").read_text()                  # the config's header says so
    assert f"{count:,} parameters, against {dense_u:,} with a dense U" in header and f"588 weights): {whole:,}" in header
    assert config["model"]["in_shape"] == list(papers.UCF11_IN_SHAPE)
    assert summary(model.net).whole_model()["total"] == count


def test_build_classifier_fully_factorized_preset():
    full = build_classifier("lstm", IN, HID, 5, "tr", 2, fully_factorized=True)
    assert full.rnn.recurrent_factorization == "tr" and full.rnn.recurrent_rank == 2
    plain = build_classifier("lstm", IN, HID, 5, "tr", 2)
    assert plain.rnn.recurrent_factorization == "dense"
    assert sum(p.numel() for p in full.parameters()) < sum(p.numel() for p in plain.parameters())


def test_print_config_round_trips_the_recurrent_options():
    from tensorrnn.train import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.fit_main(["--config", str(REPO / "configs" / "ucf11_tt_gru.yaml"),
                             "--model.recurrent_factorization", "tt", "--model.recurrent_rank", "3",
                             "--model.recurrent_shape", "[[16, 16], [48, 16]]", "--print_config"]) == 0
    model = yaml.safe_load(out.getvalue())["model"]
    assert (model["recurrent_factorization"], model["recurrent_rank"], model["recurrent_shape"]) == (
        "tt", 3, [[16, 16], [48, 16]])
    full = yaml.safe_load((REPO / "configs" / "ucf11_tt_lstm_full.yaml").read_text())["model"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.fit_main(["--config", str(REPO / "configs" / "ucf11_tt_lstm_full.yaml"), "--print_config"]) == 0
    resolved = yaml.safe_load(out.getvalue())["model"]
    assert {k: resolved[k] for k in full} == full


def test_a_checkpoint_with_another_recurrent_map_is_refused():
    from tensorrnn.train.checkpoint import check_compatible
    from tensorrnn.train.module import VideoClassifier

    tiny = dict(arch="gru", factorization="tt", in_shape=[3, 4], hidden_shape=[2, 3], rank=2, num_classes=3)
    full = VideoClassifier(**tiny, recurrent_factorization="tt")
    checkpoint = {"hyper_parameters": dict(full.hparams), "state_dict": full.state_dict()}
    check_compatible(checkpoint, VideoClassifier(**tiny, recurrent_factorization="tt"), "m.ckpt")
    with pytest.raises(ValueError, match=r"recurrent_factorization 'tt' != 'dense'"):
        check_compatible(checkpoint, VideoClassifier(**tiny), "m.ckpt")


# --- whole-model accounting -------------------------------------------------------------------

@pytest.mark.parametrize("model", [
    build_classifier("gru", IN, HID, 4, "tt", 2, fully_factorized=True, num_layers=2, bidirectional=True),
    build_classifier("lstm", IN, HID, 4, "bt", 2, blocks=2, recurrent_factorization="tt"),
    build_classifier("rnn", IN, HID, 4, "dense", bias=False),
    build_classifier("mlp", IN, HID, 4, "tt", 2),
    nn.Sequential(nn.LSTM(5, 3, proj_size=2), nn.LayerNorm(2), nn.Linear(2, 4)),
], ids=["full-gru-bi", "bt-lstm-tt-u", "dense-rnn-nobias", "mlp", "torch"])
def test_whole_model_accounts_for_every_parameter(model):
    whole = summary(model).whole_model()
    total = sum(p.numel() for p in model.parameters())
    assert whole["total"] == sum(whole["params"].values()) == total == summary(model).params
    assert whole["bytes"] == {"fp32": 4 * total, "int8": total}
    biases = sum(p.numel() for n, p in model.named_parameters() if n.rsplit(".", 1)[-1].startswith("bias")
                 and not n.startswith("1."))                # LayerNorm's bias counts as "other"
    assert whole["params"]["biases"] == biases


def test_whole_model_roles_of_the_ucf11_tt_gru():
    dense_u = summary(build_classifier("gru", papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 11, rank=4))
    assert dense_u.whole_model()["params"] == {
        "input map": papers.TT_PARAM_TABLE[4]["tt_gru"], "recurrent map": 768 * 256,
        "biases": 768 + 768 + 11, "head": 256 * 11, "other": 0}
    full = summary(build_classifier("gru", papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 11, rank=4,
                                    fully_factorized=True))
    assert full.whole_model()["params"]["recurrent map"] == tt_params((4, 4, 4, 4), (12, 4, 4, 4), 4) == 768
    row = next(r for r in full.rows if r.name == "rnn.recurrent_projs.0")
    assert row.kind == "recurrent (TTLinear)" and row.params == 768 + 768 and row.dense_params == 768 * 256 + 768
    assert row.macs == tt.tt_macs((4, 4, 4, 4), (12, 4, 4, 4), [1, 4, 4, 4, 1])
    text = str(full)
    assert "whole model" in text and "int8 bytes" in text
    assert f"{full.params:,}" in text.splitlines()[-1] and f"{4 * full.params:,}" in text.splitlines()[-1]
    assert full.to_dict()["whole_model"]["total"] == 8_363


def test_params_whole_model_table_and_the_docs():
    rows = {r["model"]: r for r in params.whole_model_rows()}
    for name in ("TT-GRU full", "TT-LSTM full", "TR-LSTM full", "BT-LSTM full", "HT-LSTM full"):
        assert rows[name]["total"] <= 10_000, name
    for name, gates in (("TT-GRU", 3), ("TT-LSTM", 4)):
        for suffix, fac in (("", False), (" full", True)):
            assert rows[name + suffix]["total"] == whole_tt_model(
                papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, gates, 4, 11, fac)
    assert rows["GRU"]["params"]["input map"] == papers.UCF11_DENSE_PARAMS["gru"]
    # HT rank 7 over ((0, 1), (2, 3)): leaf frames m_k n_k 7, two 7x7x7 transfers, the root's 1x7x7
    ht_u = 4 * 16 * 7 + 3 * 16 * 7 + 2 * 7 ** 3 + 7 ** 2
    ht_w = sum(m * n * 7 for m, n in zip(papers.UCF11_IN_SHAPE, (16, 4, 4, 4))) + 2 * 7 ** 3 + 7 ** 2
    assert rows["HT-LSTM full"]["params"]["recurrent map"] == ht_u == 1_519
    assert rows["HT-LSTM full"]["params"]["input map"] == ht_w == 3_255
    # the docs' table is this command's output, not numbers typed by hand
    table = params.format_whole_model(params.whole_model_rows())
    assert table in (REPO / "docs" / "reproduction.md").read_text()


def test_params_cli_whole_model(capsys):
    import json

    assert params.main(["--whole-model", "--json", "--classes", "5"]) == 0
    data = json.loads(capsys.readouterr().out)["whole_model"]
    assert {r["model"]: r["params"]["head"] for r in data}["TT-GRU full"] == 256 * 5
    with pytest.raises(ValueError, match="--ranks with --whole-model"):
        params.main(["--whole-model", "--ranks", "3"])


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"recurrent_shape": (2, 2)}, r"recurrent_shape=\[2, 2\]: its input modes \[2, 2\] multiply to 4; "
                                  r"expected hidden_size=6"),
    ({"recurrent_shape": [[6], [12]]}, r"recurrent_shape=\[\[6\], \[12\]\]: its output modes \[12\] multiply "
                                       r"to 12; expected gates \* hidden_size = 3 \* 6 = 18"),
    ({"recurrent_shape": [0, 6]}, r"recurrent_shape=\(0, 6\): expected every mode to be a positive integer"),
    ({"recurrent_factorization": "cp"}, r"recurrent_factorization='cp': expected one of"),
    ({"recurrent_rank": [2, 2, 2]}, r"recurrent map \('tt', \[2, 3\] -> \[6, 3\], recurrent_rank=\[2, 2, 2\]\)"),
])
def test_bad_recurrent_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TensorizedGRU(IN, HID, "tt", 2, **{"recurrent_factorization": "tt", **kwargs})


def test_a_factorised_u_needs_a_rank_and_mlp_has_none():
    from tensorrnn.train.module import VideoClassifier

    with pytest.raises(ValueError, match=r"recurrent_rank=None: recurrent_factorization='tt' needs a rank"):
        TensorizedGRU(IN, HID, "dense", recurrent_factorization="tt")
    with pytest.raises(ValueError, match=r"recurrent_factorization='tr' with fully_factorized=True: expected 'tt'"):
        build_classifier("gru", IN, HID, 3, "tt", 2, fully_factorized=True, recurrent_factorization="tr")
    with pytest.raises(ValueError, match=r"fully_factorized=True: arch='mlp' has no recurrent map"):
        build_classifier("mlp", IN, HID, 3, "tt", 2, fully_factorized=True)
    with pytest.raises(ValueError, match=r"model.recurrent_factorization='tt' .* model.arch='mlp'"):
        VideoClassifier("mlp", "tt", [3, 4], [2, 3], rank=2, num_classes=3, recurrent_factorization="tt")
