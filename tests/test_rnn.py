"""Tensorised RNN / GRU / LSTM: equal to torch.nn with a dense map, to a step-by-step reference
with a factorised map, paper parameter counts, gradients, masking and bad input."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tensorrnn import papers
from tensorrnn.nn import (
    BTGRU, BTLSTM, BTRNN, HTGRU, HTLSTM, HTRNN, TRGRU, TRLSTM, TRRNN, TTGRU, TTLSTM, TTRNN,
    DenseLinear, TensorizedGRU, TensorizedLSTM, TensorizedRNN,
)
from tensorrnn.nn.rnn import gru_scan

F64 = torch.float64
CLASSES = {"rnn": TensorizedRNN, "gru": TensorizedGRU, "lstm": TensorizedLSTM}
TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
CELLS = {"rnn": nn.RNNCell, "gru": nn.GRUCell, "lstm": nn.LSTMCell}
IN, HID = (3, 4), (2, 3)            # 12 inputs, 6 hidden units
RANKS = {"tt": 2, "tr": 2, "bt": 2, "ht": 2}


def copy_from_torch(model, ref) -> None:
    """Load torch.nn.RNN/GRU/LSTM weights into a factorization="dense" model."""
    D = 2 if ref.bidirectional else 1
    for layer in range(ref.num_layers):
        for d in range(D):
            sfx = "_reverse" if d else ""
            proj = model.input_projs[layer * D + d]
            w_ih, b_ih = getattr(ref, f"weight_ih_l{layer}{sfx}"), getattr(ref, f"bias_ih_l{layer}{sfx}")
            lin = nn.Linear(w_ih.shape[1], w_ih.shape[0], dtype=w_ih.dtype)
            with torch.no_grad():
                lin.weight.copy_(w_ih)
                lin.bias.copy_(b_ih)
            proj.load_state_dict(DenseLinear.from_linear(lin, proj.in_shape, proj.out_shape).state_dict())
            w_hh, b_hh = model.recurrent_weights(layer, reverse=bool(d))
            with torch.no_grad():
                w_hh.copy_(getattr(ref, f"weight_hh_l{layer}{sfx}"))
                b_hh.copy_(getattr(ref, f"bias_hh_l{layer}{sfx}"))


def random_state(mode, L, B, H):
    h = torch.randn(L, B, H, dtype=F64)
    return (h, torch.randn(L, B, H, dtype=F64)) if mode == "lstm" else h


def assert_states_equal(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y)
    else:
        torch.testing.assert_close(a, b)


# --- dense map == torch.nn -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers,bidirectional,with_state", [(1, False, False), (2, True, True), (2, False, True)])
def test_dense_equals_torch(mode, num_layers, bidirectional, with_state):
    torch.manual_seed(0)
    model = CLASSES[mode](IN, HID, "dense", num_layers=num_layers, bidirectional=bidirectional, dtype=F64)
    ref = TORCH[mode](12, 6, num_layers=num_layers, bidirectional=bidirectional, batch_first=True, dtype=F64)
    copy_from_torch(model, ref)
    x = torch.randn(4, 5, 12, dtype=F64)
    hx = random_state(mode, num_layers * (2 if bidirectional else 1), 4, 6) if with_state else None
    out, state = model(x, hx)
    out_ref, state_ref = ref(x, hx)
    torch.testing.assert_close(out, out_ref)
    assert_states_equal(state, state_ref)


@pytest.mark.parametrize("mode", ["gru", "lstm"])
def test_dense_lengths_equal_torch_packed(mode):
    torch.manual_seed(1)
    model = CLASSES[mode](IN, HID, "dense", num_layers=2, bidirectional=True, dtype=F64)
    ref = TORCH[mode](12, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=F64)
    copy_from_torch(model, ref)
    x = torch.randn(3, 5, 12, dtype=F64)
    lengths = torch.tensor([5, 2, 4])
    out, state = model(x, lengths=lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_ref, state_ref = ref(packed)
    out_ref, _ = nn.utils.rnn.pad_packed_sequence(out_ref, batch_first=True, total_length=5)
    torch.testing.assert_close(out, out_ref)          # padded steps are zero in both
    assert_states_equal(state, state_ref)


def test_time_major_and_unbatched_match_batch_first():
    torch.manual_seed(2)
    model = TensorizedGRU(IN, HID, "dense", dtype=F64)
    time_major = TensorizedGRU(IN, HID, "dense", batch_first=False, dtype=F64)
    time_major.load_state_dict(model.state_dict())
    x = torch.randn(3, 5, 12, dtype=F64)
    out, h = model(x)
    out_t, h_t = time_major(x.transpose(0, 1))
    torch.testing.assert_close(out_t.transpose(0, 1), out)
    torch.testing.assert_close(h_t, h)
    out_1, h_1 = model(x[1])                              # (T, F): unbatched, like torch
    torch.testing.assert_close(out_1, out[1])
    torch.testing.assert_close(h_1, h[:, 1])


# --- factorised map == step-by-step reference with the reconstructed dense weight -------------

@pytest.mark.parametrize("factorization", ["tt", "tr", "bt", "ht"])
@pytest.mark.parametrize("mode", ["rnn", "gru", "lstm"])
def test_factorized_equals_stepwise_cell(factorization, mode):
    torch.manual_seed(3)
    model = CLASSES[mode](IN, HID, factorization, RANKS[factorization], dtype=F64)
    with torch.no_grad():                                 # non-zero biases everywhere
        model.input_proj.bias.uniform_(-0.5, 0.5)
    cell = CELLS[mode](12, 6, dtype=F64)
    with torch.no_grad():
        cell.weight_ih.copy_(model.input_proj.to_dense())
        cell.bias_ih.copy_(model.input_proj.bias)
        cell.weight_hh.copy_(model.weight_hh_l0)
        cell.bias_hh.copy_(model.bias_hh_l0)
    x = torch.randn(3, 4, 12, dtype=F64)
    hx = random_state(mode, 1, 3, 6)
    out, state = model(x, hx)
    h = (hx[0][0], hx[1][0]) if mode == "lstm" else hx[0]
    for t in range(4):
        h = cell(x[:, t], h)
        torch.testing.assert_close(out[:, t], h[0] if mode == "lstm" else h)
    assert_states_equal(state, (h[0][None], h[1][None]) if mode == "lstm" else h[None])


def test_gru_paper_placement_and_hard_sigmoid():
    """reset_after=False + hard_sigmoid: n = tanh(W_n x + b_in + U_n (r * h) + b_hn), Keras' 0.2 slope."""
    torch.manual_seed(4)
    model = TensorizedGRU(IN, HID, "tt", 2, reset_after=False, gate_activation="hard_sigmoid", dtype=F64)
    W, b = model.input_proj.to_dense(), model.input_proj.bias
    U, c = model.weight_hh_l0, model.bias_hh_l0
    hard = lambda v: torch.clamp(0.2 * v + 0.5, 0, 1)  # noqa: E731
    x = torch.randn(2, 3, 12, dtype=F64)
    h = torch.zeros(2, 6, dtype=F64)
    out, _ = model(x)
    for t in range(3):
        gi = x[:, t] @ W.T + b
        r = hard(gi[:, :6] + h @ U[:6].T + c[:6])
        z = hard(gi[:, 6:12] + h @ U[6:12].T + c[6:12])
        n = torch.tanh(gi[:, 12:] + (r * h) @ U[12:].T + c[12:])
        h = (1 - z) * n + z * h
        torch.testing.assert_close(out[:, t], h)
    reset_after = TensorizedGRU(IN, HID, "tt", 2, gate_activation="hard_sigmoid", dtype=F64)
    reset_after.load_state_dict(model.state_dict())
    assert not torch.allclose(reset_after(x)[0], out)      # the two placements differ


def test_paper_init_orthogonal_and_forget_bias():
    model = TensorizedLSTM(IN, (2, 4), "tt", 2, recurrent_init="orthogonal", forget_bias=1.0, dtype=F64)
    U, b = model.weight_hh_l0, model.bias_hh_l0
    for g in range(4):                                     # Keras: one orthogonal U per gate
        block = U[g * 8:(g + 1) * 8]
        torch.testing.assert_close(block @ block.T, torch.eye(8, dtype=F64))
    expected = torch.zeros(32, dtype=F64)
    expected[8:16] = 1.0                                   # gates i, f, g, o: f gets +1
    torch.testing.assert_close(b.detach(), expected)
    torch_like = TensorizedLSTM(IN, (2, 4), "tt", 2, dtype=F64)
    bound = 1 / math.sqrt(8)
    assert torch_like.weight_hh_l0.abs().max() <= bound and torch_like.weight_hh_l0.std() > bound / 3


# --- parameter counts: the TT-RNN paper's table ------------------------------------------------

@pytest.mark.parametrize("rank", sorted(papers.TT_PARAM_TABLE))
def test_counts_equal_tt_rnn_table(rank):
    published = papers.TT_PARAM_TABLE[rank]
    shapes = (papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE)

    def count(cls, shared):
        rnn = cls(*shapes, "tt", rank, shared_gates=shared, bias=False)
        return sum(p.numel() for p in rnn.input_proj.parameters())

    assert count(TensorizedLSTM, True) == published["tt_lstm"]
    assert count(TensorizedLSTM, False) == published["vanilla_tt_lstm"]
    assert count(TensorizedGRU, True) == published["tt_gru"]
    assert count(TensorizedGRU, False) == published["vanilla_tt_gru"]
    assert count(TensorizedRNN, True) == published["ttl"]


def test_packed_map_is_gate_major_and_per_gate_layers():
    lstm = TTLSTM(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 4)
    assert lstm.input_proj.out_shape == (16, 4, 4, 4) and lstm.input_proj.in_shape == papers.UCF11_IN_SHAPE
    gru = TTGRU(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 4, shared_gates=False)
    assert len(gru.input_proj) == 3 and all(g.out_shape == (4, 4, 4, 4) for g in gru.input_proj)
    assert gru.weight_hh_l0.shape == (768, 256) and gru.bias_hh_l0.shape == (768,)


def test_per_gate_maps_concatenate_in_gate_order():
    torch.manual_seed(5)
    model = TensorizedGRU(IN, HID, "tt", 2, shared_gates=False, dtype=F64)
    cell = nn.GRUCell(12, 6, dtype=F64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.cat([g.to_dense() for g in model.input_proj]))
        cell.bias_ih.copy_(torch.cat([g.bias for g in model.input_proj]))
        cell.weight_hh.copy_(model.weight_hh_l0)
        cell.bias_hh.copy_(model.bias_hh_l0)
    x = torch.randn(2, 3, 12, dtype=F64)
    h = torch.zeros(2, 6, dtype=F64)
    for t in range(3):
        h = cell(x[:, t], h)
    torch.testing.assert_close(model(x)[1][0], h)


def test_named_classes_fix_the_factorization():
    expected = {TTRNN: "tt", TTGRU: "tt", TTLSTM: "tt", TRRNN: "tr", TRGRU: "tr", TRLSTM: "tr",
                BTRNN: "bt", BTGRU: "bt", BTLSTM: "bt", HTRNN: "ht", HTGRU: "ht", HTLSTM: "ht"}
    for cls, fact in expected.items():
        model = cls(IN, HID, 2)
        assert model.factorization == fact and type(model.input_proj).__name__ == f"{fact.upper()}Linear"
    assert isinstance(TRLSTM(IN, HID, 2), TensorizedLSTM)


def test_upper_layers_map_the_hidden_state():
    model = TensorizedLSTM(IN, HID, "tt", 2, num_layers=2, bidirectional=True)
    assert model.input_projs[2].in_shape == (4, 3)        # 2 directions x (2, 3) hidden
    assert model.input_projs[2].out_shape == (8, 3)
    dense_upper = TensorizedLSTM(IN, HID, "tt", 2, num_layers=2, upper_factorization="dense")
    assert isinstance(dense_upper.input_projs[1], DenseLinear) and dense_upper.input_projs[1].in_features == 6


def test_caller_arguments_are_not_mutated():
    in_shape, hidden, rank = [3, 4], [2, 3], [1, 2, 1]
    model = TensorizedLSTM(in_shape, hidden, "tt", rank, num_layers=2, upper_rank=2)
    model(torch.randn(2, 3, 12))
    assert in_shape == [3, 4] and hidden == [2, 3] and rank == [1, 2, 1]
    rank[1] = 5
    assert model.rank == (1, 2, 1)


# --- gradients ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["gru", "lstm"])
def test_gradcheck_small_model(mode):
    torch.manual_seed(6)
    model = CLASSES[mode]((2, 3), (2, 2), "tt", 2, recurrent_dropout=0.0, dtype=F64)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in model.parameters())
    x = torch.randn(2, 3, 6, dtype=F64, requires_grad=True)

    def f(x, *ps):
        out, state = torch.func.functional_call(model, dict(zip(names, ps)), (x,))
        return out, state[1] if mode == "lstm" else state

    assert torch.autograd.gradcheck(f, (x, *params))


def _reference_loss(model, x):
    """The Keras way: the input map applied inside every step (LSTM cell written out)."""
    H = model.hidden_size
    h = c = torch.zeros(x.shape[0], H, dtype=x.dtype)
    total = 0.0
    for t in range(x.shape[1]):
        g = model.input_proj(x[:, t]) + h @ model.weight_hh_l0.T + model.bias_hh_l0
        i, f, gg, o = g.split(H, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(c)
        total = total + (h ** 2).sum() * (t + 1)
    return total


@pytest.mark.parametrize("factorization", ["tt", "tr", "bt", "ht"])
def test_hoisted_input_map_gives_same_gradients(factorization):
    torch.manual_seed(7)
    model = TensorizedLSTM(IN, HID, factorization, 2, dtype=F64)
    x = torch.randn(3, 4, 12, dtype=F64, requires_grad=True)
    out, _ = model(x)
    loss = sum((out[:, t] ** 2).sum() * (t + 1) for t in range(4))
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    ref = torch.autograd.grad(_reference_loss(model, x), [x, *model.parameters()])
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b)


# --- lengths, dropout --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["rnn", "lstm"])
def test_lengths_state_is_last_valid_step(mode):
    torch.manual_seed(8)
    model = CLASSES[mode](IN, HID, "tt", 2, bidirectional=True, dtype=F64)
    x = torch.randn(3, 5, 12, dtype=F64)
    lengths = torch.tensor([5, 1, 3])
    out, state = model(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        out_b, state_b = model(x[b:b + 1, :n])             # the sequence alone, unpadded
        torch.testing.assert_close(out[b:b + 1, :n], out_b)
        assert torch.count_nonzero(out[b, n:]) == 0
        if mode == "lstm":
            torch.testing.assert_close(state[0][:, b:b + 1], state_b[0])
            torch.testing.assert_close(state[1][:, b:b + 1], state_b[1])
        else:
            torch.testing.assert_close(state[:, b:b + 1], state_b)


def test_recurrent_dropout_one_mask_per_sequence():
    """Zero input, U = a I: h_t = tanh(a m * h_{t-1}); a unit dropped once stays dropped."""
    p, a = 0.5, 1.5
    model = TensorizedRNN((2,), (100,), "dense", recurrent_dropout=p, bias=False, dtype=F64)
    with torch.no_grad():
        model.weight_hh_l0.copy_(a * torch.eye(100, dtype=F64))
    x = torch.zeros(8, 4, 2, dtype=F64)
    h0 = torch.full((1, 8, 100), 0.5, dtype=F64)
    torch.manual_seed(9)
    out, _ = model.train()(x, h0)
    dropped = out[:, 0] == 0                                      # (B, H)
    for t in range(1, 4):
        assert torch.equal(out[:, t] == 0, dropped)
    assert 0.35 < dropped.double().mean() < 0.65                  # 800 units, p = 0.5
    torch.testing.assert_close(out[:, 0][~dropped], torch.tanh(torch.tensor(a * 0.5 / (1 - p), dtype=F64)).expand(int((~dropped).sum())))
    assert dropped[0].ne(dropped[1]).any()                        # masks differ between sequences
    out_eval, _ = model.eval()(x, h0)
    torch.testing.assert_close(out_eval[:, 0], torch.full((8, 100), math.tanh(a * 0.5), dtype=F64))


def test_scan_traces_without_graph_breaks():
    """The per-step loop is plain tensor code: torch.compile can capture it as one graph."""
    torch._dynamo.reset()
    compiled = torch.compile(gru_scan, backend="eager", fullgraph=True)
    gi, h, w = torch.randn(3, 2, 12), torch.randn(2, 4), torch.randn(12, 4)
    mask = torch.tensor([[True, True], [True, False], [False, False]])[..., None]
    out, h_n = compiled(gi, h, w, None, mask, None, False, True, True)
    ref_out, ref_h = gru_scan(gi, h, w, None, mask, None, False, True, True)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h_n, ref_h)


# --- bad input ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gru():
    return TensorizedGRU(IN, HID, "tt", 2, num_layers=2)


@pytest.mark.parametrize("call,match", [
    (lambda m: m(torch.randn(2, 3, 11)), "in_features=12"),
    (lambda m: m(torch.randn(2, 3, 4, 3)), "3-D"),
    (lambda m: m(torch.randn(2, 3, 12), lengths=torch.tensor([4, 2])), r"\[1, 3\]"),
    (lambda m: m(torch.randn(2, 3, 12), lengths=torch.tensor([0, 2])), r"\[1, 3\]"),
    (lambda m: m(torch.randn(2, 3, 12), lengths=torch.tensor([3])), r"shape \(2,\)"),
    (lambda m: m(torch.randn(2, 3, 12), torch.zeros(1, 2, 6)), r"expected \(2, 2, 6\)"),
    (lambda m: m(torch.full((2, 3, 12), float("nan"))), "NaN or inf"),
    (lambda m: m(torch.randn(2, 3, 12), torch.full((2, 2, 6), float("inf"))), "NaN or inf"),
])
def test_bad_input_raises(gru, call, match):
    with pytest.raises(ValueError, match=match):
        call(gru)


def test_bad_lstm_state_and_constructor_arguments():
    lstm = TensorizedLSTM(IN, HID, "tt", 2)
    with pytest.raises(ValueError, match=r"tuple \(h_0, c_0\)"):
        lstm(torch.randn(2, 3, 12), torch.zeros(1, 2, 6))
    with pytest.raises(ValueError, match="factorization='cp'"):
        TensorizedLSTM(IN, HID, "cp", 2)
    with pytest.raises(ValueError, match="forget_bias"):
        TensorizedGRU(IN, HID, "tt", 2, forget_bias=1.0)
    with pytest.raises(ValueError, match="recurrent_dropout=1.0"):
        TensorizedGRU(IN, HID, "tt", 2, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="gate_activation"):
        TensorizedGRU(IN, HID, "tt", 2, gate_activation="relu")


def test_nonfinite_parameters_are_named():
    model = TensorizedRNN(IN, HID, "tt", 2)
    with torch.no_grad():
        model.input_proj.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="parameters are not finite"):
        model(torch.randn(2, 3, 12))
