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

__all__ = ["ConvStem", "MAX_DEPTH", "STEM_INITS"]

#: The stem's initialisations: torch's for a ``Conv2d`` (the default), and He's for a ReLU.
STEM_INITS = ("torch", "he")
#: The most levels a stem may have (each halves the height and width).
MAX_DEPTH = 3


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
    """Channels-last 4x4 convolutions of stride 2 (padding 1), each followed by a ReLU: every
    level turns ``C`` channels into ``4C`` at half the height and width.

    Args:
        in_channels: channels of a frame (3; 6 for a frame beside its difference).
        init: ``"torch"`` (``Conv2d``'s default: uniform weights and bias, a third of He's
            variance) or ``"he"`` (normal weights of std ``sqrt(2 / (16 C))``, zero bias).
        depth: levels (1, the default; 2 sees a 10x10 neighbourhood instead of 4x4, and a
            second level costs about four times the first's multiply-adds).

    Shape:
        - Input: ``(*, H, W, C)`` with ``H`` and ``W`` multiples of ``2**depth``; any leading
          dimensions (batch, time).
        - Output: ``(*, H/2**depth, W/2**depth, 4**depth C)``: ``H * W * C`` features, as many
          as the input.

    Examples:
        >>> stem = ConvStem(3)
        >>> stem(torch.randn(2, 5, 120, 160, 3)).shape
        torch.Size([2, 5, 60, 80, 12])
        >>> sum(p.numel() for p in stem.parameters())
        588
        >>> ConvStem(3, depth=2)(torch.randn(2, 5, 120, 160, 3)).shape
        torch.Size([2, 5, 30, 40, 48])
    """

    def __init__(self, in_channels: int = 3, init: str = "torch", depth: int = 1) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels={in_channels!r}: expected a positive integer")
        if init not in STEM_INITS:
            raise ValueError(f"init={init!r}: expected one of {', '.join(map(repr, STEM_INITS))}")
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth={depth!r}: expected an integer from 1 to {MAX_DEPTH}")
        self.in_channels = in_channels
        self.init = init
        self.depth = depth
        self.conv = nn.Conv2d(in_channels, 4 * in_channels, kernel_size=4, stride=2, padding=1)  # torch's init
        # the levels after the first (``conv`` keeps its name: depth-1 checkpoints load as before)
        self.deeper = nn.ModuleList(nn.Conv2d(4 ** k * in_channels, 4 ** (k + 1) * in_channels, kernel_size=4,
                                              stride=2, padding=1) for k in range(1, depth))
        if init == "he":
            self._he_init()

    @property
    def out_channels(self) -> int:
        return 4 ** self.depth * self.in_channels

    def reset_parameters(self) -> None:
        """Draw the convolutions' weights and biases again, by :attr:`init`."""
        if self.init == "torch":
            for conv in self._convs():
                conv.reset_parameters()
        else:
            self._he_init()

    def _convs(self) -> list[nn.Conv2d]:
        return [self.conv, *self.deeper]

    def _he_init(self) -> None:
        for conv in self._convs():
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")   # std sqrt(2 / fan in), fan in 16 x its channels
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor, grad_in_place: bool = False) -> Tensor:
        """The stem's output; ``grad_in_place``: the last ReLU's backward writes into the gradient
        it is handed (a batch of outputs less at a training step's peak), for callers whose output
        feeds a layer that hands back a gradient of its own: a gradient passed in by the caller
        (``out.backward(gradient)``) would be overwritten. The video model sets it
        (``tensorrnn.train.module.VideoClassifier``)."""
        step = 2 ** self.depth
        if x.dim() < 3 or x.shape[-1] != self.in_channels or x.shape[-3] % step or x.shape[-2] % step:
            sides = "even H and W" if step == 2 else f"H and W multiples of {step} ({self.depth} levels)"
            raise ValueError(f"input of shape {tuple(x.shape)}: expected (..., H, W, {self.in_channels}) "
                             f"frames with {sides}")
        lead, (H, W, C) = x.shape[:-3], x.shape[-3:]
        y = x.reshape(-1, H, W, C).permute(0, 3, 1, 2)                            # (N, C, H, W)
        convs = self._convs()
        for k, conv in enumerate(convs):
            y = conv(y)                                                           # (N, 4^k C, H/2^k, W/2^k)
            # in place: a convolution's backward needs its input and weight, not its output (a step
            # 8% faster); a ReLU's backward reads its output, which the next level keeps as its input
            last = k == len(convs) - 1
            recorded = last and grad_in_place and torch.is_grad_enabled() and y.requires_grad
            y = _ReLUInPlace.apply(y) if recorded else torch.relu_(y)
        return y.permute(0, 2, 3, 1).reshape(*lead, H // step, W // step, self.out_channels)

    def extra_repr(self) -> str:
        levels = f", {self.depth} levels" if self.depth > 1 else ""
        return f"{self.in_channels} -> {self.out_channels} channels, 4x4 stride 2{levels}, {self.init} init"
