"""``HTLinear``: a linear layer whose weight is a hierarchical Tucker matrix (HT layer, Yin et al. 2020)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear, copy_, empty_parameters, normal_, rank_repr
from tensorrnn.tensor import ht

__all__ = ["HTLinear"]


class HTLinear(FactorizedLinear):
    r"""Applies ``y = x W^T + b`` with ``W`` a hierarchical Tucker matrix (Grasedyck 2010; Yin et al. 2020).

    The ``d`` paired modes ``(m_k, n_k)`` are the leaves of a binary tree (balanced by
    default): leaf ``k`` holds a frame ``(m_k, n_k, r_k)``, every inner node ``t`` a transfer
    tensor ``(r_t, r_left, r_right)`` and the root has rank 1; parameters
    ``sum_k m_k n_k r_k + sum_t r_t r_left r_right``. The forward sweeps the input through the
    equivalent chain of cores (:func:`tensorrnn.tensor.ht.ht_contract`), last leaf first; the
    dense weight is never formed.

    Args:
        in_shape: input modes ``(m_1, ..., m_d)``.
        out_shape: output modes ``(n_1, ..., n_d)``.
        rank: an int for every node but the root, or one rank per node: the ``2d - 2`` of all
            nodes but the root (leaves first, then the inner nodes in post-order), or all
            ``2d - 1`` with the root's 1 last. Ranks that cannot be useful are clipped (noted
            in the repr).
        tree: the dimension tree as nested pairs of modes, leaves ``0..d-1`` left to right;
            default the balanced tree, e.g. ``((0, 1), (2, 3))`` for 4 modes.
        bias, init, device, dtype: as in :class:`~tensorrnn.nn.base.FactorizedLinear`.

    Attributes:
        leaves: the ``d`` frames ``(m_k, n_k, r_k)``.
        transfers: the ``d - 1`` transfer tensors, inner nodes in post-order, the root's
            ``(1, r_left, r_right)`` last.
        ranks: one per node, the root's 1 last; ``tree``: the tree used.

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Examples::

        >>> layer = HTLinear((8, 20, 20, 18), (16, 4, 4, 4), rank=7)
        >>> layer(torch.randn(96, 57600)).shape
        torch.Size([96, 1024])
        >>> layer.num_factor_params
        3255
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], rank: int | Sequence[int],
                 tree=None, bias: bool = True, init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__(in_shape, out_shape, bias=bias, init=init, device=device, dtype=dtype)
        if len(self.in_shape) != len(self.out_shape):
            raise ValueError(
                f"out_shape={self.out_shape}: expected {len(self.in_shape)} modes like "
                f"in_shape={self.in_shape} (an HT-matrix pairs input and output modes)")
        self.tree = ht.check_tree(tree, len(self.in_shape))
        self.unclipped_ranks = ht.ht_ranks(rank, self.in_shape, self.out_shape, self.tree, clip=False)
        self.ranks = ht.ht_ranks(rank, self.in_shape, self.out_shape, self.tree)
        leaves, transfers = ht.ht_shapes(self.in_shape, self.out_shape, self.ranks, self.tree)
        self.leaves = empty_parameters(leaves, device, dtype)
        self.transfers = empty_parameters(transfers, device, dtype)
        self.reset_parameters()

    def _reset_factors(self, std: float) -> None:
        normal_((*self.leaves, *self.transfers), ht.ht_init_std(self.ranks, std))

    def _contract(self, x: Tensor) -> Tensor:
        return ht.ht_contract(x, list(self.leaves), list(self.transfers), self.tree)

    def to_dense(self) -> Tensor:
        return ht.ht_to_dense(list(self.leaves), list(self.transfers), self.tree).T

    @property
    def macs(self) -> int:
        return ht.ht_macs(self.in_shape, self.out_shape, self.ranks, self.tree)

    def _rank_repr(self) -> str:
        text = rank_repr("ranks", self.ranks, self.unclipped_ranks)
        return text if self.tree == ht.ht_tree(len(self.in_shape)) else f"{text}, tree={self.tree}"

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int],
                    rank: int | Sequence[int], tree=None, bias: bool | None = None) -> "HTLinear":
        """Convert a dense ``nn.Linear`` by HT-SVD (truncated SVDs of the matricisations).

        The relative Frobenius error ``||W - W_ht|| / ||W||`` is stored in
        ``decomposition_error``; it is 0 up to rounding when ``W`` has HT ranks ``<= rank``.

        Args:
            linear: the layer to convert (its weight's dtype and device are kept).
            in_shape, out_shape, rank, tree: as in the constructor.
            bias: keep a bias (default: if ``linear`` has one).
        """
        matrix, layer = cls._empty_like(linear, in_shape, out_shape, bias, rank, tree=tree)
        leaves, transfers = ht.ht_svd(matrix, layer.in_shape, layer.out_shape, layer.ranks, layer.tree)
        copy_((*layer.leaves, *layer.transfers), (*leaves, *transfers))
        with torch.no_grad():
            norm = matrix.norm().clamp_min(torch.finfo(matrix.dtype).tiny)  # a zero weight: 0, not 0 / 0
            error = (ht.ht_to_dense(list(layer.leaves), list(layer.transfers), layer.tree) - matrix).norm() / norm
        layer._finish_from_linear(linear, error)
        return layer
