"""``factorized_linear``: build any format of factorised linear layer from plain values."""
from __future__ import annotations

from collections.abc import Sequence

from tensorrnn.nn.base import FactorizedLinear
from tensorrnn.nn.bt import BTLinear
from tensorrnn.nn.dense import DenseLinear
from tensorrnn.nn.ht import HTLinear
from tensorrnn.nn.tr import TRLinear
from tensorrnn.nn.tt import TTLinear

__all__ = ["FACTORIZATIONS", "factorized_linear"]

#: The formats, by the name used in configs.
FACTORIZATIONS: dict[str, type[FactorizedLinear]] = {
    "tt": TTLinear, "tr": TRLinear, "bt": BTLinear, "ht": HTLinear, "dense": DenseLinear,
}


def factorized_linear(factorization: str, in_shape: Sequence[int], out_shape: Sequence[int],
                      rank: int | Sequence[int] | None = None, blocks: int = 1, bias: bool = True,
                      init: str = "glorot", device=None, dtype=None) -> FactorizedLinear:
    """Build a factorised linear layer by name.

    Args:
        factorization: ``"tt"``, ``"tr"``, ``"bt"``, ``"ht"`` or ``"dense"``.
        in_shape, out_shape: the input and output modes.
        rank: required for ``"tt"``, ``"tr"``, ``"bt"`` and ``"ht"`` (balanced tree);
            ignored for ``"dense"``.
        blocks: number of Tucker blocks (``"bt"`` only; must be 1 otherwise).
        bias, init, device, dtype: as in the layers.

    Examples::

        >>> factorized_linear("tt", (8, 20, 20, 18), (16, 4, 4, 4), rank=4).num_factor_params
        3360
    """
    if factorization not in FACTORIZATIONS:
        raise ValueError(
            f"factorization={factorization!r}: expected one of {', '.join(map(repr, FACTORIZATIONS))}")
    common = dict(bias=bias, init=init, device=device, dtype=dtype)
    if factorization == "dense":
        return DenseLinear(in_shape, out_shape, **common)
    if rank is None:
        raise ValueError(f"rank=None: factorization={factorization!r} needs a rank (int or list)")
    if factorization == "bt":
        return BTLinear(in_shape, out_shape, rank, blocks=blocks, **common)
    if blocks != 1:
        raise ValueError(f"blocks={blocks}: only factorization='bt' has blocks; expected 1")
    return FACTORIZATIONS[factorization](in_shape, out_shape, rank, **common)
