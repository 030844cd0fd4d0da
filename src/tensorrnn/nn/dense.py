"""``DenseLinear``: the dense weight behind the same interface as the factorised layers."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear, copy_

__all__ = ["DenseLinear"]


class DenseLinear(FactorizedLinear):
    r"""A plain ``y = x W^T + b`` with the interface of the factorised layers (the "dense" format).

    Used as the uncompressed baseline: same shapes, init options and attributes, so a model
    can switch between ``"dense"`` and ``"tt"`` by one argument.

    Args:
        in_shape: input modes (only their product matters for the computation).
        out_shape: output modes.
        bias, init, device, dtype: as in :class:`~tensorrnn.nn.base.FactorizedLinear`.

    Shape:
        - Input: ``(*, in_features)``.
        - Output: ``(*, out_features)``.

    Examples::

        >>> layer = DenseLinear((8, 8), (4, 4))
        >>> layer(torch.randn(3, 64)).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], bias: bool = True,
                 init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__(in_shape, out_shape, bias=bias, init=init, device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features, device=device, dtype=dtype))
        self.reset_parameters()

    def _reset_factors(self, std: float) -> None:
        nn.init.normal_(self.weight, 0.0, std)

    def _contract(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight)

    def to_dense(self) -> Tensor:
        return self.weight

    @property
    def macs(self) -> int:
        return self.in_features * self.out_features

    @classmethod
    def from_linear(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int],
                    rank=None, bias: bool | None = None) -> "DenseLinear":
        """Copy a dense ``nn.Linear`` (exact; ``rank`` is ignored and accepted for symmetry)."""
        _, layer = cls._empty_like(linear, in_shape, out_shape, bias)
        copy_([layer.weight], [linear.weight])
        layer._finish_from_linear(linear, 0.0)
        return layer
