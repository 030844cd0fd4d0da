"""The tensor math of each format against independent dense references (float64)."""
from __future__ import annotations

import itertools
import math

import opt_einsum
import pytest
import torch

from tensorrnn.tensor import (bt_contract, bt_decompose, bt_norm, bt_shapes, bt_to_dense, check_tree, ht,
                              ht_chain, ht_contract, ht_macs, ht_nodes, ht_norm, ht_ranks, ht_shapes, ht_svd,
                              ht_to_dense, ht_tree, plan, tr_contract, tr_core_shapes, tr_norm, tr_svd,
                              tr_to_dense, tt_contract, tt_core_shapes, tt_norm, tt_svd, tt_to_dense)
from tensorrnn.tensor.tt import deinterleave, interleave

DT = torch.float64


def _entry_tt(cores, i, j):
    """W[i, j] from the definition: the product of the core slices."""
    in_shape = [c.shape[1] for c in cores]
    out_shape = [c.shape[2] for c in cores]
    ii = torch.unravel_index(torch.tensor(i), in_shape)
    jj = torch.unravel_index(torch.tensor(j), out_shape)
    prod = torch.eye(1, dtype=DT)
    for c, a, b in zip(cores, ii, jj):
        prod = prod @ c[:, a, b, :]
    return prod[0, 0]


def test_tt_to_dense_follows_the_definition_row_major():
    torch.manual_seed(0)
    cores = [torch.randn(s, dtype=DT) for s in tt_core_shapes((2, 3, 2), (3, 2, 2), [1, 2, 3, 1])]
    w = tt_to_dense(cores)
    assert w.shape == (12, 12)
    for i, j in itertools.product(range(12), range(12)):
        assert float(w[i, j]) == pytest.approx(float(_entry_tt(cores, i, j)), abs=1e-12)


def test_tr_to_dense_follows_the_definition():
    torch.manual_seed(1)
    cores = [torch.randn(s, dtype=DT) for s in tr_core_shapes((2, 3), (2, 2), [2, 3, 2, 3])]
    w = tr_to_dense(cores, num_in=2)
    dims = (2, 3, 2, 2)
    for flat in range(24):
        idx = torch.unravel_index(torch.tensor(flat), dims)
        prod = torch.eye(2, dtype=DT)
        for c, a in zip(cores, idx):
            prod = prod @ c[:, a, :]
        assert float(w.reshape(-1)[flat]) == pytest.approx(float(torch.trace(prod)), abs=1e-12)


def test_bt_to_dense_follows_the_definition():
    torch.manual_seed(2)
    core_shape, factor_shapes = bt_shapes((2, 3), (3, 2), [2, 3], blocks=2)
    core = torch.randn(core_shape, dtype=DT)
    factors = [torch.randn(s, dtype=DT) for s in factor_shapes]
    w = bt_to_dense(core, factors)
    expected = torch.einsum("brs,bikr,jlbs->ijkl", core, factors[0], factors[1].permute(1, 2, 0, 3))
    torch.testing.assert_close(w, expected.reshape(6, 6))


def test_interleave_roundtrip():
    m = torch.randn(24, 6, dtype=DT)
    t = interleave(m, (2, 3, 4), (1, 2, 3))
    assert t.shape == (2, 6, 12)
    # t[(m1, n1), (m2, n2), (m3, n3)]: 4 = (2, 0) in 3x2, 7 = (2, 1) in 4x3
    assert float(t[1, 4, 7]) == float(m.reshape(2, 3, 4, 1, 2, 3)[1, 2, 2, 0, 0, 1])
    torch.testing.assert_close(deinterleave(t, (2, 3, 4), (1, 2, 3)), m)


def test_norms_without_dense_match_dense():
    torch.manual_seed(3)
    tt = [torch.randn(s, dtype=DT) for s in tt_core_shapes((2, 3, 4), (3, 2, 2), [1, 3, 2, 1])]
    assert float(tt_norm(tt)) == pytest.approx(float(tt_to_dense(tt).norm()), rel=1e-12)
    tr = [torch.randn(s, dtype=DT) for s in tr_core_shapes((2, 3), (4,), [3, 2, 4])]
    assert float(tr_norm(tr)) == pytest.approx(float(tr_to_dense(tr, 2).norm()), rel=1e-12)
    cs, fs = bt_shapes((2, 3), (3, 2), [2, 3], 3)
    core, factors = torch.randn(cs, dtype=DT), [torch.randn(s, dtype=DT) for s in fs]
    assert float(bt_norm(core, factors)) == pytest.approx(float(bt_to_dense(core, factors).norm()), rel=1e-12)


# --- the planned contraction ----------------------------------------------------------------------

def _all_groupings(d):
    """Every split of range(d) into consecutive groups, listed right to left."""
    for cuts in itertools.product([False, True], repeat=d - 1):
        groups, start = [], 0
        for k, cut in enumerate(cuts, start=1):
            if cut:
                groups.append((start, k - 1))
                start = k
        groups.append((start, d - 1))
        yield tuple(reversed(groups))


def test_every_grouping_of_the_chain_sweep_gives_the_same_result():
    torch.manual_seed(4)
    cores = [torch.randn(s, dtype=DT) for s in tt_core_shapes((3, 2, 4, 2), (2, 3, 1, 2), [1, 2, 3, 2, 1])]
    x = torch.randn(5, 48, dtype=DT)
    expected = x @ tt_to_dense(cores)
    for groups in _all_groupings(4):
        y = plan.chain_contract(x, cores, plan.ChainPlan(groups, 0))
        torch.testing.assert_close(y.reshape(5, -1), expected)


def test_chain_plan_is_the_cheapest_grouping_and_is_cached():
    ms, ns, ranks = (8, 20, 20, 18), (16, 4, 4, 4), (1, 4, 4, 4, 1)
    chosen = plan.plan_chain(ms, ns, ranks, 96)
    assert plan.plan_chain(ms, ns, ranks, 96) is chosen  # planned once per shape

    def cost(groups):
        total = 0.0
        for a, b in groups:
            total += plan._group_cost(ms, ns, ranks, a, b, 96)[0]
        return total

    assert cost(chosen.groups) == min(cost(g) for g in _all_groupings(4))
    # the input is read once by a GEMM whose output is smaller than the input
    a, b = chosen.groups[0]
    assert b == 3 and ranks[a] * math.prod(ns[a:]) < math.prod(ms[a:])


def test_tt_and_tr_contract_agree_with_opt_einsum_network():
    torch.manual_seed(5)
    tt = [torch.randn(s, dtype=DT) for s in tt_core_shapes((3, 4, 2), (2, 2, 3), [1, 3, 2, 1])]
    x = torch.randn(2, 4, 24, dtype=DT)
    net = plan.Network(*_tt_labels(3))
    ref = opt_einsum.contract(net.equation(), x.reshape(8, 3, 4, 2), *tt).reshape(2, 4, 12)
    torch.testing.assert_close(tt_contract(x, tt), ref)
    tr = [torch.randn(s, dtype=DT) for s in tr_core_shapes((3, 4), (2, 5), [2, 3, 2, 4])]
    torch.testing.assert_close(tr_contract(x.reshape(-1, 12)[:, :12], tr, 2), x.reshape(-1, 12) @ tr_to_dense(tr, 2))


def _tt_labels(d):
    from tensorrnn.tensor.tt import tt_network
    net = tt_network(d)
    return net.inputs, net.output


def test_bt_contract_equals_dense():
    torch.manual_seed(6)
    cs, fs = bt_shapes((3, 4, 2), (2, 2, 3), [2, 2, 3], 2)
    core, factors = torch.randn(cs, dtype=DT), [torch.randn(s, dtype=DT) for s in fs]
    x = torch.randn(7, 24, dtype=DT)
    torch.testing.assert_close(bt_contract(x, core, factors), x @ bt_to_dense(core, factors))


# --- decompositions ------------------------------------------------------------------------------------

def test_tt_svd_exact_for_tt_matrix_and_truncates_ranks():
    torch.manual_seed(7)
    cores = [torch.randn(s, dtype=DT) for s in tt_core_shapes((3, 4, 2), (2, 3, 2), [1, 2, 3, 1])]
    w = tt_to_dense(cores)
    got = tt_svd(w, (3, 4, 2), (2, 3, 2), [1, 2, 3, 1])
    assert [c.shape[-1] for c in got] == [2, 3, 1]
    torch.testing.assert_close(tt_to_dense(got), w)
    low = tt_svd(w, (3, 4, 2), (2, 3, 2), 1)
    assert [c.shape[-1] for c in low] == [1, 1, 1]
    assert float((tt_to_dense(low) - w).norm()) > 1e-3


def test_tr_svd_is_exact_without_truncation():
    """With bonds as large as the unfoldings need, TR-SVD reproduces any matrix."""
    torch.manual_seed(8)
    w = torch.randn(6, 4, dtype=DT)  # dims (2, 3 | 4), ring R_0 = 1 makes a full TT
    cores = tr_svd(w, (2, 3), (4,), [1, 2, 4])
    torch.testing.assert_close(tr_to_dense(cores, 2), w)


def test_bt_als_never_worse_than_greedy_hosvd():
    torch.manual_seed(9)
    w = torch.randn(20, 12, dtype=DT)
    _, _, greedy = bt_decompose(w, (4, 5), (3, 4), 3, blocks=2, als_iters=0)
    core, factors, refined = bt_decompose(w, (4, 5), (3, 4), 3, blocks=2, als_iters=5)
    assert refined <= greedy + 1e-12
    assert refined == pytest.approx(float((bt_to_dense(core, factors) - w).norm() / w.norm()), rel=1e-9)


# --- hierarchical Tucker -------------------------------------------------------------------------------

def _random_ht(in_shape, out_shape, rank, tree=None, seed=0):
    torch.manual_seed(seed)
    tree = check_tree(tree, len(in_shape))
    ranks = ht_ranks(rank, in_shape, out_shape, tree)
    leaf_shapes, transfer_shapes = ht_shapes(in_shape, out_shape, ranks, tree)
    return [torch.randn(s, dtype=DT) for s in leaf_shapes], [torch.randn(s, dtype=DT) for s in transfer_shapes], tree


def test_ht_tree_nodes_and_order():
    assert ht_tree(4) == ((0, 1), (2, 3))
    assert ht_tree(5) == (((0, 1), 2), (3, 4))
    assert ht_tree(1) == 0
    assert ht_nodes(4) == [(0,), (1,), (2,), (3,), (0, 1), (2, 3), (0, 1, 2, 3)]
    assert ht_nodes(3, (0, (1, 2))) == [(0,), (1,), (2,), (1, 2), (0, 1, 2)]
    assert check_tree([[0, 1], 2], 3) == ((0, 1), 2)


def test_ht_to_dense_follows_the_definition():
    """W from one einsum over all frames and transfer tensors of the balanced 4-mode tree."""
    leaves, transfers, tree = _random_ht((2, 3, 2, 2), (3, 2, 2, 1), [2, 3, 2, 2, 3, 2])
    w = ht_to_dense(leaves, transfers, tree)
    b01, b23, root = transfers
    expected = torch.einsum("pq,pab,qce,ixa,jyb,kzc,lwe->ijklxyzw", root[0], b01, b23, *leaves)
    torch.testing.assert_close(w, expected.reshape(24, 12))


def test_ht_of_another_tree_follows_the_definition():
    leaves, transfers, tree = _random_ht((2, 3, 2), (2, 2, 3), [2, 3, 2, 3], tree=(0, (1, 2)), seed=1)
    b12, root = transfers
    expected = torch.einsum("pq,qbc,ixp,jyb,kzc->ijkxyz", root[0], b12, *leaves)
    torch.testing.assert_close(ht_to_dense(leaves, transfers, tree), expected.reshape(12, 12))


@pytest.mark.parametrize("in_shape, out_shape, rank, tree", [
    ((2, 3, 2, 2), (3, 2, 2, 2), 3, None),
    ((2, 2, 3, 2, 2), (2, 3, 1, 2, 2), [2, 3, 2, 2, 2, 3, 2, 2], None),
    ((2, 2, 2, 2), (2, 2, 2, 2), 2, (0, (1, (2, 3)))),
    ((2, 2, 2, 2, 2, 2), (2, 1, 2, 1, 2, 2), 2, None),
])
def test_every_placement_of_the_ht_chain_is_the_same_matrix(in_shape, out_shape, rank, tree):
    """The chain the contraction sweeps equals the tree's matrix wherever the transfer tensors go."""
    leaves, transfers, tree = _random_ht(in_shape, out_shape, rank, tree, seed=2)
    w = ht_to_dense(leaves, transfers, tree)
    spans = [(nodes[0], nodes[-1]) for nodes in ht_nodes(len(in_shape), tree)]
    children = [(t, pair) for t, pair in enumerate(ht._structure(tree)[0], start=len(in_shape))]
    options = [(spans[a][1], spans[b][0]) for _, (a, b) in children]
    for placement in itertools.product(*options):
        torch.testing.assert_close(tt_to_dense(ht_chain(leaves, transfers, tree, placement)), w)
    x = torch.randn(3, w.shape[0], dtype=DT)
    torch.testing.assert_close(ht_contract(x, leaves, transfers, tree), x @ w)
    assert float(ht_norm(leaves, transfers, tree)) == pytest.approx(float(w.norm()), rel=1e-12)


def test_ht_chain_of_the_balanced_ucf11_tree_has_single_edge_bonds():
    """Four modes, balanced tree: the chain's bonds are tree edges, so the sweep costs what a TT
    with those ranks costs."""
    ranks = [5, 6, 7, 3, 4, 4, 1]  # leaves, (0, 1), (2, 3), root
    leaf_shapes, transfer_shapes = ht_shapes((8, 20, 20, 18), (16, 4, 4, 4), ranks)
    cores = ht_chain([torch.zeros(s) for s in leaf_shapes], [torch.zeros(s) for s in transfer_shapes])
    bonds = [c.shape[0] for c in cores] + [cores[-1].shape[-1]]
    assert bonds[0] == bonds[-1] == 1 and bonds[1] == 5 and bonds[2] == 4 and bonds[3] == 3
    assert ht_macs((8, 20, 20, 18), (16, 4, 4, 4), ranks) == plan.plan_chain(
        (8, 20, 20, 18), (16, 4, 4, 4), tuple(bonds), plan.NOMINAL_BATCH).macs_per_row


@pytest.mark.parametrize("tree", [None, (0, (1, (2, 3)))])
def test_ht_svd_recovers_an_ht_rank_r_matrix(tree):
    leaves, transfers, tree = _random_ht((3, 4, 2, 3), (2, 3, 3, 2), [2, 3, 2, 3, 4, 3], tree, seed=3)
    w = ht_to_dense(leaves, transfers, tree)
    got_leaves, got_transfers = ht_svd(w, (3, 4, 2, 3), (2, 3, 3, 2), [2, 3, 2, 3, 4, 3], tree)
    assert [tuple(f.shape) for f in got_leaves] == [tuple(f.shape) for f in leaves]
    assert float((ht_to_dense(got_leaves, got_transfers, tree) - w).norm() / w.norm()) < 1e-6
    low_leaves, low_transfers = ht_svd(w, (3, 4, 2, 3), (2, 3, 3, 2), 1, tree)
    assert float((ht_to_dense(low_leaves, low_transfers, tree) - w).norm() / w.norm()) > 1e-3


def test_ht_svd_of_two_modes_is_the_eckart_young_optimum():
    """With two leaves the HT-matrix is a rank-r matrix of the paired modes: HT-SVD is optimal."""
    torch.manual_seed(4)
    w = torch.randn(12, 20, dtype=DT)
    leaves, transfers = ht_svd(w, (3, 4), (4, 5), 3)
    s = torch.linalg.svdvals(interleave(w, (3, 4), (4, 5)))  # (3*4, 4*5) matricisation
    error = float((ht_to_dense(leaves, transfers) - w).norm() / w.norm())
    assert error == pytest.approx(float(s[3:].norm() / s.norm()), rel=1e-9)
    assert float(ht_norm(leaves, transfers)) == pytest.approx(float(s[:3].norm()), rel=1e-9)
