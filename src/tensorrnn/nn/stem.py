"""A small learned stem between a model's normalised frames and its factorised map.

A map linear in the pixels reads a frame difference as the sum of what every moving thing
adds: the evidence of an actor and of a second mover add up, and no weight can tell them apart
by their look, only by where they are. :class:`ConvStem` puts one local nonlinearity first:
a 4x4 convolution of stride 2 and a ReLU, ``C`` channels to ``4C``, so every 2x2 cell of the
frame becomes ``4C`` rectified responses to its 4x4 neighbourhood (what kind of texture moved
there). A step ``(H, W, C)`` becomes ``(H/2, W/2, 4C)``: as many features as before, so the
factorised map keeps its ``in_shape`` and stays the only map across the frame.

The convolution starts with torch's initialisation for a ``Conv2d`` (``init="torch"``): then
the ReLU hands the map about a sixth of its input's mean square. ``init="he"`` is He's
initialisation (normal, std ``sqrt(2 / (16 C))``) and a zero bias, which keeps a unit mean
square, the scale the factorised map's ``glorot`` initialisation assumes; measured in
``docs/recipes.md`` (it wins on real handheld footage and loses on the generated sets with a
distractor or a pan, so it is not the default).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ConvStem", "STEM_INITS"]

#: The stem's initialisations: torch's for a ``Conv2d`` (the default), and He's for a ReLU.
STEM_INITS = ("torch", "he")


class _ReLUInPlace(torch.autograd.Function):
    """``relu_`` whose backward masks the incoming gradient in its own memory.

    Autograd's ReLU backward writes a new tensor the size of the stem's output (a batch of
    frames, as large as the input batch); masking the gradient the factorised map hands back
    in place keeps a training step's peak memory one batch lower. Only for a gradient that is
    autograd's own (``stem(x, grad_in_place=True)``: the model's, whose stem output feeds the
    factorised map), and only where it is dense (not expanded, as the gradient of a ``sum`` is).
    """

    @staticmethod
    def forward(ctx, y: Tensor) -> Tensor:
        torch.relu_(y)
        ctx.mark_dirty(y)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        # autograd's own ReLU backward (zero where the output is), written into the gradient:
        # a tenth of the time of masked_fill_ with a mask it would first have to build
        if grad.is_contiguous() or grad.is_contiguous(memory_format=torch.channels_last):
            return torch.ops.aten.threshold_backward.grad_input(grad, y, 0, grad_input=grad)
        return torch.ops.aten.threshold_backward(grad, y, 0)


class ConvStem(nn.Module):
    """Channels-last 4x4 convolution of stride 2 (padding 1) and a ReLU, ``C`` to ``4C`` channels.

    Args:
        in_channels: channels of a frame (3; 6 for a frame beside its difference).
        init: ``"torch"`` (``Conv2d``'s default: uniform weights and bias, a third of He's
            variance) or ``"he"`` (normal weights of std ``sqrt(2 / (16 C))``, zero bias).

    Shape:
        - Input: ``(*, H, W, C)`` with even ``H`` and ``W``; any leading dimensions (batch, time).
        - Output: ``(*, H/2, W/2, 4C)``: ``H * W * C`` features, as many as the input.

    Examples:
        >>> stem = ConvStem(3)
        >>> stem(torch.randn(2, 5, 120, 160, 3)).shape
        torch.Size([2, 5, 60, 80, 12])
        >>> sum(p.numel() for p in stem.parameters())
        588
    """

    def __init__(self, in_channels: int = 3, init: str = "torch") -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels={in_channels!r}: expected a positive integer")
        if init not in STEM_INITS:
            raise ValueError(f"init={init!r}: expected one of {', '.join(map(repr, STEM_INITS))}")
        self.in_channels = in_channels
        self.init = init
        self.conv = nn.Conv2d(in_channels, 4 * in_channels, kernel_size=4, stride=2, padding=1)  # torch's init
        if init == "he":
            self._he_init()

    def reset_parameters(self) -> None:
        """Draw the convolution's weights and bias again, by :attr:`init`."""
        if self.init == "torch":
            self.conv.reset_parameters()
        else:
            self._he_init()

    def _he_init(self) -> None:
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")   # std sqrt(2 / fan in), fan in 16 C
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor, grad_in_place: bool = False) -> Tensor:
        """The stem's output; ``grad_in_place``: the ReLU's backward writes into the gradient it is
        handed (a batch of outputs less at a training step's peak), for callers whose output
        feeds a layer that hands back a gradient of its own: a gradient passed in by the caller
        (``out.backward(gradient)``) would be overwritten. The video model sets it
        (``tensorrnn.train.module.VideoClassifier``)."""
        if x.dim() < 3 or x.shape[-1] != self.in_channels or x.shape[-3] % 2 or x.shape[-2] % 2:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected (..., H, W, {self.in_channels}) "
                             "frames with even H and W")
        lead, (H, W, C) = x.shape[:-3], x.shape[-3:]
        y = self.conv(x.reshape(-1, H, W, C).permute(0, 3, 1, 2))                # (N, 4C, H/2, W/2)
        # in place: the convolution's backward needs its input and weight, not its output (a step 8% faster)
        recorded = grad_in_place and torch.is_grad_enabled() and y.requires_grad
        y = _ReLUInPlace.apply(y) if recorded else torch.relu_(y)
        return y.permute(0, 2, 3, 1).reshape(*lead, H // 2, W // 2, 4 * C)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {4 * self.in_channels} channels, 4x4 stride 2, {self.init} init"
