"""Block-term (sum of Tucker blocks) matrices (BT layer of Ye et al. 2018).

``W`` is a sum of ``N`` Tucker blocks over the paired modes ``(m_k, n_k)``: block ``b`` has a
core ``C_b`` of shape ``(R_1, ..., R_d)`` and ``d`` factors ``A_b^(k)`` of shape
``(m_k, n_k, R_k)``::

    W[(i_1..i_d), (j_1..j_d)] = sum_b sum_{r_1..r_d} C_b[r_1..r_d] prod_k A_b^(k)[i_k, j_k, r_k]

The blocks are stacked along a leading dimension: ``core`` is ``(N, R_1, ..., R_d)`` and
factor ``k`` is ``(N, m_k, n_k, R_k)``, so one contraction handles all blocks at once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from tensorrnn.tensor import plan
from tensorrnn.tensor.shapes import check_rank_list
from tensorrnn.tensor.tt import deinterleave

__all__ = [
    "bt_ranks", "bt_shapes", "bt_num_params", "bt_init_std", "bt_network", "bt_contract",
    "bt_to_dense", "bt_macs", "bt_norm", "bt_decompose",
]


def bt_ranks(rank: int | Sequence[int], in_shape: Sequence[int], out_shape: Sequence[int],
             clip: bool = True) -> list[int]:
    """Normalise ``rank`` to one rank per mode and clip ranks that cannot be useful.

    ``R_k`` is at most ``m_k n_k`` (the size of the mode) and at most ``prod_{j != k} R_j``
    (a Tucker core's mode-k unfolding cannot have a larger rank).
    """
    d = len(in_shape)
    ranks = check_rank_list("rank", rank, d)
    if not clip:
        return ranks
    ranks = [min(r, m * n) for r, m, n in zip(ranks, in_shape, out_shape)]
    changed = d > 1
    while changed:
        changed = False
        for k in range(d):
            bound = math.prod(ranks[:k] + ranks[k + 1:])
            if ranks[k] > bound:
                ranks[k], changed = bound, True
    return ranks


def bt_shapes(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int],
              blocks: int) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Shapes of the stacked core ``(N, R_1..R_d)`` and factors ``(N, m_k, n_k, R_k)``."""
    if len(in_shape) != len(out_shape) or len(ranks) != len(in_shape):
        raise ValueError(
            f"in_shape={tuple(in_shape)}, out_shape={tuple(out_shape)}, ranks={list(ranks)}: "
            f"a block-term matrix needs the same number of input modes, output modes and ranks")
    core = (blocks, *ranks)
    factors = [(blocks, m, n, r) for m, n, r in zip(in_shape, out_shape, ranks)]
    return core, factors


def bt_num_params(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], blocks: int) -> int:
    """``N (sum_k I_k J_k R_k + prod_k R_k)`` (Ye et al. 2018)."""
    core, factors = bt_shapes(in_shape, out_shape, ranks, blocks)
    return math.prod(core) + sum(math.prod(f) for f in factors)


def bt_init_std(ranks: Sequence[int], blocks: int, std: float) -> float:
    """Std of i.i.d. Gaussian core and factor entries giving reconstructed entries of std ``std``.

    An entry of ``W`` sums ``N prod_k R_k`` products of ``d + 1`` independent zero-mean
    entries (one core entry, ``d`` factor entries): ``Var W = N prod R s^(2(d+1))``.
    """
    d = len(ranks)
    return (std ** 2 / (blocks * math.prod(ranks))) ** (1.0 / (2 * (d + 1)))


def bt_network(d: int) -> plan.Network:
    """Index structure of ``y = x W`` for a ``d``-mode block-term matrix (blocks stacked)."""
    x = ("batch", *(("m", k) for k in range(d)))
    core = ("block", *(("r", k) for k in range(d)))
    factors = tuple(("block", ("m", k), ("n", k), ("r", k)) for k in range(d))
    return plan.Network((x, core, *factors), ("batch", *(("n", k) for k in range(d))))


def bt_contract(x: Tensor, core: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; returns ``(..., O)``. The dense ``W`` is never built."""
    in_shape = tuple(f.shape[1] for f in factors)
    out_features = math.prod(f.shape[2] for f in factors)
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, *in_shape)  # (B, m_1, ..., m_d)
    y = plan.contract(bt_network(len(factors)), xs, core, *factors)  # (B, n_1, ..., n_d)
    return y.reshape(*batch_shape, out_features)


def _tucker(core: Tensor, mats: Sequence[Tensor]) -> Tensor:
    """``core x_1 mats[0] x_2 ... x_d mats[d-1]`` with ``mats[k]`` of shape ``(D_k, R_k)``."""
    t = core
    for mat in mats:
        # contract the leading rank mode; the new mode goes last, so after d steps the order is restored
        t = torch.tensordot(t, mat, dims=([0], [1]))
    return t


def bt_to_dense(core: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """The dense matrix ``(I, O)``: the sum of the blocks' Tucker tensors."""
    in_shape = [f.shape[1] for f in factors]
    out_shape = [f.shape[2] for f in factors]
    total = sum(
        _tucker(core[b], [f[b].reshape(-1, f.shape[-1]) for f in factors])  # (m_1 n_1, ..., m_d n_d)
        for b in range(core.shape[0]))
    return deinterleave(total, in_shape, out_shape)


def bt_macs(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int], blocks: int) -> int:
    """Multiply-adds per input row of the planned contraction (see :func:`plan.macs_per_row`)."""
    core, factors = bt_shapes(in_shape, out_shape, ranks, blocks)
    return plan.macs_per_row(bt_network(len(in_shape)), [tuple(in_shape), core, *factors])


def _grams(factors: Sequence[Tensor]) -> list[Tensor]:
    """Per mode, the Gram matrices between all pairs of blocks: ``(N, N, R_k, R_k)``."""
    return [torch.einsum("amnr,bmns->abrs", f, f) for f in factors]


def bt_norm(core: Tensor, factors: Sequence[Tensor]) -> Tensor:
    """Frobenius norm of the block-term matrix, without building it."""
    # ||sum_b X_b||^2 = sum_{b,c} < C_b x_k (A_b^T A_c), C_c >
    n, d = core.shape[0], core.ndim - 1
    total = core.new_zeros(())
    grams = _grams(factors)
    for b in range(n):
        for c in range(n):
            x = core[c]
            for k in range(d):
                # mode-k product of C_c with the (R_k, R_k) Gram between blocks b and c
                x = torch.movedim(torch.tensordot(grams[k][b, c], x, dims=([1], [k])), 0, k)
            total = total + (core[b] * x).sum()
    return total.clamp_min(0).sqrt()


def bt_decompose(*args, **kwargs):  # placeholder until the decomposition lands
    raise NotImplementedError
