"""Tensorised recurrent networks: RNN, GRU and LSTM whose input-to-hidden map is factorised.

The input map ``W x`` is a factorised layer (TT, TR, BT or dense, see
:func:`tensorrnn.nn.factorized_linear`). The hidden-to-hidden matrices ``U`` are dense by
default, as in the papers, and keep torch's parameter names (``weight_hh_l0``,
``bias_hh_l0_reverse``, ...). With ``recurrent_factorization`` set to a format, ``U`` (all
gates packed, gate-major, as for ``W``) is a factorised layer too (``recurrent_projs``), applied
to ``h_{t-1}`` at every step without building the dense matrix; the biases ``bias_hh_l*`` keep
their names. Both maps factorised is the "fully factorised" model of the later work (FDHT-LSTM,
Yin et al. 2021), which brings the whole UCF11 model under 10,000 parameters.

Two things differ from the papers' released code, on purpose:

* The input map runs **once** on the whole ``(batch x time)`` block before the recurrence
  (it does not depend on the state), so a step costs one small dense matmul. The Keras code
  recomputed the factorised layer inside every step.
* Gates are in torch's order, gate-major in the packed output (like ``weight_ih``):
  GRU ``r, z, n`` and LSTM ``i, f, g, o``. The original code used GRU ``z, r, h~`` and LSTM
  ``i, f, c~, o`` (the same as torch for the LSTM). For the GRU, torch's update rule is
  ``h_t = (1 - z_t) n_t + z_t h_{t-1}``; the TT-RNN paper writes ``(1 - z_t) h_{t-1} + z_t h~_t``,
  i.e. the paper's ``z`` is ``1 - z`` here (a sign flip of the gate's pre-activation), so the
  two parameterise the same family of models.

The paper-faithful settings are one argument each: ``gate_activation="hard_sigmoid"``
(Keras' ``clip(0.2 x + 0.5, 0, 1)``), ``forget_bias=1.0``, ``recurrent_init="orthogonal"``,
``recurrent_dropout=0.25`` and, for the GRU, ``reset_after=False``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tensorrnn.nn.base import check_floating
from tensorrnn.nn.factory import FACTORIZATIONS, factorized_linear
from tensorrnn.papers import NUM_GATES
from tensorrnn.tensor.shapes import check_shape

__all__ = [
    "TensorizedRNNBase", "TensorizedRNN", "time_mask", "TensorizedGRU", "TensorizedLSTM",
    "TTRNN", "TTGRU", "TTLSTM", "TRRNN", "TRGRU", "TRLSTM", "BTRNN", "BTGRU", "BTLSTM",
    "HTRNN", "HTGRU", "HTLSTM",
]

_GATE_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
_RECURRENT_INITS = ("uniform", "orthogonal")


# --- the per-step recurrences -----------------------------------------------------------------
# Pure functions of tensors (no module state, no Python work per step beyond the cell), so
# torch.compile can trace them whole. ``gi`` is the hoisted input map, time-major (T, B, c*H);
# ``mask`` is (T, B, 1) bool (False on padded steps) or None; ``drop`` is the per-sequence
# recurrent dropout mask (B, H) or None. ``w_hh`` is the recurrent map: the dense ``U``
# (c*H, H) (torch's ``weight_hh``), or a module mapping (B, H) -> (B, c*H) without bias (a
# factorised ``U``, applied to the state at every step; its dense form is never built).

def _recurrent(w_hh) -> Callable[[Optional[Tensor], Tensor], Tensor]:
    """``(acc, h) -> acc + h U^T`` (``acc`` None: ``h U^T``) for a dense or a factorised ``U``."""
    if isinstance(w_hh, Tensor):
        w_t = w_hh.t()
        return lambda acc, h: h @ w_t if acc is None else torch.addmm(acc, h, w_t)
    return lambda acc, h: w_hh(h) if acc is None else acc + w_hh(h)


def _gate(x: Tensor, hard: bool) -> Tensor:
    # Keras 1's hard_sigmoid (slope 0.2), which the papers' code used; not F.hardsigmoid (1/6).
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0) if hard else torch.sigmoid(x)


def _step_order(T: int, reverse: bool) -> list[int]:
    return list(range(T - 1, -1, -1)) if reverse else list(range(T))


def _advance(mask: Optional[Tensor], t: int, new: Tensor, old: Tensor) -> Tensor:
    """A state after step ``t``: ``new``, or ``old`` where the step is padding."""
    return new if mask is None else torch.where(mask[t], new, old)


def _output(mask: Optional[Tensor], t: int, h_new: Tensor) -> Tensor:
    """Step ``t``'s output: the new hidden state, 0 where the step is padding."""
    return h_new if mask is None else torch.where(mask[t], h_new, 0.0)


def _finish(outs: list[Tensor], reverse: bool) -> Tensor:
    # outs were appended in processing order; put them back in time order.
    return torch.stack(outs[::-1] if reverse else outs)


def rnn_scan(gi: Tensor, h: Tensor, w_hh: Tensor | nn.Module, mask: Optional[Tensor], drop: Optional[Tensor],
             relu: bool = False, reverse: bool = False) -> tuple[Tensor, Tensor]:
    """Elman recurrence ``h_t = tanh(gi_t + U h_{t-1})`` (``gi`` already holds both biases).

    Returns the outputs (T, B, H) (zero on padded steps) and the final state (B, H).
    """
    recurrent = _recurrent(w_hh)
    outs = []
    for t in _step_order(gi.shape[0], reverse):
        hd = h if drop is None else h * drop
        pre = recurrent(gi[t], hd)                               # (B, H)
        h_new = torch.relu(pre) if relu else torch.tanh(pre)
        outs.append(_output(mask, t, h_new))
        h = _advance(mask, t, h_new, h)
    return _finish(outs, reverse), h


def lstm_scan(gi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor | nn.Module, mask: Optional[Tensor],
              drop: Optional[Tensor], hard: bool = False,
              reverse: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """LSTM recurrence in torch's gate order ``i, f, g, o`` (``gi`` already holds both biases).

    Returns the outputs (T, B, H), the final hidden state and the final cell state (B, H).
    """
    recurrent = _recurrent(w_hh)
    outs = []
    for t in _step_order(gi.shape[0], reverse):
        hd = h if drop is None else h * drop
        gates = recurrent(gi[t], hd)                             # (B, 4H)
        i, f, g, o = gates.chunk(4, 1)
        c_new = _gate(f, hard) * c + _gate(i, hard) * torch.tanh(g)
        h_new = _gate(o, hard) * torch.tanh(c_new)
        outs.append(_output(mask, t, h_new))
        h, c = _advance(mask, t, h_new, h), _advance(mask, t, c_new, c)
    return _finish(outs, reverse), h, c


def gru_scan(gi: Tensor, h: Tensor, w_hh: Tensor | nn.Module, b_hh: Optional[Tensor], mask: Optional[Tensor],
             drop: Optional[Tensor], hard: bool = False, reset_after: bool = True,
             reverse: bool = False) -> tuple[Tensor, Tensor]:
    """GRU recurrence in torch's gate order ``r, z, n``; ``h_t = (1 - z) n + z h_{t-1}``.

    ``reset_after=True`` (torch / cuDNN): ``n = tanh(gi_n + r * (U_n h + b_hn))``.
    ``reset_after=False`` (the TT-RNN paper and its Keras 1 code): ``n = tanh(gi_n + U_n (r * h)
    + b_hn)``. ``gi`` holds the input bias only; ``b_hh`` is applied here because of ``r``.
    With a factorised ``U`` and ``reset_after=False`` the packed map is applied twice a step
    (to ``h`` for ``r, z`` and to ``r * h`` for ``n``): its rows cannot be taken apart.
    """
    H = h.shape[1]
    dense = isinstance(w_hh, Tensor)
    recurrent = _recurrent(w_hh)
    if dense:
        w_rz_t, w_n_t = w_hh[: 2 * H].t(), w_hh[2 * H:].t()
    b_rz = b_n = None
    if b_hh is not None:
        b_rz, b_n = b_hh[: 2 * H], b_hh[2 * H:]
    outs = []
    for t in _step_order(gi.shape[0], reverse):
        hd = h if drop is None else h * drop
        i_r, i_z, i_n = gi[t].chunk(3, 1)                        # 3 x (B, H)
        if reset_after:                                           # one matmul for all gates
            h_r, h_z, h_n = recurrent(b_hh, hd).chunk(3, 1)      # (B, 3H)
            r = _gate(i_r + h_r, hard)
            z = _gate(i_z + h_z, hard)
            n = torch.tanh(i_n + r * h_n)
        elif not dense:                                           # U_n needs r first
            h_r, h_z, _ = recurrent(b_hh, hd).chunk(3, 1)
            r = _gate(i_r + h_r, hard)
            z = _gate(i_z + h_z, hard)
            h_n = w_hh(r * hd)[:, 2 * H:]                        # (B, H)
            n = torch.tanh(i_n + (h_n if b_n is None else h_n + b_n))
        else:                                                     # U_n needs r first
            rz = hd @ w_rz_t if b_rz is None else torch.addmm(b_rz, hd, w_rz_t)  # (B, 2H)
            h_r, h_z = rz.chunk(2, 1)
            r = _gate(i_r + h_r, hard)
            z = _gate(i_z + h_z, hard)
            h_n = (r * hd) @ w_n_t if b_n is None else torch.addmm(b_n, r * hd, w_n_t)
            n = torch.tanh(i_n + h_n)
        h_new = (1.0 - z) * n + z * h
        outs.append(_output(mask, t, h_new))
        h = _advance(mask, t, h_new, h)
    return _finish(outs, reverse), h


# --- argument checks ----------------------------------------------------------------------------

def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r}: expected a probability in [0, 1)")


def time_mask(lengths, B: int, T: int, device) -> Optional[Tensor]:
    """``(B, T)`` bool, True on the valid steps (padding at the end); None if ``lengths`` is None.

    Raises ``ValueError`` unless ``lengths`` is ``B`` integers in ``[1, T]``.
    """
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (B,) or lengths.is_floating_point() or lengths.is_complex():
        raise ValueError(f"lengths of shape {tuple(lengths.shape)} and dtype {lengths.dtype}: "
                         f"expected an integer tensor of shape ({B},), one length per sequence")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > T:
        raise ValueError(f"lengths between {lo} and {hi}: expected every length in [1, {T}] "
                         f"(the input has T={T} steps)")
    return torch.arange(T, device=device)[None, :] < lengths.to(device)[:, None]


def _plain(value):
    # tuples (and nested ones) as lists in messages, the way configs write them
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def _frozen_rank(rank):
    # Copy list ranks so that later mutation by the caller cannot change the module's config.
    return tuple(rank) if isinstance(rank, Sequence) else rank


class TensorizedRNNBase(nn.Module):
    """Shared machinery of :class:`TensorizedRNN`, :class:`TensorizedGRU`, :class:`TensorizedLSTM`.

    Args:
        in_shape: modes of the input features, e.g. ``(8, 20, 20, 18)`` for 57,600 pixels;
            flattened row-major (first mode most significant).
        hidden_shape: modes of the hidden state, e.g. ``(4, 4, 4, 4)`` for 256 units.
        factorization: ``"tt"``, ``"tr"``, ``"bt"`` or ``"dense"``: the format of the input map.
        rank: the factorisation's rank (int or per-core list, see the layer classes).
        blocks: number of Tucker blocks (``"bt"`` only).
        shared_gates: ``True``: one factorised layer produces all gates (the papers' packed
            models; its first output mode is multiplied by the number of gates). ``False``: one
            layer per gate (the papers' "vanilla" models).
        bias: if ``False``, no input bias (``bias_ih``) and no recurrent bias (``bias_hh``).
        batch_first: input and output are ``(B, T, F)`` (default, the video convention) rather
            than ``(T, B, F)``. Hidden states are always ``(num_layers * D, B, H)``.
        num_layers: stacked layers; layers above the first map ``D * hidden_size`` features.
        bidirectional: add a reverse direction per layer (``D = 2``).
        dropout: dropout on the outputs of every layer but the last (as torch).
        input_dropout: dropout on the input map's output ``W x_t`` (every gate's
            pre-activation from the input) of every layer, in training mode.
        recurrent_dropout: variational dropout on ``h_{t-1}`` before ``U``: one mask per sequence
            (shared by the time steps and the gates), only in training mode.
        gate_activation: ``"sigmoid"`` or ``"hard_sigmoid"`` (Keras 1: ``clip(0.2 x + 0.5, 0, 1)``).
        forget_bias: LSTM only: added to the forget gate's ``bias_hh`` at init (papers: 1.0).
        recurrent_init: ``"uniform"`` (torch: ``U`` and ``bias_hh`` from ``U(-k, k)``,
            ``k = 1/sqrt(hidden_size)``) or ``"orthogonal"`` (Keras: an orthogonal ``U`` per gate,
            zero ``bias_hh``).
        reset_after: GRU only, see :func:`gru_scan`.
        init: init of the input map's reconstructed weight, ``"glorot"`` or ``"he"``.
        upper_factorization: format of the input maps of layers above the first (default: same
            as ``factorization``); their input shape is ``hidden_shape`` with the first mode
            multiplied by ``D``.
        upper_rank: rank of those maps (default: ``rank``).
        recurrent_factorization: format of the hidden-to-hidden map ``U`` (all gates packed,
            gate-major, as for the input map): ``"dense"`` (default, the papers: torch's
            ``weight_hh_l*``) or any factorised format (``"tt"``, ``"tr"``, ``"bt"``, ...),
            stored in ``recurrent_projs`` and applied to ``h_{t-1}`` at every step without
            building the dense ``U``. ``bias_hh_l*`` stays a plain vector either way.
        recurrent_shape: modes of ``U``: the input (hidden) modes, whose product must be
            ``hidden_size``, with the output modes derived by multiplying the first one by the
            number of gates; or a pair ``(in_modes, out_modes)`` with products ``hidden_size``
            and ``gates * hidden_size``. Default: ``hidden_shape``.
        recurrent_rank: rank of a factorised ``U`` (default: ``rank``).
        recurrent_blocks: Tucker blocks of a ``"bt"`` ``U`` (default: ``blocks``).
        check_finite: raise ``ValueError`` when the input or initial state holds NaN / inf
            (one check per forward; disable for ``torch.compile`` full graphs).

    Inputs: ``input, hx=None, lengths=None``
        * input: ``(B, T, in_features)`` (or ``(T, B, ...)`` with ``batch_first=False``;
          ``(T, in_features)`` unbatched).
        * hx: initial state ``(num_layers * D, B, hidden_size)``, zeros if omitted
          (LSTM: a tuple ``(h_0, c_0)``).
        * lengths: ``(B,)`` valid steps per sequence, padding at the end. Outputs at padded
          steps are zero and ``h_n`` is each sequence's state at its last valid step (as with
          packed sequences in torch).
    """

    mode = "rnn"

    def __init__(self, in_shape, hidden_shape, factorization: str = "tt", rank=None, blocks: int = 1,
                 shared_gates: bool = True, bias: bool = True, batch_first: bool = True,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, gate_activation: str = "sigmoid",
                 forget_bias: float = 0.0, recurrent_init: str = "uniform",
                 reset_after: bool = True, init: str = "glorot",
                 upper_factorization: Optional[str] = None, upper_rank=None,
                 check_finite: bool = True, input_dropout: float = 0.0,
                 recurrent_factorization: str = "dense", recurrent_shape=None, recurrent_rank=None,
                 recurrent_blocks: Optional[int] = None, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_shape = check_shape("in_shape", in_shape)
        self.hidden_shape = check_shape("hidden_shape", hidden_shape)
        _check_choice("factorization", factorization, FACTORIZATIONS)
        upper_factorization = factorization if upper_factorization is None else upper_factorization
        _check_choice("upper_factorization", upper_factorization, FACTORIZATIONS)
        _check_choice("recurrent_factorization", recurrent_factorization, FACTORIZATIONS)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers={num_layers!r}: expected an int >= 1")
        _check_probability("dropout", dropout)
        _check_probability("recurrent_dropout", recurrent_dropout)
        _check_probability("input_dropout", input_dropout)
        _check_choice("gate_activation", gate_activation, _GATE_ACTIVATIONS)
        _check_choice("recurrent_init", recurrent_init, _RECURRENT_INITS)
        if forget_bias != 0.0 and self.mode != "lstm":
            raise ValueError(f"forget_bias={forget_bias!r}: only an LSTM has a forget gate; expected 0.0")
        if forget_bias != 0.0 and not bias:
            raise ValueError(f"forget_bias={forget_bias!r} needs bias=True; got bias=False")

        self.factorization = factorization
        self.upper_factorization = upper_factorization
        self.rank = _frozen_rank(rank)
        self.upper_rank = self.rank if upper_rank is None else _frozen_rank(upper_rank)
        self.blocks = blocks
        self.shared_gates = bool(shared_gates)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.num_layers = num_layers
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.input_dropout = float(input_dropout)
        self.gate_activation = gate_activation
        self.forget_bias = float(forget_bias)
        self.recurrent_init = recurrent_init
        self.reset_after = bool(reset_after)
        self.init = init
        self.check_finite = bool(check_finite)
        self.num_gates = NUM_GATES[self.mode]
        self.input_size = math.prod(self.in_shape)
        self.hidden_size = math.prod(self.hidden_shape)
        self.num_directions = 2 if self.bidirectional else 1
        self.recurrent_factorization = recurrent_factorization
        self.recurrent_shape = self._recurrent_modes(recurrent_shape)
        self.recurrent_rank = self.rank if recurrent_rank is None else _frozen_rank(recurrent_rank)
        self.recurrent_blocks = self.blocks if recurrent_blocks is None else recurrent_blocks

        # One input map per (layer, direction), index layer * D + direction, as torch orders
        # its weights. Dense recurrent weights keep torch's names; factorised ones sit in
        # recurrent_projs at the same index (the dense default registers no such list, so its
        # state_dict is torch's).
        c, H = self.num_gates, self.hidden_size
        self.input_projs = nn.ModuleList()
        if recurrent_factorization != "dense":
            self.recurrent_projs = nn.ModuleList()
        for layer in range(num_layers):
            for suffix in self._suffixes():
                self.input_projs.append(self._make_input_map(layer, factory))
                if recurrent_factorization == "dense":
                    self.register_parameter(f"weight_hh_l{layer}{suffix}",
                                            nn.Parameter(torch.empty(c * H, H, **factory)))
                else:
                    self.recurrent_projs.append(self._make_recurrent_map(factory))
                b = nn.Parameter(torch.empty(c * H, **factory)) if self.bias else None
                self.register_parameter(f"bias_hh_l{layer}{suffix}", b)
        self.reset_parameters(recurrent_only=True)

    # --- construction -----------------------------------------------------------------------

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _make_input_map(self, layer: int, factory: dict) -> nn.Module:
        if layer == 0:
            in_shape, fact, rank = self.in_shape, self.factorization, self.rank
        else:
            h1, *rest = self.hidden_shape
            in_shape, fact, rank = (self.num_directions * h1, *rest), self.upper_factorization, self.upper_rank
        rank = list(rank) if isinstance(rank, tuple) else rank

        def layer_for(out_shape):
            return factorized_linear(fact, in_shape, out_shape, rank=rank,
                                     blocks=self.blocks if fact == "bt" else 1,
                                     bias=self.bias, init=self.init, **factory)

        if self.shared_gates:
            h1, *rest = self.hidden_shape
            return layer_for((self.num_gates * h1, *rest))      # gate-major output, c*H wide
        return nn.ModuleList(layer_for(self.hidden_shape) for _ in range(self.num_gates))

    def _recurrent_modes(self, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``recurrent_shape`` as ``(in_modes, out_modes)`` of ``U``, checked against the sizes."""
        c, H = self.num_gates, self.hidden_size
        if shape is None:
            shape = self.hidden_shape
        pair = (isinstance(shape, Sequence) and len(shape) == 2
                and all(isinstance(s, Sequence) and not isinstance(s, str) for s in shape))
        if pair:
            in_modes = check_shape("recurrent_shape", shape[0])
            out_modes = check_shape("recurrent_shape", shape[1])
        else:
            in_modes = check_shape("recurrent_shape", shape)
            out_modes = (c * in_modes[0], *in_modes[1:])          # gate-major, as the input map
        if math.prod(in_modes) != H:
            raise ValueError(f"recurrent_shape={_plain(shape)}: its input modes {list(in_modes)} multiply "
                             f"to {math.prod(in_modes)}; expected hidden_size={H} (hidden_shape="
                             f"{list(self.hidden_shape)})")
        if math.prod(out_modes) != c * H:
            raise ValueError(f"recurrent_shape={_plain(shape)}: its output modes {list(out_modes)} multiply "
                             f"to {math.prod(out_modes)}; expected gates * hidden_size = {c} * {H} = {c * H}")
        return in_modes, out_modes

    def _make_recurrent_map(self, factory: dict) -> nn.Module:
        fact, (in_modes, out_modes) = self.recurrent_factorization, self.recurrent_shape
        rank = list(self.recurrent_rank) if isinstance(self.recurrent_rank, tuple) else self.recurrent_rank
        if rank is None:
            raise ValueError(f"recurrent_rank=None: recurrent_factorization={fact!r} needs a rank "
                             f"(int or list; the default, rank, is None too)")
        try:
            return factorized_linear(fact, in_modes, out_modes, rank=rank,
                                     blocks=self.recurrent_blocks if fact == "bt" else 1,
                                     bias=False, init=self.init, **factory)
        except ValueError as err:                                  # name the recurrent arguments
            raise ValueError(f"recurrent map ({fact!r}, {list(in_modes)} -> {list(out_modes)}, "
                             f"recurrent_rank={_plain(self.recurrent_rank)}): {err}") from None

    @property
    def input_proj(self) -> nn.Module:
        """The first layer's (forward direction's) input map: a factorised layer producing all
        gates, or a ``ModuleList`` of one layer per gate when ``shared_gates=False``."""
        return self.input_projs[0]

    def recurrent_map(self, layer: int = 0, reverse: bool = False):
        """The map ``U`` the recurrence applies: the dense ``weight_hh`` ``(c*H, H)``, or the
        factorised layer ``(..., H) -> (..., c*H)`` (no bias) of ``recurrent_projs``."""
        if self.recurrent_factorization == "dense":
            return getattr(self, f"weight_hh_l{layer}{'_reverse' if reverse else ''}")
        return self.recurrent_projs[layer * self.num_directions + int(reverse)]

    def recurrent_weights(self, layer: int = 0, reverse: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        """``(weight_hh, bias_hh)`` of a layer and direction; shapes ``(c*H, H)`` and ``(c*H,)``.

        With a factorised ``U`` the weight is built from its factors (``to_dense()``, for
        inspection and export; differentiable); the recurrence itself never builds it.
        """
        suffix = "_reverse" if reverse else ""
        u = self.recurrent_map(layer, reverse)
        weight = u if isinstance(u, Tensor) else u.to_dense()
        return weight, getattr(self, f"bias_hh_l{layer}{suffix}")

    def reset_parameters(self, recurrent_only: bool = False) -> None:
        """Re-initialise the input maps (their own init) and the recurrent part.

        A factorised ``U`` is drawn by its format's variance-preserving init with the entry
        std of the dense init it replaces: ``1/sqrt(3H)`` (``"uniform"``) or ``1/sqrt(H)``
        (``"orthogonal"``, whose entries have that std); ``bias_hh`` as for a dense ``U``.
        """
        if not recurrent_only:
            for proj in self.input_projs:
                for module in (proj if isinstance(proj, nn.ModuleList) else [proj]):
                    module.reset_parameters()
        H = self.hidden_size
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for layer in range(self.num_layers):
                for reverse in (False, True)[: self.num_directions]:
                    weight = self.recurrent_map(layer, reverse)
                    bias = getattr(self, f"bias_hh_l{layer}{'_reverse' if reverse else ''}")
                    if not isinstance(weight, Tensor):                   # factorised U
                        uniform = self.recurrent_init == "uniform"
                        weight._reset_factors(1.0 / math.sqrt(3 * H if uniform else H))
                        if bias is not None:
                            if uniform:
                                nn.init.uniform_(bias, -bound, bound)
                            else:
                                bias.zero_()
                    elif self.recurrent_init == "uniform":
                        nn.init.uniform_(weight, -bound, bound)
                        if bias is not None:
                            nn.init.uniform_(bias, -bound, bound)
                    else:
                        for g in range(self.num_gates):                   # Keras: one U per gate
                            nn.init.orthogonal_(weight[g * H:(g + 1) * H])
                        if bias is not None:
                            bias.zero_()
                    if bias is not None and self.forget_bias:
                        bias[H:2 * H] += self.forget_bias                # LSTM gates i, f, g, o

    def extra_repr(self) -> str:
        s = (f"in_shape={self.in_shape}, hidden_shape={self.hidden_shape}, "
             f"factorization={self.factorization!r}, rank={self.rank}")
        if self.factorization == "bt":
            s += f", blocks={self.blocks}"
        if self.recurrent_factorization != "dense":
            s += (f", recurrent_factorization={self.recurrent_factorization!r}, recurrent_shape="
                  f"{self.recurrent_shape}, recurrent_rank={self.recurrent_rank}")
            if self.recurrent_factorization == "bt":
                s += f", recurrent_blocks={self.recurrent_blocks}"
        defaults = {"shared_gates": True, "bias": True, "batch_first": True, "num_layers": 1,
                    "bidirectional": False, "dropout": 0.0, "recurrent_dropout": 0.0, "input_dropout": 0.0,
                    "gate_activation": "sigmoid", "forget_bias": 0.0, "recurrent_init": "uniform"}
        if self.mode == "gru":
            defaults["reset_after"] = True
        for name, default in defaults.items():
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s

    # --- forward --------------------------------------------------------------------------------

    def _check_input(self, input: Tensor) -> tuple[Tensor, bool]:
        if not isinstance(input, Tensor):
            raise ValueError(f"input: expected a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"input of shape {tuple(input.shape)}: expected a 3-D tensor "
                             f"{'(B, T, F)' if self.batch_first else '(T, B, F)'} (or 2-D (T, F) unbatched)")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"input of shape {tuple(input.shape)}: expected the last dimension to be "
                             f"in_features={self.input_size} (in_shape={self.in_shape})")
        check_floating(input)
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if input.shape[0 if self.batch_first else 1] == 0 or input.shape[1 if self.batch_first else 0] == 0:
            raise ValueError(f"input of shape {tuple(input.shape)}: expected at least one sequence and one step")
        return input, batched

    def _check_state(self, name: str, state: Tensor, B: int, ref: Tensor, batched: bool) -> Tensor:
        L, H = self.num_layers * self.num_directions, self.hidden_size
        expected = (L, B, H) if batched else (L, H)
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"{name} of shape {got}: expected {expected} "
                             f"(num_layers * num_directions, {'batch, ' if batched else ''}hidden_size)")
        if self.check_finite and not bool(torch.isfinite(state).all()):
            raise ValueError(f"{name} contains NaN or inf; expected finite values")
        state = state if batched else state.unsqueeze(1)
        return state.to(dtype=ref.dtype, device=ref.device)

    def _initial_states(self, hx, B: int, ref: Tensor, batched: bool) -> list[Tensor]:
        L, H = self.num_layers * self.num_directions, self.hidden_size
        names = ("h_0", "c_0") if self.mode == "lstm" else ("h_0",)
        if hx is None:
            return [ref.new_zeros(L, B, H) for _ in names]
        if self.mode == "lstm":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"hx of type {type(hx).__name__}: expected a tuple (h_0, c_0) for an LSTM")
            return [self._check_state(n, s, B, ref, batched) for n, s in zip(names, hx)]
        return [self._check_state("h_0", hx, B, ref, batched)]

    def _project(self, index: int, x: Tensor) -> Tensor:
        """The hoisted input map of one (layer, direction) on every step at once: (..., c*H)."""
        proj = self.input_projs[index]
        if isinstance(proj, nn.ModuleList):                     # vanilla: one layer per gate
            return torch.cat([gate(x) for gate in proj], dim=-1)
        return proj(x)

    def _raise_nonfinite(self, input: Tensor) -> None:
        if not bool(torch.isfinite(input).all()):
            raise ValueError("input contains NaN or inf; expected finite values "
                             "(check the data, or pass check_finite=False to skip this check)")
        raise ValueError("the input map produced NaN or inf from a finite input: the model's "
                         "parameters are not finite (diverged training?)")

    def _recurrent_dropout_mask(self, B: int, ref: Tensor) -> Optional[Tensor]:
        p = self.recurrent_dropout
        if not self.training or p == 0.0:
            return None
        keep = torch.full((B, self.hidden_size), 1.0 - p, dtype=ref.dtype, device=ref.device)
        return torch.bernoulli(keep) / (1.0 - p)                 # (B, H), one per sequence

    def _run_direction(self, gi: Tensor, states: list[Tensor], layer: int, reverse: bool,
                       mask: Optional[Tensor], drop: Optional[Tensor]) -> tuple[Tensor, list[Tensor]]:
        w_hh = self.recurrent_map(layer, reverse)
        b_hh = getattr(self, f"bias_hh_l{layer}{'_reverse' if reverse else ''}")
        hard = self.gate_activation == "hard_sigmoid"
        if self.mode == "gru":
            out, h = gru_scan(gi, states[0], w_hh, b_hh, mask, drop, hard, self.reset_after, reverse)
            return out, [h]
        if b_hh is not None:
            gi = gi + b_hh                                       # hoisted: U's bias is per step too
        if self.mode == "lstm":
            out, h, c = lstm_scan(gi, states[0], states[1], w_hh, mask, drop, hard, reverse)
            return out, [h, c]
        out, h = rnn_scan(gi, states[0], w_hh, mask, drop, self.nonlinearity == "relu", reverse)
        return out, [h]

    def forward(self, input: Tensor, hx=None, lengths=None):
        x, batched = self._check_input(input)
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        mask = time_mask(lengths, B, T, x.device)
        if mask is not None:
            mask = mask.t().unsqueeze(-1)                        # (T, B, 1)
        states = self._initial_states(hx, B, x, batched)         # each (L*D, B, H)
        D = self.num_directions
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input, time_major = x, not self.batch_first
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                index = layer * D + d
                gi = self._project(index, layer_input)           # (B, T, c*H) or (T, B, c*H)
                if not time_major:
                    gi = gi.transpose(0, 1)                      # (T, B, c*H)
                if layer == 0 and self.check_finite and not bool(torch.isfinite(gi).all()):
                    self._raise_nonfinite(x)
                if self.input_dropout:
                    gi = F.dropout(gi, self.input_dropout, self.training)
                drop = self._recurrent_dropout_mask(B, x)
                out, last = self._run_direction(gi, [s[index] for s in states], layer, d == 1, mask, drop)
                outs.append(out)                                 # (T, B, H)
                for acc, s in zip(finals, last):
                    acc.append(s)
            layer_input = outs[0] if D == 1 else torch.cat(outs, dim=-1)   # (T, B, D*H)
            time_major = True
            if self.dropout and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        h_n = [torch.stack(acc) for acc in finals]               # (L*D, B, H)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            h_n = [s.squeeze(1) for s in h_n]
        if self.mode == "lstm":
            return output, (h_n[0], h_n[1])
        return output, h_n[0]


class TensorizedRNN(TensorizedRNNBase):
    r"""Elman RNN with a factorised input map: ``h_t = tanh(W x_t + b_ih + U h_{t-1} + b_hh)``.

    Args:
        nonlinearity: ``"tanh"`` (default) or ``"relu"``, as :class:`torch.nn.RNN`.
        others: see :class:`TensorizedRNNBase`.

    Shape:
        - input: ``(B, T, in_features)`` with ``batch_first=True``.
        - output: ``(B, T, D * hidden_size)``; ``h_n``: ``(num_layers * D, B, hidden_size)``.

    Examples::

        >>> rnn = TensorizedRNN((4, 6), (2, 3), factorization="tt", rank=2)
        >>> out, h_n = rnn(torch.randn(5, 7, 24))
        >>> out.shape, h_n.shape
        (torch.Size([5, 7, 6]), torch.Size([1, 5, 6]))
    """

    mode = "rnn"

    def __init__(self, in_shape, hidden_shape, factorization: str = "tt", rank=None, *,
                 nonlinearity: str = "tanh", **kwargs) -> None:
        _check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
        super().__init__(in_shape, hidden_shape, factorization, rank, **kwargs)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class TensorizedGRU(TensorizedRNNBase):
    r"""GRU with a factorised input map (TT-GRU in the TT-RNN paper).

    Gates in torch's order ``r, z, n`` (the original code: ``z, r, h~``)::

        r = sigma(W_r x + b_ir + U_r h + b_hr)
        z = sigma(W_z x + b_iz + U_z h + b_hz)
        n = tanh(W_n x + b_in + r * (U_n h + b_hn))     # reset_after=True (torch, cuDNN)
        n = tanh(W_n x + b_in + U_n (r * h) + b_hn)     # reset_after=False (paper, Keras 1)
        h' = (1 - z) * n + z * h                         # paper's z is 1 - z

    Args: see :class:`TensorizedRNNBase`.

    Shape:
        - input: ``(B, T, in_features)`` with ``batch_first=True``.
        - output: ``(B, T, D * hidden_size)``; ``h_n``: ``(num_layers * D, B, hidden_size)``.

    Examples::

        >>> gru = TensorizedGRU((8, 20, 20, 18), (4, 4, 4, 4), factorization="tt", rank=4)
        >>> gru.input_proj.num_factor_params       # the TT-GRU column of the TT-RNN paper
        3232
        >>> out, h_n = gru(torch.randn(2, 6, 57600))
        >>> out.shape, h_n.shape
        (torch.Size([2, 6, 256]), torch.Size([1, 2, 256]))
    """

    mode = "gru"


class TensorizedLSTM(TensorizedRNNBase):
    r"""LSTM with a factorised input map (TT-LSTM, TR-LSTM, BT-LSTM in the papers).

    Gates in torch's order ``i, f, g, o`` (the original code's ``i, f, c~, o``)::

        i, f, o = sigma(...), g = tanh(W_g x + b_ig + U_g h + b_hg)
        c' = f * c + i * g,  h' = o * tanh(c')

    Returns ``output, (h_n, c_n)`` like :class:`torch.nn.LSTM`. Paper setting: ``forget_bias=1``.

    Args: see :class:`TensorizedRNNBase`.

    Shape:
        - input: ``(B, T, in_features)`` with ``batch_first=True``.
        - output: ``(B, T, D * hidden_size)``; ``h_n``, ``c_n``: ``(num_layers * D, B, hidden_size)``.

    Examples::

        >>> lstm = TensorizedLSTM((8, 20, 20, 18), (4, 4, 4, 4), factorization="tt", rank=4)
        >>> lstm.input_proj.num_factor_params      # the TT-LSTM column of the TT-RNN paper
        3360
        >>> out, (h_n, c_n) = lstm(torch.randn(2, 6, 57600))
        >>> out.shape
        torch.Size([2, 6, 256])
    """

    mode = "lstm"


# --- the papers' named models: the generic classes with the factorization fixed ---------------


class TTRNN(TensorizedRNN):
    """TT-RNN (Yang et al. 2017): :class:`TensorizedRNN` with ``factorization="tt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tt", rank, **kwargs)


class TTGRU(TensorizedGRU):
    """TT-GRU (Yang et al. 2017): :class:`TensorizedGRU` with ``factorization="tt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tt", rank, **kwargs)


class TTLSTM(TensorizedLSTM):
    """TT-LSTM (Yang et al. 2017): :class:`TensorizedLSTM` with ``factorization="tt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tt", rank, **kwargs)


class TRRNN(TensorizedRNN):
    """a tensor-ring RNN: :class:`TensorizedRNN` with ``factorization="tr"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tr", rank, **kwargs)


class TRGRU(TensorizedGRU):
    """a tensor-ring GRU: :class:`TensorizedGRU` with ``factorization="tr"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tr", rank, **kwargs)


class TRLSTM(TensorizedLSTM):
    """TR-LSTM (Pan et al. 2019): :class:`TensorizedLSTM` with ``factorization="tr"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "tr", rank, **kwargs)


class BTRNN(TensorizedRNN):
    """BT-RNN (Ye et al. 2018): :class:`TensorizedRNN` with ``factorization="bt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "bt", rank, **kwargs)


class BTGRU(TensorizedGRU):
    """BT-GRU (Ye et al. 2018): :class:`TensorizedGRU` with ``factorization="bt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "bt", rank, **kwargs)


class BTLSTM(TensorizedLSTM):
    """BT-LSTM (Ye et al. 2018): :class:`TensorizedLSTM` with ``factorization="bt"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "bt", rank, **kwargs)


class HTRNN(TensorizedRNN):
    """an HT-RNN: :class:`TensorizedRNN` with ``factorization="ht"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "ht", rank, **kwargs)


class HTGRU(TensorizedGRU):
    """an HT-GRU: :class:`TensorizedGRU` with ``factorization="ht"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "ht", rank, **kwargs)


class HTLSTM(TensorizedLSTM):
    """HT-LSTM (Yin et al. 2020): :class:`TensorizedLSTM` with ``factorization="ht"``; see it for the arguments."""

    def __init__(self, in_shape, hidden_shape, rank=None, **kwargs) -> None:
        super().__init__(in_shape, hidden_shape, "ht", rank, **kwargs)
