"""``TTLinear``: a linear layer whose weight is a tensor-train matrix (TT layer, TTL)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear, empty_parameters, normal_, rank_repr
from tensorrnn.tensor import tt

__all__ = ["TTLinear"]


class TTLinear(FactorizedLinear):
    r"""Applies ``y = x W^T + b`` with ``W`` stored as a tensor-train matrix (Yang et al. 2017).

    ``W`` (as an ``(in, out)`` map) has ``d`` cores ``G_k`` of shape
    ``(r_{k-1}, m_k, n_k, r_k)``, ``r_0 = r_d = 1``; parameters ``sum_k m_k n_k r_{k-1} r_k``.
    The forward contracts the input with the cores in the order the planner finds cheapest
    for the batch size; the dense weight is never formed.

    Args:
        in_shape: input modes ``(m_1, ..., m_d)``, product ``in_features``.
        out_shape: output modes ``(n_1, ..., n_d)``, product ``out_features``.
        rank: an int for all inner ranks, the ``d - 1`` inner ranks, or ``r_0..r_d``. Ranks
            above ``min(prod_{i<=k} m_i n_i, prod_{i>k} m_i n_i)`` are clipped (noted in the
            repr).
        bias, init, device, dtype: as in :class:`~tensorrnn.nn.base.FactorizedLinear`.

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Examples::

        >>> layer = TTLinear((8, 20, 20, 18), (16, 4, 4, 4), rank=4)
        >>> layer(torch.randn(96, 57600)).shape
        torch.Size([96, 1024])
        >>> layer.num_factor_params
        3360
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], rank: int | Sequence[int],
                 bias: bool = True, init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__(in_shape, out_shape, bias=bias, init=init, device=device, dtype=dtype)
        if len(self.in_shape) != len(self.out_shape):
            raise ValueError(
                f"out_shape={self.out_shape}: expected {len(self.in_shape)} modes like "
                f"in_shape={self.in_shape} (a TT-matrix pairs input and output modes)")
        self.unclipped_ranks = tt.tt_ranks(rank, self.in_shape, self.out_shape, clip=False)
        self.ranks = tt.tt_ranks(rank, self.in_shape, self.out_shape)
        shapes = tt.tt_core_shapes(self.in_shape, self.out_shape, self.ranks)
        self.cores = empty_parameters(shapes, device, dtype)
        self.reset_parameters()

    def _reset_factors(self, std: float) -> None:
        normal_(self.cores, tt.tt_init_std(self.ranks, std))

    def _contract(self, x: Tensor) -> Tensor:
        return tt.tt_contract(x, list(self.cores))

    def to_dense(self) -> Tensor:
        return tt.tt_to_dense(list(self.cores)).T

    @property
    def macs(self) -> int:
        return tt.tt_macs(self.in_shape, self.out_shape, self.ranks)

    def _rank_repr(self) -> str:
        return rank_repr("ranks", self.ranks, self.unclipped_ranks)

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int],
                    rank: int | Sequence[int], bias: bool | None = None) -> "TTLinear":
        """Convert a dense ``nn.Linear`` by TT-SVD (sequential truncated SVDs).

        The relative Frobenius error ``||W - W_tt|| / ||W||`` is stored in
        ``decomposition_error``; it is 0 up to rounding when ``W`` has TT ranks ``<= rank``.

        Args:
            linear: the layer to convert (its weight's dtype and device are kept).
            in_shape, out_shape, rank: as in the constructor.
            bias: keep a bias (default: if ``linear`` has one).
        """
        matrix, layer = cls._empty_like(linear, in_shape, out_shape, bias, rank)
        cores = tt.tt_svd(matrix, layer.in_shape, layer.out_shape, layer.ranks)
        with torch.no_grad():
            for param, core in zip(layer.cores, cores):
                param.zero_()
                param[tuple(slice(0, s) for s in core.shape)] = core  # SVD ranks can be lower
            norm = matrix.norm().clamp_min(torch.finfo(matrix.dtype).tiny)  # a zero weight: 0, not 0 / 0
            error = (tt.tt_to_dense(list(layer.cores)) - matrix).norm() / norm
        layer._finish_from_linear(linear, error)
        return layer

