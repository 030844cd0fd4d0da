"""``TRLinear``: a linear layer whose weight is a tensor ring (TR layer, Pan et al. 2019)."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear, copy_, empty_parameters, normal_, rank_repr
from tensorrnn.tensor import tr

__all__ = ["TRLinear"]


class TRLinear(FactorizedLinear):
    r"""Applies ``y = x W^T + b`` with ``W`` stored as a tensor ring (Pan et al. 2019).

    ``n`` input cores ``(R_{k-1}, m_k, R_k)`` then ``m`` output cores ``(R_{n+j-1}, n_j,
    R_{n+j})`` form one ring closed by ``R_{n+m} = R_0``; parameters
    ``sum_i R_{i-1} m_i R_i + sum_j R_{n+j-1} n_j R_{n+j}``. The input and output may have
    different numbers of modes. The forward contracts the input with the input cores (down to
    the ``R_0 x R_n`` bottleneck) and the merged output cores; the dense weight is never formed.

    Args:
        in_shape: input modes ``(m_1, ..., m_n)``.
        out_shape: output modes ``(n_1, ..., n_m)``.
        rank: an int for every bond, or ``R_0..R_{n+m-1}`` (``R_0`` closes the ring). Ranks
            larger than the product of the other two sides of a core are clipped (noted in
            the repr).
        bias, init, device, dtype: as in :class:`~tensorrnn.nn.base.FactorizedLinear`.

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Examples::

        >>> layer = TRLinear((4, 2, 5, 8, 6, 5, 3, 2), (16, 4, 2, 4, 2), rank=[10] + [5] * 12)
        >>> layer(torch.randn(96, 57600)).shape
        torch.Size([96, 1024])
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], rank: int | Sequence[int],
                 bias: bool = True, init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__(in_shape, out_shape, bias=bias, init=init, device=device, dtype=dtype)
        self.unclipped_ranks = tr.tr_ranks(rank, self.in_shape, self.out_shape, clip=False)
        self.ranks = tr.tr_ranks(rank, self.in_shape, self.out_shape)
        shapes = tr.tr_core_shapes(self.in_shape, self.out_shape, self.ranks)
        self.cores = empty_parameters(shapes, device, dtype)
        self.reset_parameters()

    def _reset_factors(self, std: float) -> None:
        normal_(self.cores, tr.tr_init_std(self.ranks, std))

    def _contract(self, x: Tensor) -> Tensor:
        return tr.tr_contract(x, list(self.cores), len(self.in_shape))

    def to_dense(self) -> Tensor:
        return tr.tr_to_dense(list(self.cores), len(self.in_shape)).T

    @property
    def macs(self) -> int:
        return tr.tr_macs(self.in_shape, self.out_shape, self.ranks)

    def _rank_repr(self) -> str:
        return rank_repr("ranks", self.ranks, self.unclipped_ranks)

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int],
                    rank: int | Sequence[int], bias: bool | None = None, als_iters: int = 50,
                    tol: float = 1e-12) -> "TRLinear":
        """Convert a dense ``nn.Linear`` by TR-SVD followed by ALS sweeps.

        The relative Frobenius error ``||W - W_tr|| / ||W||`` is stored in
        ``decomposition_error``.

        Args:
            linear: the layer to convert (its weight's dtype and device are kept).
            in_shape, out_shape, rank: as in the constructor.
            bias: keep a bias (default: if ``linear`` has one).
            als_iters: maximum number of ALS sweeps after TR-SVD (0: TR-SVD only).
            tol: stop when a sweep improves the relative error by less than this.
        """
        matrix, layer = cls._empty_like(linear, in_shape, out_shape, bias, rank)
        cores, error = tr.tr_decompose(matrix, layer.in_shape, layer.out_shape, layer.ranks,
                                       als_iters=als_iters, tol=tol)
        copy_(layer.cores, cores)
        layer._finish_from_linear(linear, error)
        return layer
