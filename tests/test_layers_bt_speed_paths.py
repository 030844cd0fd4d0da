"""The block-term sweep (``plan.plan_bt`` + ``bt_contract``): every split and chunking is the dense map."""
from __future__ import annotations

import math

import pytest
import torch

from tensorrnn import papers
from tensorrnn.nn import BTLinear
from tensorrnn.tensor import bt_contract, bt_macs, bt_shapes, bt_to_dense, plan
from tensorrnn.tensor.bt import bt_network

# (in_shape, out_shape, ranks, blocks): 1 to 5 modes, uneven ranks, a rank-1 mode, 1 to 3 blocks
CASES = [
    ((5,), (7,), [3], 2),
    ((4, 5), (2, 6), [3, 2], 1),
    ((2, 3, 4), (3, 2, 2), [2, 3, 2], 2),
    ((3, 2, 2, 3), (2, 3, 2, 2), [2, 1, 3, 2], 3),
    ((2, 2, 3, 2, 2), (2, 3, 2, 1, 2), [2, 2, 2, 1, 2], 2),
]
IDS = [f"{'x'.join(map(str, c[0]))}-{'x'.join(map(str, c[1]))}-{c[3]}b" for c in CASES]
GATED = (papers.UCF11_HIDDEN_SHAPE[0] * papers.NUM_GATES["lstm"], *papers.UCF11_HIDDEN_SHAPE[1:])


def random_bt(in_shape, out_shape, ranks, blocks, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    core_shape, factor_shapes = bt_shapes(in_shape, out_shape, ranks, blocks)
    core = torch.randn(core_shape, generator=g, dtype=dtype)
    factors = [torch.randn(s, generator=g, dtype=dtype) for s in factor_shapes]
    return core, factors


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_split_and_chunking_equals_dense(case):
    in_shape, out_shape, ranks, blocks = case
    core, factors = random_bt(*case)
    x = torch.randn(2, 5, math.prod(in_shape), dtype=torch.float64)  # two leading batch dims
    expected = x @ bt_to_dense(core, factors)
    for split in range(len(in_shape)):
        for chunk in (1, 3, 10):  # 3: the last of the 10 rows' chunks is shorter
            y = bt_contract(x, core, factors, sweep=plan.BTPlan(split, chunk, 0))
            torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12, msg=f"split={split}, chunk={chunk}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_planned_sweep_equals_opt_einsum_network(case):
    """The default (planned) path against the plain network contraction it replaced."""
    core, factors = random_bt(*case, seed=1)
    x = torch.randn(7, math.prod(case[0]), dtype=torch.float64)
    reference = plan.contract(bt_network(len(case[0])), x.reshape(7, *case[0]), core, *factors).reshape(7, -1)
    torch.testing.assert_close(bt_contract(x, core, factors), reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_every_split(case):
    core, factors = random_bt(*case, seed=2)
    x = torch.randn(3, math.prod(case[0]), dtype=torch.float64)
    for split in range(len(case[0])):
        sweep = plan.BTPlan(split, 2, 0)  # two chunks: gradients of both must be accumulated

        def fn(x, core, *factors):
            return bt_contract(x, core, factors, sweep=sweep)

        inputs = [t.clone().requires_grad_(True) for t in (x, core, *factors)]
        assert torch.autograd.gradcheck(fn, inputs, fast_mode=True), f"split={split}"


def test_parameter_gradients_equal_dense_gradients():
    """The layer's backward (input needs no grad, as in training) against the dense weight's."""
    torch.manual_seed(3)
    layer = BTLinear((3, 4, 2), (2, 2, 3), rank=[2, 2, 2], blocks=2, dtype=torch.float64)
    x = torch.randn(6, layer.in_features, dtype=torch.float64)
    upstream = torch.randn(6, layer.out_features, dtype=torch.float64)
    (layer(x) * upstream).sum().backward()
    params = [layer.core, *layer.factors]
    grads = [p.grad.clone() for p in params]
    dense = torch.autograd.grad((torch.nn.functional.linear(x, layer.to_dense()) * upstream).sum(), params)
    for got, want in zip(grads, dense):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_empty_and_unbatched_input():
    core, factors = random_bt(*CASES[2])
    w = bt_to_dense(core, factors)
    assert bt_contract(torch.zeros(0, 24, dtype=torch.float64), core, factors).shape == (0, 12)
    leaves = [t.clone().requires_grad_() for t in (torch.zeros(0, 24, dtype=torch.float64), core, *factors)]
    grads = torch.autograd.grad(bt_contract(leaves[0], leaves[1], leaves[2:]).sum(), leaves)
    assert all(g.shape == t.shape and not g.any() for g, t in zip(grads, leaves))  # an empty batch: zero gradients
    x = torch.randn(24, dtype=torch.float64)
    torch.testing.assert_close(bt_contract(x, core, factors), x @ w, rtol=1e-12, atol=1e-12)


def test_float32_close_to_float64():
    core, factors = random_bt(*CASES[3], seed=4)
    x = torch.randn(9, 36, dtype=torch.float64)
    y32 = bt_contract(x.float(), core.float(), [f.float() for f in factors])
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), bt_contract(x, core, factors), rtol=1e-4, atol=1e-4)


# --- the planner --------------------------------------------------------------------------------

def test_ucf11_plan_merges_the_core_into_the_second_mode():
    """8x20x20x18 -> 16x4x4x4, rank 4: sweep modes 4 and 3, then the core with mode 2, then mode 1.

    Per row and block: 57,600 x 16 (mode 4: m=18 -> n r = 16) + 51,200 x 16 (mode 3) +
    40,960 x 16 (core and mode 2: (R_3 R_4 m_2) = 320 -> (n_2 R_1) = 16) + 2,048 x 16
    (mode 1: (m_1 R_1) = 32 -> n_1 = 16) = 2,428,928 multiply-adds.
    """
    ranks = (papers.BT_UCF11_RANK,) * 4
    chosen = plan.plan_bt(papers.UCF11_IN_SHAPE, GATED, ranks, 96)
    assert plan.plan_bt(papers.UCF11_IN_SHAPE, GATED, ranks, 96) is chosen  # planned once per shape
    assert chosen.split == 1
    assert chosen.macs_per_row == 57600 * 16 + 51200 * 16 + 40960 * 16 + 2048 * 16 == 2_428_928
    assert bt_macs(papers.UCF11_IN_SHAPE, GATED, ranks, papers.BT_UCF11_BLOCKS) == 2 * 2_428_928
    layer = BTLinear(papers.UCF11_IN_SHAPE, GATED, rank=papers.BT_UCF11_RANK, blocks=papers.BT_UCF11_BLOCKS)
    assert layer.macs == 2 * 2_428_928
    # the largest state is the input chunk (57,600 per row): equal chunks within the cache budget
    chunks = -(-96 // chosen.chunk)
    assert chosen.chunk * 57600 <= plan.BT_CHUNK_ELEMENTS
    assert -(-96 // (chunks - 1)) * 57600 > plan.BT_CHUNK_ELEMENTS  # one chunk fewer would not fit
    assert chosen.chunk * chunks - 96 < chunks  # as equal as possible


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plan_takes_the_cheapest_split(case):
    in_shape, out_shape, ranks, _ = case
    chosen = plan.plan_bt(in_shape, out_shape, tuple(ranks), 50)
    costs = [plan._bt_sweep(in_shape, out_shape, ranks, s)[0] for s in range(len(in_shape))]
    assert costs[chosen.split] == min(costs)
    assert 1 <= chosen.chunk <= 50


def test_sweep_macs_match_an_explicit_count():
    """(2, 3) -> (3, 2), ranks (2, 3), split 0: mode 1 maps 3 -> n R = 6 on each of 2*3 input
    entries (36), then (R_2, m_1) = 9 -> n_1 = 3 on each of 2*6 state entries (... = 36)."""
    _, macs, largest = plan._bt_sweep((2, 3), (3, 2), (2, 3), 0)
    # mode 1: state 6 entries per row, each multiplied into n_2 R_2 = 6 outputs -> 36; state -> 2*2*3 = 12
    # merged core + mode 0: 12 entries per row, each into n_1 = 3 outputs -> 36; state -> 3*2 = 6,
    # summed over R_2 = 3 partial outputs of 6 each, the largest intermediate: 18
    assert macs == 36 + 36
    assert largest == 18


@pytest.mark.parametrize("case", CASES[2:4], ids=IDS[2:4])
def test_gradgradcheck_every_split(case):
    """Second derivatives (a gradient penalty, a Hessian-vector product) through the written-out
    backward, kept and recomputed states alike."""
    core, factors = random_bt(*case, seed=4)
    x = torch.randn(3, math.prod(case[0]), dtype=torch.float64)
    for split in range(len(case[0])):
        for recompute in (False, True):
            sweep = plan.BTPlan(split, 2, 0)

            def fn(x, core, *factors):
                return bt_contract(x, core, factors, sweep=sweep, recompute=recompute)

            inputs = [t.clone().requires_grad_(True) for t in (x, core, *factors)]
            assert torch.autograd.gradgradcheck(fn, inputs, fast_mode=True), f"split={split}, recompute={recompute}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_recomputed_backward_equals_the_stored_one(case):
    """``recompute`` (the default in training) only moves work into the backward: same output,
    same gradients, for every split and with a short last chunk (7 rows in chunks of 3)."""
    in_shape = case[0]
    core, factors = random_bt(*case)
    x = torch.randn(7, math.prod(in_shape), dtype=torch.float64)
    upstream = torch.randn(7, math.prod(case[1]), dtype=torch.float64)
    for split in range(len(in_shape)):
        sweep = plan.BTPlan(split=split, chunk=3, macs_per_row=0)
        results = []
        for recompute in (False, True):
            leaves = [t.clone().requires_grad_() for t in (x, core, *factors)]
            y = bt_contract(leaves[0], leaves[1], leaves[2:], sweep=sweep, recompute=recompute)
            grads = torch.autograd.grad(y, leaves, upstream)
            results.append((y.detach(), grads))
        (y0, g0), (y1, g1) = results
        torch.testing.assert_close(y1, y0, rtol=0, atol=0)
        for a, b in zip(g1, g0):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_recompute_keeps_no_first_state():
    """With ``recompute`` the graph keeps exactly one first state per block and chunk less: the
    product of the input with the last mode's factor, ``(n_d R_d) x (rows I / m_d)``."""
    in_shape, out_shape, ranks, blocks = (3, 4, 5), (2, 2, 3), [2, 2, 2], 2
    core, factors = random_bt(in_shape, out_shape, ranks, blocks)
    x = torch.randn(7, math.prod(in_shape), dtype=torch.float64)
    sweep = plan.BTPlan(split=0, chunk=7, macs_per_row=0)  # modes 2 and 1 swept before the core
    kept = {}
    for recompute in (False, True):
        leaves = [t.clone().requires_grad_() for t in (core, *factors)]
        numel = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: numel.append(t.numel()) or t, lambda t: t):
            bt_contract(x, leaves[0], leaves[1:], sweep=sweep, recompute=recompute)
        kept[recompute] = sum(numel)
    first_state = 7 * math.prod(in_shape) // in_shape[-1] * out_shape[-1] * ranks[-1]
    assert kept[False] - kept[True] == blocks * first_state
