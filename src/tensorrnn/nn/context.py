"""The look of a clip's scene, pooled: evidence of the class beside the motion the map reads.

A model that reads frame differences (``model.frame_diff``) throws the scene away, and where
the scene is evidence (a pool for diving, a court for tennis) that is evidence lost. Feeding the
frames to the factorised map beside their differences (``model.appearance``) keeps it, but the map
then has a weight for every pixel of the scene and learns the training groups' scenes: it loses
wherever the scene is not evidence. :class:`SceneContext` keeps the scene at a capacity too small
for that: a 4x4 convolution of stride 4 and a ReLU over each frame (3 to 16 channels), averaged
over the frame and over the clip's frames, standardised (a batch norm without affine terms) and
read by a linear layer of its own whose logits are added to the recurrent network's. What it can
hold is the mix of colours and small textures of a clip's frames, not where they are.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CONTEXT_CHANNELS", "SceneContext"]

#: Channels of the context's convolution: the features of a clip's look.
CONTEXT_CHANNELS = 16
#: The convolution's side and stride (non-overlapping patches of the frame).
PATCH = 4


class SceneContext(nn.Module):
    """Logits from the pooled look of a clip's frames.

    Args:
        num_classes: number of outputs.
        channels: features of a frame's look (:data:`CONTEXT_CHANNELS`).
        dropout: dropout on the standardised features before the linear layer.
        in_channels: colour channels of a frame.

    Shape:
        - :meth:`pool`: frames ``(..., H, W, C)`` (channels last, ``H, W >= 4``) -> ``(..., channels)``.
        - :meth:`logits`: the mean of a clip's pooled frames ``(B, channels)`` -> ``(B, num_classes)``.
        - forward: frames ``(B, T, H, W, C)`` -> ``(B, num_classes)``: :meth:`logits` of the mean
          over ``T`` of :meth:`pool`.

    Examples:
        >>> context = SceneContext(5)
        >>> context(torch.randn(2, 6, 24, 32, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(self, num_classes: int, channels: int = CONTEXT_CHANNELS, dropout: float = 0.5,
                 in_channels: int = 3) -> None:
        super().__init__()
        for name, value in (("num_classes", num_classes), ("channels", channels), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer")
        if not (isinstance(dropout, (int, float)) and 0 <= dropout < 1):
            raise ValueError(f"dropout={dropout!r}: expected a probability in [0, 1)")
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, channels, PATCH, stride=PATCH)
        self.norm = nn.BatchNorm1d(channels, affine=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)

    def pool(self, frames: Tensor) -> Tensor:
        """Each frame's look: the mean over the frame of ``relu(conv(frame))``."""
        if frames.dim() < 3 or frames.shape[-1] != self.in_channels or min(frames.shape[-3:-1]) < PATCH:
            raise ValueError(f"frames of shape {tuple(frames.shape)}: expected (..., H, W, {self.in_channels}) "
                             f"frames with H and W at least {PATCH}")
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2)            # (N, C, H, W), channels last
        return torch.relu(self.conv(x)).mean((2, 3)).view(*lead, -1)

    def logits(self, looks: Tensor) -> Tensor:
        """Logits of clips' mean looks ``(B, channels)``. In training the batch's own statistics
        standardise them (the running ones for a batch of one clip, which has none)."""
        norm = self.norm
        batch = self.training and looks.shape[0] > 1
        standard = F.batch_norm(looks, norm.running_mean, norm.running_var, training=batch,
                                momentum=norm.momentum, eps=norm.eps)
        if batch:
            norm.num_batches_tracked.add_(1)
        return self.head(self.dropout(standard))

    def forward(self, frames: Tensor) -> Tensor:
        return self.logits(self.pool(frames).mean(1))
