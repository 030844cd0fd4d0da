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
from tensorrnn.tensor.shapes import check_rank_list, check_shape, clip_ring_ranks

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


def tr_contract(x: Tensor, cores: Sequence[Tensor], num_in: int) -> Tensor:
    """``x @ W`` for ``x`` of shape ``(..., I)``; the first ``num_in`` cores are the input cores.

    The planner typically contracts the input with the input cores first (leaving the
    ``R_0 x R_n`` bottleneck of Pan et al.) and merges the output cores among themselves,
    which costs nothing per row; the dense ``W`` is never built.
    """
    _check_num_in(cores, num_in)
    in_shape = tuple(c.shape[1] for c in cores[:num_in])
    out_features = math.prod(c.shape[1] for c in cores[num_in:])
    batch_shape = x.shape[:-1]
    xs = x.reshape(-1, *in_shape)  # (B, m_1, ..., m_n)
    y = plan.contract(tr_network(num_in, len(cores) - num_in), xs, *cores)  # (B, o_1, ..., o_m)
    return y.reshape(*batch_shape, out_features)


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
    """Multiply-adds per input row of the planned contraction (see :func:`plan.macs_per_row`)."""
    shapes = [tuple(in_shape), *tr_core_shapes(in_shape, out_shape, ranks)]
    return plan.macs_per_row(tr_network(len(in_shape), len(out_shape)), shapes)


def tr_norm(cores: Sequence[Tensor]) -> Tensor:
    """Frobenius norm of the ring, without building it (two copies of the ring, traced)."""
    r0 = cores[0].shape[0]
    eye = torch.eye(r0, dtype=cores[0].dtype, device=cores[0].device)
    acc = torch.einsum("ac,bd->abcd", eye, eye)  # (R_0, R_0, R_0, R_0): both copies open at R_0
    for core in cores:
        acc = torch.einsum("abcd,cme,dmf->abef", acc, core, core)
    return torch.einsum("abab->", acc).clamp_min(0).sqrt()


def tr_svd(*args, **kwargs):  # placeholder until the decomposition lands
    raise NotImplementedError


def tr_als(*args, **kwargs):
    raise NotImplementedError


def tr_decompose(*args, **kwargs):
    raise NotImplementedError
