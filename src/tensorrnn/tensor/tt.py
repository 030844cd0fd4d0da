"""Tensor-train matrices (TT-matrix, Oseledets 2011; Novikov et al. 2015; Yang et al. 2017).

A weight ``W`` of shape ``(I, O)``, ``I = m_1...m_d`` and ``O = n_1...n_d``, is stored as ``d``
cores ``G_k`` of shape ``(r_{k-1}, m_k, n_k, r_k)`` with ``r_0 = r_d = 1``::

    W[(i_1..i_d), (j_1..j_d)] = G_1[:, i_1, j_1, :] @ G_2[:, i_2, j_2, :] @ ... @ G_d[:, i_d, j_d, :]

Both multi-indices are row-major (first mode most significant), as in the original code.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from tensorrnn.tensor import plan
from tensorrnn.tensor.shapes import check_rank_list, check_shape, clip_ring_ranks

__all__ = [
    "tt_ranks", "tt_core_shapes", "tt_num_params", "tt_init_std", "tt_network", "tt_contract",
    "tt_to_dense", "tt_macs", "tt_norm", "tt_svd", "interleave", "deinterleave",
]


def tt_ranks(rank: int | Sequence[int], in_shape: Sequence[int], out_shape: Sequence[int],
             clip: bool = True) -> list[int]:
    """Normalise ``rank`` to the full list ``r_0..r_d`` and clip ranks that cannot be useful.

    Args:
        rank: an int for every inner rank, the ``d - 1`` inner ranks, or ``r_0..r_d`` with
            ``r_0 = r_d = 1``.
        in_shape, out_shape: the ``d`` input and output modes.
        clip: lower ranks that cannot be useful (the default).

    Returns:
        ``[1, r_1, ..., r_{d-1}, 1]``, if clipped with ``r_k <= min(prod_{i<=k} m_i n_i, prod_{i>k} m_i n_i)``.
    """
    d = len(in_shape)
    if isinstance(rank, Sequence) and not isinstance(rank, str) and len(rank) == d + 1:
        ranks = check_rank_list("rank", rank, d + 1)
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ValueError(f"rank={ranks!r}: a full TT rank list needs r_0 = r_d = 1")
    elif isinstance(rank, Sequence) and not isinstance(rank, str) and len(rank) != d - 1:
        raise ValueError(
            f"rank={list(rank)!r}: expected an int, {d - 1} inner ranks or {d + 1} ranks r_0..r_d "
            f"for {d} modes")
    else:
        ranks = [1, *check_rank_list("rank", rank, d - 1), 1]
    dims = [m * n for m, n in zip(in_shape, out_shape)]
    return clip_ring_ranks(ranks, dims, closed=False) if clip else ranks


def tt_core_shapes(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> list[tuple[int, ...]]:
    """Core shapes ``(r_{k-1}, m_k, n_k, r_k)``."""
    if len(in_shape) != len(out_shape):
        raise ValueError(
            f"in_shape={tuple(in_shape)}, out_shape={tuple(out_shape)}: a TT-matrix needs the same "
            f"number of input and output modes")
    if len(ranks) != len(in_shape) + 1:
        raise ValueError(f"ranks={list(ranks)!r}: expected {len(in_shape) + 1} entries r_0..r_d")
    return [(ranks[k], m, n, ranks[k + 1]) for k, (m, n) in enumerate(zip(in_shape, out_shape))]


def tt_num_params(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> int:
    """``sum_k m_k n_k r_{k-1} r_k`` (Yang et al. 2017)."""
    return sum(math.prod(s) for s in tt_core_shapes(in_shape, out_shape, ranks))


def tt_init_std(ranks: Sequence[int], std: float) -> float:
    """Std of i.i.d. Gaussian core entries giving reconstructed entries of std ``std``.

    An entry of ``W`` is a sum of ``prod_k r_k`` products of ``d`` independent zero-mean core
    entries, so ``Var W = s^(2d) * prod_k r_k``; the variance is spread evenly over the cores.
    """
    d = len(ranks) - 1
    return (std ** 2 / math.prod(ranks)) ** (1.0 / (2 * d))


def tt_network(d: int) -> plan.Network:
    """Index structure of ``y = x W`` for a ``d``-core TT-matrix."""
    x = ("batch", *(("m", k) for k in range(d)))
    cores = tuple((("r", k), ("m", k), ("n", k), ("r", k + 1)) for k in range(d))
    return plan.Network((x, *cores), ("batch", *(("n", k) for k in range(d))))


def _shapes(cores: Sequence[Tensor]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(c.shape[1] for c in cores), tuple(c.shape[2] for c in cores)


def tt_contract(x: Tensor, cores: Sequence[Tensor]) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; returns ``(..., O)``. The dense ``W`` is never built.

    The cores are swept right to left in groups chosen by :func:`plan.plan_chain` for this
    batch size (planned once per shape, then cached).
    """
    in_shape, out_shape = _shapes(cores)
    ranks = tuple(c.shape[0] for c in cores) + (cores[-1].shape[-1],)
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, math.prod(in_shape))  # (B, I)
    chain = plan.plan_chain(in_shape, out_shape, ranks, xs.shape[0])
    y = plan.chain_contract(xs, cores, chain)  # (B, 1, O)
    return y.reshape(*batch_shape, math.prod(out_shape))


def tt_to_dense(cores: Sequence[Tensor]) -> Tensor:
    """The dense matrix ``(I, O)`` (rows: input multi-index, columns: output multi-index)."""
    # The whole chain merged into one core, as the planner merges a group: (1, I, O, 1).
    full = plan.merge_cores(cores)
    return full.reshape(full.shape[1], full.shape[2])


def tt_macs(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> int:
    """Multiply-adds per input row of the planned sweep at :data:`plan.NOMINAL_BATCH`."""
    return plan.plan_chain(tuple(in_shape), tuple(out_shape), tuple(ranks), plan.NOMINAL_BATCH).macs_per_row


def tt_norm(cores: Sequence[Tensor]) -> Tensor:
    """Frobenius norm of the TT-matrix, without building it (transfer matrices of size r^2)."""
    # E_k = sum_{m,n} G_k[:, m, n, :] (x) G_k[:, m, n, :]; ||W||^2 = E_1 E_2 ... E_d.
    acc = torch.ones(1, 1, dtype=cores[0].dtype, device=cores[0].device)
    for core in cores:
        acc = torch.einsum("ab,amnc,bmnd->cd", acc, core, core)
    return acc.reshape(()).clamp_min(0).sqrt()


def interleave(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int]) -> Tensor:
    """Reshape ``(I, O)`` to the tensor ``(m_1 n_1, m_2 n_2, ..., m_d n_d)`` (modes paired)."""
    d = len(in_shape)
    t = matrix.reshape(*in_shape, *out_shape)
    order = [i for k in range(d) for i in (k, d + k)]
    return t.permute(order).reshape([m * n for m, n in zip(in_shape, out_shape)])


def deinterleave(tensor: Tensor, in_shape: Sequence[int], out_shape: Sequence[int]) -> Tensor:
    """Inverse of :func:`interleave`: ``(m_1 n_1, ..., m_d n_d)`` back to ``(I, O)``."""
    d = len(in_shape)
    t = tensor.reshape([s for m, n in zip(in_shape, out_shape) for s in (m, n)])
    order = [2 * k for k in range(d)] + [2 * k + 1 for k in range(d)]
    return t.permute(order).reshape(math.prod(in_shape), math.prod(out_shape))


def tt_svd(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int],
           rank: int | Sequence[int]) -> list[Tensor]:
    """TT-SVD (Oseledets 2011) of a dense ``(I, O)`` matrix with ranks truncated to ``rank``.

    Sequential truncated SVDs of the unfoldings of the interleaved tensor; the error is
    quasi-optimal (at most ``sqrt(d - 1)`` times the best TT approximation of those ranks),
    and exact when the matrix has TT ranks ``<= rank``.

    Returns:
        ``d`` cores ``(r_{k-1}, m_k, n_k, r_k)``; ranks lower than requested where the
        unfolding has fewer singular values.
    """
    in_shape = check_shape("in_shape", in_shape)
    out_shape = check_shape("out_shape", out_shape, None)
    if matrix.ndim != 2 or matrix.shape != (math.prod(in_shape), math.prod(out_shape)):
        raise ValueError(
            f"matrix.shape={tuple(matrix.shape)}: expected ({math.prod(in_shape)}, "
            f"{math.prod(out_shape)}) for in_shape={in_shape}, out_shape={out_shape}")
    ranks = tt_ranks(rank, in_shape, out_shape)
    dims = [m * n for m, n in zip(in_shape, out_shape)]
    rest = interleave(matrix, in_shape, out_shape).reshape(1, -1)
    cores, r_prev = [], 1
    for k, (m, n) in enumerate(list(zip(in_shape, out_shape))[:-1]):
        unfolding = rest.reshape(r_prev * dims[k], -1)
        u, s, vh = torch.linalg.svd(unfolding, full_matrices=False)
        r = min(ranks[k + 1], s.numel())
        cores.append(u[:, :r].reshape(r_prev, m, n, r))
        rest = s[:r, None] * vh[:r]  # (r, remaining)
        r_prev = r
    cores.append(rest.reshape(r_prev, in_shape[-1], out_shape[-1], 1))
    return cores
