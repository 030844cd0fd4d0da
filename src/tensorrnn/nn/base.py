"""The common base of the factorised linear layers (TT, TR, BT, HT and the dense reference)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tensorrnn.tensor.shapes import check_shape

__all__ = ["FactorizedLinear", "INITS", "init_std", "check_floating", "check_linear", "rank_repr", "empty_parameters",
           "normal_", "copy_"]

#: Supported initialisations of the reconstructed weight.
INITS = ("glorot", "he")


def init_std(init: str, in_features: int, out_features: int) -> float:
    """Std of the dense init a layer reproduces: Glorot ``sqrt(2/(in+out))`` or He ``sqrt(2/in)``."""
    if init == "glorot":
        return math.sqrt(2.0 / (in_features + out_features))
    if init == "he":
        return math.sqrt(2.0 / in_features)
    raise ValueError(f"init={init!r}: expected one of {', '.join(map(repr, INITS))}")


class FactorizedLinear(nn.Module):
    """Base of the linear maps ``y = x W^T + b`` whose weight is stored in factorised form.

    Subclasses hold the factors as parameters and implement :meth:`_contract` (the planned
    contraction of a ``(B, in_features)`` batch; never the dense weight), :meth:`to_dense`,
    :meth:`_reset_factors` and :meth:`_rank_repr`. The base validates shapes and inputs,
    handles the bias and leading batch dimensions, and derives the counts.

    Args:
        in_shape: modes of the input, row-major (first mode most significant).
        out_shape: modes of the output, row-major. Gate packing: multiply the first mode by
            the number of gates; the output is then gate-major.
        bias: if ``True``, adds a learnable bias (zero at init).
        init: the std of the reconstructed weight at init: ``"glorot"`` (``sqrt(2/(in+out))``) or
            ``"he"`` (``sqrt(2/in)``).
        device, dtype: of the parameters, as in ``torch.nn.Linear``.

    Attributes:
        in_shape, out_shape: tuples of modes.
        in_features, out_features: products of the modes.
        bias: the bias ``(out_features,)`` or ``None``.
        decomposition_error: relative Frobenius error of :meth:`from_linear` (``None`` for a
            layer built any other way).
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_features: int
    out_features: int

    def __init__(self, in_shape: Sequence[int], out_shape: Sequence[int], bias: bool = True,
                 init: str = "glorot", device=None, dtype=None) -> None:
        super().__init__()
        self.in_shape = check_shape("in_shape", in_shape)
        self.out_shape = check_shape("out_shape", out_shape)
        self.in_features = math.prod(self.in_shape)
        self.out_features = math.prod(self.out_shape)
        init_std(init, self.in_features, self.out_features)  # validates init
        self.init = init
        self.decomposition_error: float | None = None
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    # --- subclass hooks ----------------------------------------------------------------------
    def _contract(self, x: Tensor) -> Tensor:
        """``(..., in_features) -> (..., out_features)`` without bias."""
        raise NotImplementedError

    def _reset_factors(self, std: float) -> None:
        """Initialise the factors so that the reconstructed weight has entries of std ``std``."""
        raise NotImplementedError

    def _rank_repr(self) -> str:
        return ""

    def to_dense(self) -> Tensor:
        """The weight ``(out_features, in_features)`` in ``nn.Linear`` layout."""
        raise NotImplementedError

    @property
    def macs(self) -> int:
        """Multiply-adds per input row of the forward contraction (bias not counted)."""
        raise NotImplementedError

    # --- shared behaviour --------------------------------------------------------------------
    @property
    def weight_std(self) -> float:
        """The std of the reconstructed weight at init (set by ``init``)."""
        return init_std(self.init, self.in_features, self.out_features)

    def reset_parameters(self) -> None:
        """Re-draw the factors (variance-preserving, see ``init``) and zero the bias."""
        self._reset_factors(self.weight_std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def num_factor_params(self) -> int:
        """Number of parameters of the weight's factors (without the bias)."""
        return sum(p.numel() for name, p in self.named_parameters() if name != "bias")

    @property
    def compression_ratio(self) -> float:
        """``in_features * out_features / num_factor_params``."""
        return self.in_features * self.out_features / self.num_factor_params

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"input.shape={tuple(x.shape)}: expected the last dimension to be "
                f"in_features={self.in_features}")
        check_floating(x)
        if x.numel() == 0:
            y = x.new_zeros(*x.shape[:-1], self.out_features)
        else:
            y = self._contract(x)
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        rank = self._rank_repr()
        return (f"in_shape={self.in_shape}, out_shape={self.out_shape}"
                + (f", {rank}" if rank else "")
                + f", bias={self.bias is not None}, init={self.init!r}")

    @classmethod
    def _empty_like(cls, linear: nn.Linear, in_shape: Sequence[int], out_shape: Sequence[int], bias: bool | None,
                    *args, **kwargs) -> tuple[Tensor, "FactorizedLinear"]:
        """For ``from_linear``: ``linear``'s weight as an ``(I, O)`` matrix, checked against the shapes,
        and a layer of those shapes (``args``, ``kwargs``: the rest of the constructor's) on its
        device and dtype, with a bias if ``bias`` says so (default: if ``linear`` has one)."""
        matrix = check_linear(linear, in_shape, out_shape)  # (I, O)
        layer = cls(in_shape, out_shape, *args, bias=linear.bias is not None if bias is None else bias,
                    device=linear.weight.device, dtype=linear.weight.dtype, **kwargs)
        return matrix, layer

    def _finish_from_linear(self, linear: nn.Linear, error: float) -> None:
        """Copy ``linear``'s bias and record the decomposition's relative error."""
        if self.bias is not None:
            with torch.no_grad():
                if linear.bias is not None:
                    self.bias.copy_(linear.bias)
                else:
                    self.bias.zero_()
        self.decomposition_error = float(error)


def check_floating(x: Tensor) -> None:
    """Raise ``ValueError`` for integer input (raw uint8 frames), which the contractions reject
    with an opaque dtype message from deep inside."""
    if not (x.is_floating_point() or x.is_complex()):
        raise ValueError(f"input of dtype {x.dtype}: expected a floating-point tensor "
                         f"(scale raw frames to float first)")


def check_linear(linear: object, in_shape: Sequence[int], out_shape: Sequence[int]) -> Tensor:
    """Validate ``linear`` against the shapes; return its weight as an ``(I, O)`` matrix.

    ``from_linear`` calls this before building the layer, which reads ``linear``'s attributes.
    """
    in_shape, out_shape = check_shape("in_shape", in_shape), check_shape("out_shape", out_shape)
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear={type(linear).__name__}: expected a torch.nn.Linear")
    in_features, out_features = math.prod(in_shape), math.prod(out_shape)
    if (linear.in_features, linear.out_features) != (in_features, out_features):
        raise ValueError(
            f"linear=Linear({linear.in_features}, {linear.out_features}): expected "
            f"in_features={in_features} (in_shape={in_shape}) and out_features={out_features} "
            f"(out_shape={out_shape})")
    weight = linear.weight.detach().T  # (I, O)
    # SVD and eigh have no half-precision kernels (and would lose the fit to rounding): the
    # decomposition runs in float32; the layer keeps linear's dtype and rounds the factors once.
    return weight.float() if weight.dtype in (torch.float16, torch.bfloat16) else weight


def rank_repr(name: str, ranks: Sequence[int], unclipped: Sequence[int]) -> str:
    """``name=[...]`` plus a note when the requested ranks were clipped to useful ones."""
    text = f"{name}={list(ranks)}"
    if list(ranks) != list(unclipped):
        text += f" (clipped from {list(unclipped)})"
    return text


def empty_parameters(shapes: Sequence[Sequence[int]], device=None, dtype=None) -> nn.ParameterList:
    """Uninitialised parameters of the given shapes: a layer's cores or factors, which its
    ``reset_parameters`` draws."""
    return nn.ParameterList(nn.Parameter(torch.empty(s, device=device, dtype=dtype)) for s in shapes)


def normal_(params, std: float) -> None:
    """Draw every parameter of ``params`` from ``N(0, std^2)``."""
    for p in params:
        nn.init.normal_(p, 0.0, std)


def copy_(params, values) -> None:
    """Copy ``values`` into ``params``, one by one, outside autograd (``from_linear``)."""
    with torch.no_grad():
        for param, value in zip(params, values):
            param.copy_(value)
