"""Every sweep of a TT chain (any grouping of the cores, batched GEMMs with the group's
weight shared between them) equals ``x @ tt_to_dense`` and has exact gradients (first and
second order), for several shapes, ranks and batch dims."""
from __future__ import annotations

import math

import pytest
import torch

from tensorrnn.tensor import plan, tt


def _groupings(d):
    """All ways to cut ``0..d-1`` into groups of neighbours, listed right to left."""
    if d == 0:
        yield ()
        return
    for first in range(d):  # the leftmost group is first..d-1 of the remaining suffix
        for rest in _groupings(first):
            yield ((first, d - 1), *rest)


def _cores(ms, ns, ranks, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(ranks[k], ms[k], ns[k], ranks[k + 1], generator=g, dtype=torch.float64)
            for k in range(len(ms))]


CASES = [  # (in_shape, out_shape, ranks, batch_shape)
    ((3, 4, 2), (2, 3, 5), (1, 2, 3, 1), (5,)),
    ((2, 5, 3, 4), (4, 2, 2, 3), (1, 3, 2, 4, 1), (2, 3)),
    ((4, 3, 5, 2), (3, 1, 2, 4), (1, 1, 5, 2, 1), (7,)),
    ((6, 7), (5, 3), (1, 4, 1), (1,)),
]


def test_groupings_enumerates_the_compositions():
    # a chain of d cores has 2^(d-1) groupings of neighbours
    assert [len(list(_groupings(d))) for d in range(1, 6)] == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("ms, ns, ranks, batch_shape", CASES)
def test_every_grouping_equals_the_dense_product(ms, ns, ranks, batch_shape):
    cores = _cores(ms, ns, ranks, seed=len(ms))
    x = torch.randn(*batch_shape, math.prod(ms), dtype=torch.float64)
    expected = x.reshape(-1, math.prod(ms)) @ tt.tt_to_dense(cores)  # (B, O)
    for groups in _groupings(len(ms)):
        y = plan.chain_contract(x.reshape(-1, math.prod(ms)), cores, plan.ChainPlan(groups, 0))
        torch.testing.assert_close(y.reshape(expected.shape), expected, rtol=1e-10, atol=1e-10,
                                   msg=lambda m, g=groups: f"groups {g}: {m}")
    # and the planned path through the public function keeps the batch dims
    torch.testing.assert_close(tt.tt_contract(x, cores),
                               expected.reshape(*batch_shape, math.prod(ns)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("ms, ns, ranks, batch_shape", [
    ((3, 2, 2), (2, 3, 2), (1, 2, 3, 1), (3,)),
    ((2, 3, 2, 2), (2, 1, 3, 2), (1, 2, 3, 2, 1), (2,)),
])
def test_every_grouping_passes_gradcheck(ms, ns, ranks, batch_shape):
    cores = [c.requires_grad_() for c in _cores(ms, ns, ranks, seed=7)]
    x = torch.randn(math.prod(batch_shape), math.prod(ms), dtype=torch.float64, requires_grad=True)
    for groups in _groupings(len(ms)):
        chain = plan.ChainPlan(groups, 0)
        assert torch.autograd.gradcheck(lambda x, *c: plan.chain_contract(x, c, chain), (x, *cores))


def test_every_grouping_passes_gradgradcheck():
    # the sweep's first GEMM and the steps between groups have hand-written backwards
    # (plan._InputGemm, plan._SharedWeightBmm): their second derivatives must be exact too
    ms, ns, ranks = (2, 3, 2), (2, 1, 2), (1, 2, 2, 1)
    cores = [c.requires_grad_() for c in _cores(ms, ns, ranks, seed=3)]
    x = torch.randn(2, math.prod(ms), dtype=torch.float64, requires_grad=True)
    for groups in _groupings(len(ms)):
        chain = plan.ChainPlan(groups, 0)
        assert torch.autograd.gradgradcheck(lambda x, *c: plan.chain_contract(x, c, chain), (x, *cores))


def test_weight_only_gradients_equal_autograd_of_the_dense_product():
    # the input needs no gradient (the first layer of a model): the hand-written backwards
    # skip it and still give the weights' exact gradients
    ms, ns, ranks = (3, 4, 2), (2, 3, 2), (1, 3, 2, 1)
    cores = [c.requires_grad_() for c in _cores(ms, ns, ranks, seed=5)]
    x = torch.randn(4, math.prod(ms), dtype=torch.float64)
    probe = torch.randn(4, math.prod(ns), dtype=torch.float64)
    for groups in _groupings(len(ms)):
        y = plan.chain_contract(x, cores, plan.ChainPlan(groups, 0)).reshape(4, -1)
        got = torch.autograd.grad((y * probe).sum(), cores)
        expected = torch.autograd.grad(((x @ tt.tt_to_dense(cores)) * probe).sum(), cores)
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)
