"""The factorised linear layers: one suite, parametrised over the formats."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tensorrnn import papers
from tensorrnn.nn import BTLinear, DenseLinear, FactorizedLinear, HTLinear, TRLinear, TTLinear, factorized_linear
from tensorrnn.tensor import bt_norm, ht_norm, tr_norm, tt_norm

# (factorization, in_shape, out_shape, rank, blocks): small shapes for float64 checks
CASES = [
    ("tt", (2, 3, 4), (3, 2, 2), 3, 1),
    ("tt", (4, 5), (2, 6), [1, 4, 1], 1),
    ("tr", (2, 3, 4), (3, 4), [2, 3, 4, 3, 2], 1),
    ("tr", (3, 4), (2, 3, 2), 2, 1),
    ("bt", (2, 3, 4), (3, 2, 2), 2, 2),
    ("bt", (4, 5), (2, 6), [3, 2], 1),
    ("ht", (2, 3, 4, 2), (3, 2, 2, 2), 3, 1),
    ("ht", (2, 3, 2, 2, 3), (2, 2, 3, 2, 1), [2, 3, 2, 2, 3, 4, 2, 3], 1),
    ("dense", (2, 3, 4), (3, 2, 2), None, 1),
]
IDS = [f"{c[0]}-{'x'.join(map(str, c[1]))}-{'x'.join(map(str, c[2]))}-{c[4]}b" for c in CASES]
GATED = (papers.UCF11_HIDDEN_SHAPE[0] * papers.NUM_GATES["lstm"], *papers.UCF11_HIDDEN_SHAPE[1:])
TR_GATED = (papers.TR_UCF11_HIDDEN_SHAPE[0] * papers.NUM_GATES["lstm"], *papers.TR_UCF11_HIDDEN_SHAPE[1:])
TR_RANK = [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * 12


def make(case, **kwargs) -> FactorizedLinear:
    fact, in_shape, out_shape, rank, blocks = case
    kwargs.setdefault("dtype", torch.float64)
    return factorized_linear(fact, in_shape, out_shape, rank=rank, blocks=blocks, **kwargs)


# --- the forward is the dense map ---------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_equals_dense_reference(case):
    torch.manual_seed(0)
    layer = make(case)
    nn.init.normal_(layer.bias)  # a non-zero bias, so its addition is checked too
    x = torch.randn(5, 7, layer.in_features, dtype=torch.float64)  # two leading batch dims
    assert layer.to_dense().shape == (layer.out_features, layer.in_features)
    torch.testing.assert_close(layer(x), F.linear(x, layer.to_dense(), layer.bias), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_float32_close_to_float64(case):
    torch.manual_seed(1)
    layer64 = make(case)
    layer32 = make(case, dtype=torch.float32)
    layer32.load_state_dict({k: v.float() for k, v in layer64.state_dict().items()})
    x = torch.randn(4, layer64.in_features, dtype=torch.float64)
    assert layer32(x.float()).dtype == torch.float32
    torch.testing.assert_close(layer32(x.float()).double(), layer64(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case):
    torch.manual_seed(2)
    layer = make(case)
    params = [p for p in layer.parameters()]
    names = [n for n, _ in layer.named_parameters()]
    x = torch.randn(3, layer.in_features, dtype=torch.float64, requires_grad=True)

    def fn(x, *values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (x,))

    assert torch.autograd.gradcheck(fn, (x, *[p.detach().requires_grad_(True) for p in params]), fast_mode=True)


def test_batch_sizes_get_their_own_plan():
    """The sweep is planned per batch size; every size must give the dense result."""
    torch.manual_seed(3)
    layer = TTLinear((4, 6, 5), (3, 2, 4), rank=3, dtype=torch.float64)
    dense = layer.to_dense()
    for batch in (1, 2, 17, 300):
        x = torch.randn(batch, layer.in_features, dtype=torch.float64)
        torch.testing.assert_close(layer(x), F.linear(x, dense, layer.bias))
    assert layer(torch.randn(0, 120, dtype=torch.float64)).shape == (0, 24)


# --- counts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rank", sorted(papers.TT_PARAM_TABLE))
def test_tt_param_count_matches_paper_table(rank):
    layer = TTLinear(papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, rank, bias=False)
    assert layer.num_factor_params == papers.TT_PARAM_TABLE[rank]["ttl"]
    assert layer.compression_ratio == papers.UCF11_DENSE_PARAMS["fc"] / papers.TT_PARAM_TABLE[rank]["ttl"]


def test_closed_form_counts_of_published_configurations():
    m, n = papers.UCF11_IN_SHAPE, GATED
    r = 4
    tt = TTLinear(m, n, r)
    ranks = [1, r, r, r, 1]
    assert tt.num_factor_params == sum(m[k] * n[k] * ranks[k] * ranks[k + 1] for k in range(4))
    # TR (Pan et al.): sum_i R_{i-1} I_i R_i + sum_j R_{n+j-1} O_j R_{n+j}, R_{n+m} = R_0
    tr = TRLinear(papers.TR_UCF11_IN_SHAPE, TR_GATED, TR_RANK)
    dims = [*papers.TR_UCF11_IN_SHAPE, *TR_GATED]
    ring = TR_RANK + [TR_RANK[0]]
    assert tr.num_factor_params == sum(ring[k] * dims[k] * ring[k + 1] for k in range(len(dims))) == 1725
    # the TR paper reports "over 34,000x" compression over the LSTM's input map
    assert tr.compression_ratio > papers.TR_UCF11_REPORTED_COMPRESSION
    # BT (Ye et al.): N (sum_k I_k J_k R_k + prod_k R_k)
    bt = BTLinear(m, n, papers.BT_UCF11_RANK, blocks=papers.BT_UCF11_BLOCKS)
    R = papers.BT_UCF11_RANK
    assert bt.num_factor_params == papers.BT_UCF11_BLOCKS * (sum(i * j * R for i, j in zip(m, n)) + R ** 4)
    dense = DenseLinear(m, n)
    assert dense.num_factor_params == papers.UCF11_DENSE_PARAMS["lstm"]
    assert dense.macs == papers.UCF11_DENSE_PARAMS["lstm"]
    # HT: sum_k I_k J_k r_k + sum_t r_t r_l r_r over the balanced tree ((0, 1), (2, 3)), root rank 1
    ht = HTLinear(m, n, r)
    assert ht.ranks == [r] * 6 + [1]
    assert ht.num_factor_params == sum(i * j * r for i, j in zip(m, n)) + 2 * r ** 3 + r ** 2 == 1584
    for layer in (tt, tr, bt, ht):  # every factorised map costs far fewer multiply-adds per frame
        assert 0 < layer.macs < dense.macs / 10


# --- initialisation ----------------------------------------------------------------------------------

def _weight_variance(layer: FactorizedLinear) -> float:
    """Mean square of the reconstructed weight, without building it for the big layers."""
    if isinstance(layer, TTLinear):
        norm = tt_norm(list(layer.cores))
    elif isinstance(layer, TRLinear):
        norm = tr_norm(list(layer.cores))
    elif isinstance(layer, BTLinear):
        norm = bt_norm(layer.core, list(layer.factors))
    elif isinstance(layer, HTLinear):
        norm = ht_norm(list(layer.leaves), list(layer.transfers), layer.tree)
    else:
        norm = layer.weight.norm()
    return float(norm.detach().double() ** 2) / (layer.in_features * layer.out_features)


INIT_CASES = [
    ("tt", papers.UCF11_IN_SHAPE, GATED, 4, 1),
    ("tt", (4, 5, 6), (3, 3, 3), [1, 7, 2, 1], 1),
    ("tr", papers.TR_UCF11_IN_SHAPE, TR_GATED, TR_RANK, 1),
    ("tr", (5, 6), (4, 3, 2), 3, 1),
    ("bt", papers.UCF11_IN_SHAPE, GATED, 4, 2),
    ("bt", (5, 6, 4), (3, 3, 3), [2, 3, 4], 3),
    ("ht", papers.UCF11_IN_SHAPE, GATED, 7, 1),
    ("ht", (5, 6, 4), (3, 3, 3), [2, 3, 4, 5, 1], 1),
    ("dense", (10, 12), (6, 5), None, 1),
]


@pytest.mark.parametrize("init", ["glorot", "he"])
@pytest.mark.parametrize("case", INIT_CASES, ids=[f"{c[0]}-{c[1]}" for c in INIT_CASES])
def test_init_reproduces_dense_weight_std(case, init):
    """The mean square of the weight over independent inits equals the documented variance.

    The weight entries of one init are not independent (they share the cores), so the
    tolerance comes from the spread between K independent inits: the mean of K draws is
    within 5 standard errors of its expectation (and that error is small enough to catch
    a variance off by a factor of 2).
    """
    torch.manual_seed(4)
    k = 40
    draws = torch.tensor([_weight_variance(make(case, init=init)) for _ in range(k)])
    layer = make(case, init=init)
    target = {"glorot": 2.0 / (layer.in_features + layer.out_features), "he": 2.0 / layer.in_features}[init]
    assert layer.weight_std == pytest.approx(math.sqrt(target))
    ratio = draws / target
    stderr = float(ratio.std()) / math.sqrt(k)
    assert abs(float(ratio.mean()) - 1.0) < 5 * stderr + 1e-3
    assert stderr < 0.15  # the statistic is informative: a 2x error in variance cannot pass


@pytest.mark.parametrize("case", INIT_CASES[::2], ids=[c[0] for c in INIT_CASES[::2]])
def test_output_of_unit_input_has_order_one_std(case):
    torch.manual_seed(5)
    layer = make(case, dtype=torch.float32)
    x = torch.randn(16, layer.in_features)
    expected = math.sqrt(layer.in_features) * layer.weight_std  # sqrt(2 in / (in + out))
    with torch.no_grad():
        std = float(layer(x).std())
    assert 0.5 * expected < std < 2.0 * expected
    assert 0.5 < std < 2.0


# --- from_linear ---------------------------------------------------------------------------------------

def _linear_from(weight_io: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight_io.shape[0], weight_io.shape[1], dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(weight_io.T)
        linear.bias.normal_()
    return linear


EXACT_CASES = [  # a source layer of this format and rank: from_linear must recover it
    ("tt", (4, 5, 3), (3, 4, 2), [1, 3, 2, 1], 1),
    ("tr", (4, 5, 4), (4, 5), 2, 1),
    ("bt", (4, 5, 3), (3, 4, 2), [2, 3, 2], 1),
    ("ht", (4, 5, 3, 2), (3, 4, 2, 2), [2, 3, 2, 3, 4, 3], 1),
    ("dense", (4, 5), (3, 4), None, 1),
]


@pytest.mark.parametrize("case", EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
def test_from_linear_recovers_exact_low_rank(case):
    torch.manual_seed(6)
    source = make(case, init="he")
    linear = _linear_from(source.to_dense().T.detach())
    cls = type(source)
    kwargs = {"blocks": case[4]} if cls is BTLinear else {}
    layer = cls.from_linear(linear, case[1], case[2], case[3], **kwargs)
    assert layer.decomposition_error < 1e-6
    rel = (layer.to_dense() - linear.weight).detach().norm() / linear.weight.detach().norm()
    assert float(rel) < 1e-6
    x = torch.randn(3, linear.in_features, dtype=torch.float64)
    torch.testing.assert_close(layer(x), linear(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fact", ["tt", "tr", "bt", "ht"])
def test_from_linear_reports_error_of_a_full_rank_matrix(fact):
    torch.manual_seed(7)
    linear = _linear_from(torch.randn(20, 12, dtype=torch.float64))
    cls = {"tt": TTLinear, "tr": TRLinear, "bt": BTLinear, "ht": HTLinear}[fact]
    kwargs = {} if fact in ("tt", "ht") else {"als_iters": 3}  # ALS cannot reach zero here; a few sweeps
    layer = cls.from_linear(linear, (4, 5), (3, 4), 2, **kwargs)
    with torch.no_grad():
        actual = float((layer.to_dense() - linear.weight).norm() / linear.weight.norm())
    assert layer.decomposition_error == pytest.approx(actual, rel=1e-9)
    assert 0.05 < actual < 1.0  # a rank-2 fit of a random 20 x 12 matrix is neither exact nor useless


def test_tt_from_linear_error_is_quasi_optimal():
    """TT-SVD is within sqrt(d-1) of the best fit; with two modes it is the Eckart-Young optimum."""
    torch.manual_seed(8)
    w = torch.randn(12, 20, dtype=torch.float64)  # (I, O) with I = 3*4, O = 4*5
    linear = _linear_from(w)
    layer = TTLinear.from_linear(linear, (3, 4), (4, 5), rank=3)
    s = torch.linalg.svdvals(w.reshape(3, 4, 4, 5).permute(0, 2, 1, 3).reshape(12, 20))
    assert layer.decomposition_error == pytest.approx(float(s[3:].norm() / s.norm()), rel=1e-9)


# --- bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: TTLinear((2, 3), (3, 2), rank=0), r"rank=0.*positive"),
    (lambda: TTLinear((2, 3, 4), (3, 2, 2), rank=[2, 2, 2, 2, 2, 2]), r"rank=\[2, 2, 2, 2, 2, 2\].*expected"),
    (lambda: TTLinear((2, 3, 4), (3, 2, 2), rank=[2, 2, 2, 2]), r"r_0 = r_d = 1"),
    (lambda: TTLinear((2, 3), (3, 2, 2), rank=2), r"out_shape=\(3, 2, 2\).*2 modes"),
    (lambda: TRLinear((2, 3), (3, 2), rank=[2, 2, 2]), r"rank=\[2, 2, 2\].*4 entries"),
    (lambda: TRLinear((2, 3), (3, 2), rank=[2, -1, 2, 2]), r"positive"),
    (lambda: BTLinear((2, 3), (3, 2), rank=2, blocks=0), r"blocks=0"),
    (lambda: BTLinear((2, 3), (3, 2), rank=[2, 2, 2]), r"rank=\[2, 2, 2\].*2 entries"),
    (lambda: HTLinear((2, 3, 4, 2), (3, 2, 2, 2), rank=[2, 2, 2]), r"rank=\[2, 2, 2\].*6 ranks.*4 modes"),
    (lambda: HTLinear((2, 3, 4, 2), (3, 2, 2, 2), rank=[2, 2, 0, 2, 2, 2]), r"rank=\[2, 2, 0, 2, 2, 2\].*positive"),
    (lambda: HTLinear((2, 3, 4, 2), (3, 2, 2, 2), rank=[2] * 7), r"rank=\[2, 2, 2, 2, 2, 2, 2\].*root's rank, expected 1"),
    (lambda: HTLinear((2, 3, 4, 2), (3, 2, 2, 2), rank=2, tree=((0, 1), 2)), r"tree=\(\(0, 1\), 2\).*leaves are \[0, 1, 2\].*4 modes"),
    (lambda: HTLinear((2, 3, 4), (3, 2, 2), rank=2, tree=((0, 2), 1)), r"tree=\(\(0, 2\), 1\).*in order"),
    (lambda: HTLinear((2, 3, 4), (3, 2, 2), rank=2, tree=(0, 1, 2)), r"tree=\(0, 1, 2\).*neither a mode nor a pair"),
    (lambda: HTLinear((2, 3), (3, 2, 2), rank=2), r"out_shape=\(3, 2, 2\).*2 modes"),
    (lambda: TTLinear((2, 0), (3, 2), rank=2), r"in_shape=\(2, 0\)"),
    (lambda: TTLinear((2, 3), (3, 2), rank=2, init="xavier"), r"init='xavier'"),
    (lambda: factorized_linear("cp", (2, 3), (3, 2), rank=2), r"factorization='cp'"),
    (lambda: factorized_linear("tt", (2, 3), (3, 2)), r"rank=None"),
    (lambda: factorized_linear("tt", (2, 3), (3, 2), rank=2, blocks=2), r"blocks=2"),
    (lambda: TTLinear.from_linear(nn.Linear(6, 5), (2, 3), (3, 2), 2), r"Linear\(6, 5\).*out_features=6"),
])
def test_bad_arguments_raise_value_error_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_input_width_is_a_value_error(case):
    layer = make(case)
    with pytest.raises(ValueError, match=rf"input.shape=\(4, {layer.in_features + 1}\).*in_features={layer.in_features}"):
        layer(torch.randn(4, layer.in_features + 1, dtype=torch.float64))


def test_ranks_larger_than_useful_are_clipped_and_noted():
    tt = TTLinear((2, 3, 4), (2, 2, 2), rank=100)
    assert tt.ranks == [1, 4, 8, 1]  # min(prod left, prod right) of m_k n_k = 4, 6, 8
    assert "clipped from [1, 100, 100, 1]" in repr(tt)
    bt = BTLinear((2, 3), (2, 2), rank=[9, 2])
    assert bt.ranks == [2, 2] and "clipped from [9, 2]" in repr(bt)
    tr = TRLinear((2, 3), (2,), rank=[1, 50, 1])
    assert tr.ranks == [1, 2, 1] and "clipped" in repr(tr)
    # HT over ((0, 1), 2): a leaf at most m_k n_k (4, 6, 8); each rank of a transfer tensor at
    # most the product of its other two; the root's rank 1 makes its children's ranks equal
    ht = HTLinear((2, 3, 4), (2, 2, 2), rank=[100, 3, 5, 100])
    assert ht.ranks == [4, 3, 5, 5, 1] and "clipped from [100, 3, 5, 100, 1]" in repr(ht)
    assert "clipped" not in repr(TTLinear((2, 3, 4), (2, 2, 2), rank=3))


# --- module conventions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_module_conventions(case):
    layer = make(case)
    assert layer.in_features == math.prod(case[1]) and layer.out_features == math.prod(case[2])
    assert layer.in_shape == case[1] and layer.out_shape == case[2]
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert layer.compression_ratio == layer.in_features * layer.out_features / layer.num_factor_params
    assert layer.num_factor_params == sum(p.numel() for p in layer.parameters()) - layer.out_features
    with torch.no_grad():
        layer.bias.fill_(1.0)
    layer.reset_parameters()
    assert not layer.bias.detach().any()
    assert f"in_shape={case[1]}" in repr(layer)
    no_bias = make(case, bias=False)
    assert no_bias.bias is None
    x = torch.randn(2, layer.in_features, dtype=torch.float64)
    torch.testing.assert_close(no_bias(x), F.linear(x, no_bias.to_dense()))
