"""Video classifiers: a recurrent network read at its last state, and the TT-MLP baseline.

Both take a batch of clips ``(B, T, *frame)``; the trailing frame dimensions are flattened
with a plain reshape, so an ``(H, W, 3)`` frame becomes ``H*W*3`` features with the colour
channel fastest, the papers' convention. Both return logits ``(B, num_classes)``: softmax /
cross-entropy for single-label data, sigmoid / BCE-with-logits for multi-label data
(Hollywood2), as ``P(y | x_1..x_T) = softmax(V h_T)`` in the TT-RNN paper.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tensorrnn.nn.factory import factorized_linear
from tensorrnn.nn.rnn import TensorizedGRU, TensorizedLSTM, TensorizedRNN, TensorizedRNNBase, time_mask
from tensorrnn.tensor.shapes import check_shape

__all__ = ["READOUTS", "SequenceClassifier", "TTMLP", "build_classifier", "flatten_frames"]

ARCHS = {"rnn": TensorizedRNN, "gru": TensorizedGRU, "lstm": TensorizedLSTM}
_POOLINGS = ("mean", "max")
#: What :class:`SequenceClassifier`'s head reads of the top layer's states.
READOUTS = ("last", "mean")
_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def flatten_frames(x: Tensor, in_features: int) -> Tensor:
    """``(B, T, *frame)`` -> ``(B, T, in_features)`` by a row-major reshape (C fastest)."""
    if not isinstance(x, Tensor) or x.dim() < 3:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"input of shape {got}: expected (batch, time, *frame) with at least 3 dims")
    B, T = x.shape[:2]
    frame = math.prod(x.shape[2:])  # not x[0, 0]: that fails on an empty batch or sequence
    if frame != in_features:
        raise ValueError(f"input of shape {tuple(x.shape)}: a frame of shape {tuple(x.shape[2:])} has "
                         f"{frame} values; expected in_features={in_features}")
    return x.reshape(B, T, in_features)


def _loss(logits: Tensor, target: Tensor, multilabel: bool) -> Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
    return F.cross_entropy(logits, target)


def _check_classes(num_classes) -> None:
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r}: expected an int >= 1")


class SequenceClassifier(nn.Module):
    r"""A recurrent network read at its last hidden state (or the mean of its states), then a
    linear head.

    Args:
        rnn: a batch-first :class:`TensorizedRNNBase` (or a batch-first ``torch.nn.RNN/GRU/LSTM``
            for a dense baseline).
        num_classes: number of outputs.
        multilabel: the targets are multi-hot and the loss is BCE-with-logits (:meth:`loss`);
            the head returns logits either way.
        dropout: dropout on the final state before the head.
        readout: what the head reads of the top layer: ``"last"``, its state at each
            sequence's last valid step (the papers), or ``"mean"``, the mean of its states over
            the valid steps (every step's evidence counts, not only what the last state kept).

    Shape:
        - input: ``(B, T, *frame)`` with ``prod(frame) == rnn.input_size``; ``lengths``: ``(B,)``.
        - output: logits ``(B, num_classes)``. The features are the top layer's state at each
          sequence's last valid step (``readout="mean"``: the mean over the valid steps);
          bidirectional: forward and reverse states concatenated (``2 * hidden_size``).

    Examples::

        >>> from tensorrnn.nn import TTGRU
        >>> model = SequenceClassifier(TTGRU((4, 5, 3), (2, 2, 2), rank=2), num_classes=11)
        >>> model(torch.randn(2, 6, 4, 5, 3)).shape
        torch.Size([2, 11])
    """

    def __init__(self, rnn: nn.Module, num_classes: int, multilabel: bool = False,
                 dropout: float = 0.0, readout: str = "last") -> None:
        super().__init__()
        _check_classes(num_classes)
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r}: expected one of {', '.join(map(repr, READOUTS))}")
        # duck-typed: a wrapped or custom RNN with torch's attributes and outputs is welcome
        missing = [a for a in ("input_size", "hidden_size", "batch_first", "bidirectional") if not hasattr(rnn, a)]
        if missing:
            raise ValueError(f"rnn={type(rnn).__name__}: expected a recurrent network (a TensorizedRNNBase "
                             f"or a torch.nn.RNN/GRU/LSTM); it has no {', '.join(missing)}")
        if not getattr(rnn, "batch_first", False):
            raise ValueError("rnn.batch_first=False: expected a batch-first recurrent network")
        self.rnn = rnn
        self.num_classes = num_classes
        self.multilabel = bool(multilabel)
        self.readout_mode = readout
        directions = 2 if rnn.bidirectional else 1
        ref = next(rnn.parameters())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(directions * rnn.hidden_size, num_classes, device=ref.device, dtype=ref.dtype)

    @property
    def in_features(self) -> int:
        return self.rnn.input_size

    def features(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        """What the head reads: the final state, or the mean state, ``(B, D * hidden_size)``."""
        x = flatten_frames(x, self.rnn.input_size)                # (B, T, F)
        B, T = x.shape[:2]
        if isinstance(self.rnn, TensorizedRNNBase):
            output, state = self.rnn(x, lengths=lengths)          # (B, T, D*H)
        else:                                                     # torch.nn.RNNBase baseline
            if lengths is not None:
                time_mask(lengths, B, T, x.device)                # validates
                x = pack_padded_sequence(x, torch.as_tensor(lengths).cpu(), batch_first=True,
                                         enforce_sorted=False)
            output, state = self.rnn(x)
            if lengths is not None:
                output = pad_packed_sequence(output, batch_first=True, total_length=T)[0]
        if self.readout_mode == "mean":
            mask = time_mask(lengths, B, T, output.device)        # (B, T) or None
            if mask is None:
                return output.mean(1)
            m = mask.unsqueeze(-1).to(output.dtype)               # (B, T, 1)
            return (output * m).sum(1) / m.sum(1).clamp(min=1)
        h_n = state[0] if isinstance(state, tuple) else state    # (L*D, B, H)
        directions = 2 if self.rnn.bidirectional else 1
        top = h_n[-directions:]                                   # (D, B, H): the last layer
        return top.transpose(0, 1).reshape(top.shape[1], -1)      # (B, D*H)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        return self.head(self.dropout(self.features(x, lengths)))   # (B, classes)

    def probabilities(self, logits: Tensor) -> Tensor:
        """Class probabilities of logits: softmax, or with ``multilabel`` independent sigmoids."""
        return torch.sigmoid(logits) if self.multilabel else logits.softmax(-1)

    # --- online use: one frame at a time ------------------------------------------------------

    @property
    def _is_lstm(self) -> bool:
        return str(getattr(self.rnn, "mode", "")).lower() == "lstm"   # ours: "lstm"; torch: "LSTM"

    def init_state(self, batch_size: int) -> tuple[Tensor, ...]:
        """The recurrent state before the first frame: zeros, ``(h,)`` or for an LSTM ``(h, c)``,
        each ``(num_layers, batch_size, hidden_size)``; with ``readout="mean"`` followed by the
        sum of the top layer's states ``(1, batch_size, hidden_size)`` and the count of steps
        ``(1, batch_size, 1)``.

        A bidirectional network reads the future too, so it has no per-frame step
        (``ValueError``).
        """
        if self.rnn.bidirectional:
            raise ValueError("rnn.bidirectional=True: a bidirectional network reads the whole sequence; "
                             "the per-frame step needs a unidirectional one")
        if isinstance(batch_size, bool) or (isinstance(batch_size, int) and batch_size < 1) or \
                not isinstance(batch_size, (int, torch.SymInt)):   # SymInt: a traced batch size
            raise ValueError(f"batch_size={batch_size!r}: expected an int >= 1")
        ref = self.head.weight
        shape = (self.rnn.num_layers, batch_size, self.rnn.hidden_size)
        state = tuple(ref.new_zeros(shape) for _ in range(2 if self._is_lstm else 1))
        if self.readout_mode == "mean":
            state += (ref.new_zeros(1, batch_size, self.rnn.hidden_size), ref.new_zeros(1, batch_size, 1))
        return state

    def advance(self, frame: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The state after one more frame ``(B, *frame)``: the network's ``forward`` on a
        one-step sequence from ``state``."""
        x = flatten_frames(frame.unsqueeze(1), self.rnn.input_size)   # (B, 1, F)
        kept = 2 if self._is_lstm else 1
        recurrent = tuple(state[:kept])
        _, hx = self.rnn(x, recurrent if self._is_lstm else recurrent[0])
        hx = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
        if self.readout_mode == "mean":
            total, count = state[kept:]
            hx += (total + hx[0][-1:], count + 1)
        return hx

    def logits(self, state: tuple[Tensor, ...]) -> Tensor:
        """Logits ``(B, num_classes)`` read from a state: the head of the top layer's ``h``, or
        with ``readout="mean"`` of the mean of its states so far (``h`` before any step)."""
        features = state[0][-1]
        if self.readout_mode == "mean":
            total, count = state[-2:]
            features = torch.where(count[0] > 0, total[0] / count[0].clamp(min=1), features)
        return self.head(self.dropout(features))

    def readout(self, state: tuple[Tensor, ...]) -> Tensor:
        """Class probabilities ``(B, num_classes)`` read from a state (:meth:`logits`)."""
        return self.probabilities(self.logits(state))

    def step(self, frame: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One frame of a sequence: ``probs, state = model.step(frame, state)``.

        Starting from :meth:`init_state` and stepping through the frames ``x[:, 0], x[:, 1],
        ...`` gives after frame ``t`` the probabilities of ``forward(x[:, :t + 1])`` (softmax or,
        multi-label, sigmoid), with memory that does not grow with the sequence.

        Shape:
            - frame: ``(B, *frame)`` with ``prod(frame) == in_features``.
            - state: as :meth:`init_state`.
            - output: probabilities ``(B, num_classes)`` and the new state.

        Examples::

            >>> from tensorrnn.nn import TTGRU
            >>> model = SequenceClassifier(TTGRU((4, 5, 3), (2, 2, 2), rank=2), num_classes=11).eval()
            >>> state = model.init_state(2)
            >>> for frame in torch.randn(6, 2, 4, 5, 3):
            ...     probs, state = model.step(frame, state)
            >>> probs.shape
            torch.Size([2, 11])
        """
        state = self.advance(frame, state)
        return self.readout(state), state

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy (class indices) or, with ``multilabel``, BCE-with-logits (multi-hot)."""
        return _loss(logits, target, self.multilabel)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, multilabel={self.multilabel}"
                + (f", readout={self.readout_mode!r}" if self.readout_mode != "last" else ""))


class TTMLP(nn.Module):
    r"""The papers' non-recurrent baseline: a factorised layer on every frame, a nonlinearity,
    pooling over time (masked by ``lengths``), dropout and a linear head.

    Args:
        in_shape: modes of a frame's features (``prod == in_features``).
        hidden_shape: modes of the per-frame hidden layer.
        num_classes: number of outputs.
        factorization, rank, blocks, init, bias: the per-frame layer, see
            :func:`tensorrnn.nn.factorized_linear`.
        pooling: ``"mean"`` or ``"max"`` over the valid steps.
        activation: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
        dropout: dropout before the head.
        multilabel: as in :class:`SequenceClassifier`.

    Shape:
        - input: ``(B, T, *frame)``; ``lengths``: ``(B,)``.
        - output: logits ``(B, num_classes)``.

    Examples::

        >>> mlp = TTMLP((4, 5, 3), (2, 2, 2), num_classes=11, rank=2)
        >>> mlp(torch.randn(2, 6, 60)).shape
        torch.Size([2, 11])
    """

    def __init__(self, in_shape, hidden_shape, num_classes: int, factorization: str = "tt", rank=None,
                 blocks: int = 1, pooling: str = "mean", activation: str = "relu", dropout: float = 0.0,
                 multilabel: bool = False, bias: bool = True, init: str = "glorot",
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_classes(num_classes)
        if pooling not in _POOLINGS:
            raise ValueError(f"pooling={pooling!r}: expected one of {', '.join(map(repr, _POOLINGS))}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: expected one of {', '.join(map(repr, _ACTIVATIONS))}")
        in_shape, hidden_shape = check_shape("in_shape", in_shape), check_shape("hidden_shape", hidden_shape)
        self.proj = factorized_linear(factorization, in_shape, hidden_shape, rank=rank,
                                      blocks=blocks, bias=bias, init=init, device=device, dtype=dtype)
        self.pooling = pooling
        self.activation = activation
        self.num_classes = num_classes
        self.multilabel = bool(multilabel)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.proj.out_features, num_classes, device=device, dtype=dtype)

    @property
    def in_features(self) -> int:
        return self.proj.in_features

    def features(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        """The pooled per-frame features: ``(B, hidden)``."""
        x = flatten_frames(x, self.proj.in_features)              # (B, T, F)
        B, T = x.shape[:2]
        mask = time_mask(lengths, B, T, x.device)                 # (B, T) or None
        h = _ACTIVATIONS[self.activation](self.proj(x))           # (B, T, hidden)
        if mask is None:
            return h.mean(1) if self.pooling == "mean" else h.amax(1)
        m = mask.unsqueeze(-1)                                    # (B, T, 1)
        if self.pooling == "mean":
            return (h * m).sum(1) / m.sum(1).to(h.dtype)
        return h.masked_fill(~m, float("-inf")).amax(1)

    def forward(self, x: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        return self.head(self.dropout(self.features(x, lengths)))   # (B, classes)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Cross-entropy (class indices) or, with ``multilabel``, BCE-with-logits (multi-hot)."""
        return _loss(logits, target, self.multilabel)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, pooling={self.pooling!r}, "
                f"activation={self.activation!r}, multilabel={self.multilabel}")


def build_classifier(arch: str, in_shape, hidden_shape, num_classes: int, factorization: str = "tt",
                     rank=None, blocks: int = 1, multilabel: bool = False, head_dropout: float = 0.0,
                     fully_factorized: bool = False, readout: str = "last", **rnn_kwargs) -> nn.Module:
    """Build a classifier from plain values (the training app's entry point).

    Args:
        arch: ``"rnn"``, ``"gru"``, ``"lstm"`` (a :class:`SequenceClassifier` over
            :class:`TensorizedRNN` / :class:`TensorizedGRU` / :class:`TensorizedLSTM`) or ``"mlp"``
            (:class:`TTMLP`).
        in_shape, hidden_shape, factorization, rank, blocks: the input map.
        num_classes, multilabel: the head.
        head_dropout: dropout before the head (``"mlp"``: same as its ``dropout``).
        readout: what a recurrent model's head reads: ``"last"`` state or ``"mean"`` state
            (:class:`SequenceClassifier`); the MLP pools by its ``pooling``.
        fully_factorized: the preset of the fully decomposed models (FDHT-LSTM, Yin et al.
            2021): the hidden-to-hidden map ``U`` in the input map's format too
            (``recurrent_factorization=factorization``; its rank defaults to ``rank``, its
            modes to ``hidden_shape``). The UCF11 TT-GRU / TT-LSTM at rank 4 then hold 8,363 /
            9,067 parameters in all, head included. A different ``recurrent_factorization``
            passed with it is a ``ValueError``.
        **rnn_kwargs: passed on to the recurrent network (``num_layers``, ``bidirectional``,
            ``recurrent_dropout``, ``gate_activation``, ...) or, for ``"mlp"``, to :class:`TTMLP`
            (``pooling``, ``activation``, ...).

    Examples::

        >>> model = build_classifier("gru", (8, 20, 20, 18), (4, 4, 4, 4), 11, rank=4)
        >>> model(torch.randn(2, 6, 120, 160, 3)).shape
        torch.Size([2, 11])
        >>> full = build_classifier("gru", (8, 20, 20, 18), (4, 4, 4, 4), 11, rank=4, fully_factorized=True)
        >>> sum(p.numel() for p in full.parameters())
        8363
    """
    if fully_factorized:
        if arch == "mlp":
            raise ValueError("fully_factorized=True: arch='mlp' has no recurrent map; expected 'rnn', 'gru' or 'lstm'")
        chosen = rnn_kwargs.setdefault("recurrent_factorization", factorization)
        if chosen != factorization:
            raise ValueError(f"recurrent_factorization={chosen!r} with fully_factorized=True: expected "
                             f"{factorization!r} (the input map's format) or no recurrent_factorization")
    if arch == "mlp":
        if readout != "last":
            raise ValueError(f"readout={readout!r} with arch='mlp': the MLP pools its per-frame features by its "
                             "pooling ('mean' or 'max'); expected readout='last'")
        rnn_kwargs.setdefault("dropout", head_dropout)
        return TTMLP(in_shape, hidden_shape, num_classes, factorization, rank, blocks,
                     multilabel=multilabel, **rnn_kwargs)
    if arch not in ARCHS:
        raise ValueError(f"arch={arch!r}: expected one of {', '.join(map(repr, [*ARCHS, 'mlp']))}")
    if rnn_kwargs.get("batch_first") is False:
        raise ValueError("batch_first=False: the classifiers take (batch, time, *frame) input")
    rnn = ARCHS[arch](in_shape, hidden_shape, factorization, rank, blocks=blocks, **rnn_kwargs)
    return SequenceClassifier(rnn, num_classes, multilabel=multilabel, dropout=head_dropout, readout=readout)
