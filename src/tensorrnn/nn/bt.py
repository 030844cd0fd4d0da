"""``BTLinear``: a linear layer whose weight is a sum of Tucker blocks (BT layer, Ye et al. 2018)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear, copy_, empty_parameters, normal_, rank_repr
from tensorrnn.tensor import bt
from tensorrnn.tensor.shapes import check_positive_int

__all__ = ["BTLinear"]


class BTLinear(FactorizedLinear):
    r"""Applies ``y = x W^T + b`` with ``W`` a block-term tensor (Ye et al. 2018).

    ``W`` is the sum of ``blocks`` Tucker models over the paired modes ``(m_k, n_k)``: each
    block has a core ``(R_1, ..., R_d)`` and ``d`` factors ``(m_k, n_k, R_k)``; parameters
    ``blocks * (sum_k m_k n_k R_k + prod_k R_k)``. The blocks are stacked in one ``core``
    ``(blocks, R_1..R_d)`` and ``factors[k]`` ``(blocks, m_k, n_k, R_k)``.

    Args:
        in_shape: input modes ``(m_1, ..., m_d)``.
        out_shape: output modes ``(n_1, ..., n_d)``.
        rank: an int for every mode, or ``R_1..R_d``. ``R_k`` above ``m_k n_k`` or above
            ``prod_{j != k} R_j`` is clipped (noted in the repr).
        blocks: the number of Tucker blocks ``N``.
        bias, init, device, dtype: as in :class:`~tensorrnn.nn.base.FactorizedLinear`.

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Examples::

        >>> layer = BTLinear((8, 20, 20, 18), (16, 4, 4, 4), rank=4, blocks=2)
        >>> layer(torch.randn(96, 57600)).shape
        torch.Size([96, 1024])
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], rank: int | Sequence[int],
                 blocks: int = 1, bias: bool = True, init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__(in_shape, out_shape, bias=bias, init=init, device=device, dtype=dtype)
        if len(self.in_shape) != len(self.out_shape):
            raise ValueError(
                f"out_shape={self.out_shape}: expected {len(self.in_shape)} modes like "
                f"in_shape={self.in_shape} (a block term pairs input and output modes)")
        self.blocks = check_positive_int("blocks", blocks)
        self.unclipped_ranks = bt.bt_ranks(rank, self.in_shape, self.out_shape, clip=False)
        self.ranks = bt.bt_ranks(rank, self.in_shape, self.out_shape)
        core, factors = bt.bt_shapes(self.in_shape, self.out_shape, self.ranks, self.blocks)
        self.core = nn.Parameter(torch.empty(core, device=device, dtype=dtype))
        self.factors = empty_parameters(factors, device, dtype)
        self.reset_parameters()

    def _reset_factors(self, std: float) -> None:
        normal_((self.core, *self.factors), bt.bt_init_std(self.ranks, self.blocks, std))

    def _contract(self, x: Tensor) -> Tensor:
        return bt.bt_contract(x, self.core, list(self.factors))

    def to_dense(self) -> Tensor:
        return bt.bt_to_dense(self.core, list(self.factors)).T

    @property
    def macs(self) -> int:
        return bt.bt_macs(self.in_shape, self.out_shape, self.ranks, self.blocks)

    def _rank_repr(self) -> str:
        return rank_repr("ranks", self.ranks, self.unclipped_ranks) + f", blocks={self.blocks}"

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int],
                    rank: int | Sequence[int], blocks: int = 1, bias: bool | None = None,
                    als_iters: int = 50, tol: float = 1e-12) -> "BTLinear":
        """Convert a dense ``nn.Linear``: HOSVD per block on the residual, then ALS sweeps.

        The relative Frobenius error ``||W - W_bt|| / ||W||`` is stored in
        ``decomposition_error``; with ``blocks=1`` and Tucker ranks ``<= rank`` it is 0 up to
        rounding.

        Args:
            linear: the layer to convert (its weight's dtype and device are kept).
            in_shape, out_shape, rank, blocks: as in the constructor.
            bias: keep a bias (default: if ``linear`` has one).
            als_iters: maximum number of ALS sweeps (0: greedy HOSVD only).
            tol: stop when a sweep improves the relative error by less than this.
        """
        matrix, layer = cls._empty_like(linear, in_shape, out_shape, bias, rank, blocks=blocks)
        core, factors, error = bt.bt_decompose(matrix, layer.in_shape, layer.out_shape, layer.ranks,
                                               layer.blocks, als_iters=als_iters, tol=tol)
        copy_((layer.core, *layer.factors), (core, *factors))
        layer._finish_from_linear(linear, error)
        return layer
