"""Input normalisation estimated from data: the model starts well conditioned whatever the
pixel scaling.

The factorised input maps are initialised so that their reconstructed weight has a
variance-preserving std (``init="glorot"``), which assumes inputs of unit mean square. Raw
pixels are far from that: the Keras code's ``pixel - 128`` has a std of about 60, so the gate
pre-activations start with a std of about 70 and the gates saturate. :class:`InputNormalization`
subtracts a mean and divides by a std per channel (the input's last dimension: the colour
channel of ``(..., H, W, 3)`` frames, or each feature of ``(..., F)`` arrays), both estimated
from training clips before the first step and kept as buffers, so the checkpoint carries
them to ``validate``, ``test``, ``predict`` and any export.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

__all__ = ["InputNormalization"]

#: Channels from which :meth:`InputNormalization.forward` broadcasts its ``(C,)`` statistics as
#: they are: below, it tiles them along the next dimension (onnxruntime's broadcast, see there).
_LONG_SPAN = 64


class InputNormalization(nn.Module):
    r"""``y = (x - mean) / std`` over the last dimension, with statistics estimated from data.

    Until :meth:`fit` (or :meth:`update` then :meth:`finalize`) has seen data, the module is
    the identity and :attr:`fitted` is False. The statistics are buffers of shape ``(C,)``
    where ``C`` is the size of the input's last dimension, sized by the first data seen (or by
    the loaded state dict), so one module serves frames (C = 3) and feature arrays (C = F).

    Args:
        eps: smallest std used; a channel that is constant in the data is only centred.

    Shape:
        - input: ``(..., C)``, any leading dimensions.
        - output: same shape and dtype.

    Examples::

        >>> norm = InputNormalization()
        >>> frames = torch.rand(8, 6, 12, 16, 3) * 255 - 128       # pixel - 128
        >>> norm.fit([frames])
        InputNormalization(channels=3, clips=8)
        >>> y = norm(frames)
        >>> bool(y.mean().abs() < 1e-3), bool((y.std() - 1).abs() < 1e-2)
        (True, True)
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.ones(0))
        # clips the statistics were estimated from (0: not fitted); float64 sums while fitting
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self._sums: tuple[Tensor, Tensor, Tensor] | None = None

    @property
    def fitted(self) -> bool:
        return self.mean.numel() > 0

    @property
    def channels(self) -> int:
        return self.mean.numel()

    def forward(self, x: Tensor) -> Tensor:
        if not self.fitted:
            return x
        if x.shape[-1] != self.channels:
            raise ValueError(f"input of shape {tuple(x.shape)}: expected a last dimension of {self.channels} "
                             f"channels, as the normalisation statistics were estimated on")
        mean, std = self.mean.to(x.dtype), self.std.to(x.dtype)
        if x.dim() < 2 or x.shape[-2] == 1 or x.shape[-1] >= _LONG_SPAN:
            return (x - mean) / std
        # Few channels (pixels): the same arithmetic over (..., W * C) against the statistics tiled
        # W times. onnxruntime broadcasts a (C,) vector over (..., C) one C-long span at a time,
        # which made these two ops 60% of a streamed 160x120x3 frame (355 us each, 20 us tiled).
        width = x.shape[-2]
        y = (x.flatten(-2) - mean.repeat(width)) / std.repeat(width)
        return y.unflatten(-1, (width, x.shape[-1]))

    # --- estimation ---------------------------------------------------------------------------

    @torch.no_grad()
    def update(self, x: Tensor, clips: int | None = None) -> None:
        """Accumulate the per-channel sums of a batch ``(B, ..., C)`` (``clips``: how many clips
        it holds, default ``B``)."""
        clips = x.shape[0] if clips is None else clips
        x = x.detach().to(torch.float64).reshape(-1, x.shape[-1])    # (N, C)
        n = torch.tensor([x.shape[0], clips], dtype=torch.float64)
        sums = (n, x.sum(0), x.pow(2).sum(0))
        if self._sums is not None and self._sums[1].shape != sums[1].shape:
            raise ValueError(f"batch with {x.shape[-1]} channels: expected {self._sums[1].numel()} "
                             "like the batches before it")
        self._sums = sums if self._sums is None else tuple(a + b for a, b in zip(self._sums, sums))

    def pending(self) -> tuple[Tensor, ...] | None:
        """The accumulated ``(counts, sum, sum of squares)``, e.g. to all-reduce across ranks."""
        return self._sums

    @torch.no_grad()
    def finalize(self, sums: Iterable[Tensor] | None = None) -> InputNormalization:
        """Set ``mean`` and ``std`` from the accumulated sums (or from ``sums``, e.g. reduced
        over the ranks of a distributed run)."""
        counts, total, squares = tuple(sums) if sums is not None else self._sums or (None, None, None)
        if counts is None or counts[0] == 0:
            raise ValueError("InputNormalization.finalize: no data seen; call update() with training batches first")
        mean = total / counts[0]
        var = (squares / counts[0] - mean.pow(2)).clamp_min(0.0)
        std = var.sqrt()
        std = torch.where(std > self.eps, std, torch.ones_like(std))   # a constant channel: centre only
        ref = self.mean
        self.mean = mean.to(dtype=ref.dtype if ref.is_floating_point() else torch.float32, device=ref.device)
        self.std = std.to(dtype=self.mean.dtype, device=ref.device)
        self.count = torch.tensor(int(counts[1]), dtype=torch.int64, device=ref.device)
        self._sums = None
        return self

    def fit(self, batches: Iterable[Tensor]) -> InputNormalization:
        """Estimate the statistics from an iterable of batches ``(B, ..., C)``."""
        self._sums = None
        for x in batches:
            self.update(x)
        return self.finalize()

    def reset(self) -> None:
        """Forget the statistics (the identity again)."""
        self.mean, self.std = self.mean.new_zeros(0), self.std.new_ones(0)   # keeps dtype and device
        self.count = torch.zeros((), dtype=torch.int64, device=self.count.device)
        self._sums = None

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # The buffers take the checkpoint's size (C is known only once data was seen).
        for name in ("mean", "std"):
            value = state_dict.get(prefix + name)
            if value is not None and value.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(value, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        if not self.fitted:
            return "not fitted"
        return f"channels={self.channels}, clips={int(self.count)}"
