"""Tensor-ring matrices (Zhao et al. 2016; TR layer of Pan et al. 2019).

Following Pan et al., the ``n`` input modes and then the ``m`` output modes form one ring of
``N = n + m`` cores; core ``k`` has shape ``(R_k, d_k, R_{k+1})`` with ``R_N = R_0`` (the
closing rank, ``R_0 >= 1``)::

    W[(i_1..i_n), (j_1..j_m)] = trace(G_1[:, i_1, :] ... G_n[:, i_n, :] G_{n+1}[:, j_1, :] ... G_N[:, j_m, :])

Ranks are given as ``R_0..R_{N-1}`` (``R_0`` closes the ring). Multi-indices are row-major.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from tensorrnn.tensor import plan
from tensorrnn.tensor.shapes import check_nonnegative_int, check_rank_list, clip_ring_ranks

__all__ = [
    "tr_ranks", "tr_core_shapes", "tr_num_params", "tr_init_std", "tr_network", "tr_contract",
    "tr_to_dense", "tr_macs", "tr_norm", "tr_svd", "tr_als", "tr_decompose",
]


def tr_ranks(rank: int | Sequence[int], in_shape: Sequence[int], out_shape: Sequence[int],
             clip: bool = True) -> list[int]:
    """Normalise ``rank`` to ``R_0..R_{N-1}`` and clip ranks that cannot be useful.

    Args:
        rank: an int for every bond, or the ``N = n + m`` ranks ``R_0..R_{N-1}``.
        in_shape, out_shape: the ``n`` input and ``m`` output modes.
        clip: lower ranks that cannot be useful (the default): a bond is at most the product
            of the other two sides of each core it touches.
    """
    dims = [*in_shape, *out_shape]
    ranks = check_rank_list("rank", rank, len(dims))
    return clip_ring_ranks(ranks, dims, closed=True) if clip else ranks


def tr_core_shapes(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> list[tuple[int, int, int]]:
    """Core shapes ``(R_k, d_k, R_{k+1})``, input cores first, ``R_N = R_0``."""
    dims = [*in_shape, *out_shape]
    if len(ranks) != len(dims):
        raise ValueError(f"ranks={list(ranks)!r}: expected {len(dims)} entries R_0..R_{len(dims) - 1}")
    n = len(dims)
    return [(ranks[k], dims[k], ranks[(k + 1) % n]) for k in range(n)]


def tr_num_params(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> int:
    """``sum_i R_{i-1} I_i R_i + sum_j R_{n+j-1} O_j R_{n+j}`` (Pan et al. 2019)."""
    return sum(math.prod(s) for s in tr_core_shapes(in_shape, out_shape, ranks))


def tr_init_std(ranks: Sequence[int], std: float) -> float:
    """Std of i.i.d. Gaussian core entries giving reconstructed entries of std ``std``.

    An entry of ``W`` is a trace: a sum over all ``N`` bonds (the closing one included) of
    products of ``N`` independent zero-mean entries, so ``Var W = s^(2N) prod_k R_k``.
    """
    n = len(ranks)
    return (std ** 2 / math.prod(ranks)) ** (1.0 / (2 * n))


def tr_network(num_in: int, num_out: int) -> plan.Network:
    """Index structure of ``y = x W`` for a ring of ``num_in`` input and ``num_out`` output cores."""
    n = num_in + num_out
    x = ("batch", *(("d", k) for k in range(num_in)))
    cores = tuple((("r", k), ("d", k), ("r", (k + 1) % n)) for k in range(n))
    return plan.Network((x, *cores), ("batch", *(("d", k) for k in range(num_in, n))))


def _check_num_in(cores: Sequence[Tensor], num_in: int) -> None:
    if not 1 <= num_in < len(cores):
        raise ValueError(f"num_in={num_in}: expected 1 <= num_in < {len(cores)} (the number of cores)")


def _input_chain(cores: Sequence[Tensor], num_in: int) -> tuple[list[Tensor], tuple[int, ...], tuple[int, ...]]:
    """The input cores as TT-matrix cores ``(R, m, 1, R')``, their modes and bonds."""
    chain = [c.unsqueeze(2) for c in cores[:num_in]]
    ms = tuple(c.shape[1] for c in cores[:num_in])
    ranks = tuple(c.shape[0] for c in cores[:num_in]) + (cores[num_in].shape[0],)
    return chain, ms, ranks


def tr_contract(x: Tensor, cores: Sequence[Tensor], num_in: int) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; the first ``num_in`` cores are the input cores.

    As in Pan et al.'s complexity analysis: the input is swept through the input cores
    (grouped by :func:`plan.plan_chain`) down to the ``R_0 x R_n`` bottleneck per row, which
    one GEMM maps through the merged output cores ``(R_0 R_n, O)``. The merged output cores
    cost ``O R_n R_0`` numbers, independent of the batch; the dense ``W`` is never built.
    """
    _check_num_in(cores, num_in)
    chain, ms, ranks = _input_chain(cores, num_in)
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, math.prod(ms))  # (B, I)
    bottleneck = plan.chain_contract(xs, chain, plan.plan_chain(ms, (1,) * num_in, ranks, xs.shape[0]))
    out = _chain(cores[num_in:])  # (R_n, O, R_0)
    out = out.permute(2, 0, 1).reshape(-1, out.shape[1])  # (R_0 R_n, O)
    y = bottleneck.reshape(xs.shape[0], -1) @ out  # (B, R_0 R_n) @ (R_0 R_n, O)
    return y.reshape(*batch_shape, out.shape[1])


def _chain(cores: Sequence[Tensor]) -> Tensor:
    """Product of consecutive cores: ``(R_a, d_a ... d_b, R_{b+1})``."""
    full = cores[0]
    for core in cores[1:]:
        a, D, _ = full.shape
        full = (full.reshape(a * D, -1) @ core.reshape(core.shape[0], -1)).reshape(a, -1, core.shape[-1])
    return full


def tr_to_dense(cores: Sequence[Tensor], num_in: int) -> Tensor:
    """The dense matrix ``(I, O)``: the trace of the ring product, reshaped."""
    _check_num_in(cores, num_in)
    in_features = math.prod(c.shape[1] for c in cores[:num_in])
    full = _chain(cores)  # (R_0, I*O, R_0)
    return torch.einsum("aDa->D", full).reshape(in_features, -1)


def tr_macs(in_shape: Sequence[int], out_shape: Sequence[int], ranks: Sequence[int]) -> int:
    """Multiply-adds per input row: the input sweep at :data:`plan.NOMINAL_BATCH` plus the
    bottleneck GEMM ``R_0 R_n O`` (merging the output cores is per call, not per row)."""
    n = len(in_shape)
    chain = plan.plan_chain(tuple(in_shape), (1,) * n, tuple(ranks[:n + 1]),
                            plan.NOMINAL_BATCH)
    return chain.macs_per_row + ranks[0] * ranks[n] * math.prod(out_shape)


def tr_norm(cores: Sequence[Tensor]) -> Tensor:
    """Frobenius norm of the ring, without building it (two copies of the ring, traced)."""
    r0 = cores[0].shape[0]
    eye = torch.eye(r0, dtype=cores[0].dtype, device=cores[0].device)
    acc = torch.einsum("ac,bd->abcd", eye, eye)  # (R_0, R_0, R_0, R_0): both copies open at R_0
    for core in cores:
        acc = torch.einsum("abcd,cme,dmf->abef", acc, core, core)
    return torch.einsum("abab->", acc).clamp_min(0).sqrt()


def _check_matrix(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int]) -> None:
    expected = (math.prod(in_shape), math.prod(out_shape))
    if matrix.ndim != 2 or tuple(matrix.shape) != expected:
        raise ValueError(
            f"matrix.shape={tuple(matrix.shape)}: expected {expected} for in_shape={tuple(in_shape)}, "
            f"out_shape={tuple(out_shape)}")


def _truncated_svd(a: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """``a ~ left @ right`` with ``rank`` columns/rows, zero-padded if ``a`` has fewer singular values."""
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    r = min(rank, s.numel())
    left = a.new_zeros(a.shape[0], rank)
    right = a.new_zeros(rank, a.shape[1])
    left[:, :r] = u[:, :r]
    right[:r] = s[:r, None] * vh[:r]
    return left, right


def tr_svd(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int],
           ranks: Sequence[int]) -> list[Tensor]:
    """TR-SVD (Zhao et al. 2016) of a dense ``(I, O)`` matrix into a ring with bonds ``ranks``.

    The first unfolding's truncated SVD gives ``R_0 R_1`` components that are split into the
    closing bond ``R_0`` and ``R_1``; the rest is a TT-SVD with ``R_0`` carried along. Exact for
    a tensor ring when the unfolding ranks allow it; otherwise a good start for :func:`tr_als`.
    """
    _check_matrix(matrix, in_shape, out_shape)
    dims = [*in_shape, *out_shape]
    n = len(dims)
    ranks = list(ranks)
    if len(ranks) != n:
        raise ValueError(f"ranks={ranks!r}: expected {n} entries R_0..R_{n - 1}")
    r0 = ranks[0]
    left, right = _truncated_svd(matrix.reshape(dims[0], -1), r0 * ranks[1])
    cores = [left.reshape(dims[0], r0, ranks[1]).permute(1, 0, 2)]  # (R_0, d_1, R_1)
    # (R_0, R_1, rest) -> (R_1, rest, R_0): the closing bond rides along at the end
    rest = right.reshape(r0, ranks[1], -1).permute(1, 2, 0)
    for k in range(1, n - 1):
        left, right = _truncated_svd(rest.reshape(ranks[k] * dims[k], -1), ranks[k + 1])
        cores.append(left.reshape(ranks[k], dims[k], ranks[k + 1]))
        rest = right
    cores.append(rest.reshape(ranks[-1], dims[-1], r0))
    return [c.contiguous() for c in cores]


def tr_als(matrix: Tensor, cores: Sequence[Tensor], num_in: int, iters: int = 50,
           tol: float = 1e-12) -> tuple[list[Tensor], float]:
    """Refine a tensor ring by alternating least squares (one core at a time, others fixed).

    Each update solves ``T_(k) = G_k Q_k^T`` exactly by least squares, where ``Q_k`` is the
    product of all other cores around the ring; the error never increases. Memory is
    ``O(I O R_{k-1} R_k / d_k)`` for the matrix ``Q_k``, so this is for moderate sizes
    (the synthetic experiments, converted RNN layers of a few million weights).

    Returns:
        The refined cores and the final relative Frobenius error.
    """
    _check_num_in(cores, num_in)
    cores = [c.detach().clone() for c in cores]
    dims = [c.shape[1] for c in cores]
    n = len(cores)
    target = matrix.reshape(dims)
    norm = target.norm().clamp_min(torch.finfo(target.dtype).tiny)  # 1e-300 is 0 in float32: 0 / 0
    error = float((tr_to_dense(cores, num_in) - matrix).norm() / norm)
    for _ in range(iters):
        for k in range(n):
            order = [(k + j) % n for j in range(n)]  # k first, then around the ring
            others = _chain([cores[i] for i in order[1:]])  # (R_{k+1}, D_rest, R_k)
            design = others.permute(1, 2, 0).reshape(others.shape[1], -1)  # (D_rest, R_k R_{k+1})
            rhs = target.permute(order).reshape(dims[k], -1)  # (d_k, D_rest)
            # normal equations: small (R_k R_{k+1})^2 systems, singular when a bond is larger
            # than the data needs; the eigenvalue pseudo-inverse gives the exact minimiser there
            # (lstsq's default gelsy can misjudge the rank and return a worse point)
            sol = torch.linalg.pinv(design.T @ design, hermitian=True) @ (design.T @ rhs.T)  # (R_k R_{k+1}, d_k)
            r_k, r_next = cores[k].shape[0], cores[k].shape[2]
            cores[k] = sol.T.reshape(dims[k], r_k, r_next).permute(1, 0, 2).contiguous()
        new_error = float((tr_to_dense(cores, num_in) - matrix).norm() / norm)
        done = error - new_error < tol or new_error < tol
        error = new_error
        if done:
            break
    return cores, error


def tr_decompose(matrix: Tensor, in_shape: Sequence[int], out_shape: Sequence[int],
                 rank: int | Sequence[int], als_iters: int = 50, tol: float = 1e-12) -> tuple[list[Tensor], float]:
    """TR-SVD, then up to ``als_iters`` ALS sweeps. Returns ``(cores, relative error)``."""
    _check_matrix(matrix, in_shape, out_shape)
    als_iters = check_nonnegative_int("als_iters", als_iters)
    ranks = tr_ranks(rank, in_shape, out_shape)
    cores = tr_svd(matrix, in_shape, out_shape, ranks)
    return tr_als(matrix, cores, len(in_shape), iters=als_iters, tol=tol)
