"""``summary(model)``: where a model's parameters and multiply-adds are, and what they replace.

One row per factorised layer (its count, the dense ``nn.Linear`` it stands for, the ratio and
its multiply-adds per input row), per recurrent pair (``U`` + ``bias_hh`` of one layer and
direction: named after ``weight_hh`` when ``U`` is dense, after its ``recurrent_projs`` entry
when it is factorised), per ``nn.Linear`` head and per module holding other parameters.
Multiply-adds are per frame (one time step of one sequence); a classifier's head runs once per
sequence and is counted once.

The whole-model accounting (:meth:`ModelSummary.whole_model`) splits every parameter by role:
the input maps, the recurrent maps, the biases (all of them), the head and anything else, with
the model's size in bytes at fp32 (4 bytes a value) and int8 (1 byte a value; quantisation
scales not counted).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from torch import Tensor, nn

from tensorrnn.nn.base import FactorizedLinear
from tensorrnn.nn.rnn import TensorizedRNNBase
from tensorrnn.tables import render_table, rich_table

__all__ = ["summary", "ModelSummary", "SummaryRow", "ROLES", "BYTES_PER_VALUE", "render_table", "rich_table"]

#: The roles of :meth:`ModelSummary.whole_model`, in display order.
ROLES = ("input map", "recurrent map", "biases", "head", "other")
#: Bytes a value takes when the model is stored at that precision.
BYTES_PER_VALUE = {"fp32": 4, "int8": 1}


@dataclass(frozen=True)
class SummaryRow:
    """One line of a :class:`ModelSummary`."""

    name: str
    kind: str
    params: int            # trainable values held by this entry, biases included
    dense_params: int      # values of the dense layer(s) it stands for, same biases
    macs: int              # multiply-adds per frame (heads: per sequence)
    #: ``params`` split by role (``ROLES``): ``((role, count), ...)``; empty means all "other".
    parts: tuple[tuple[str, int], ...] = ()

    @property
    def compression(self) -> float:
        return self.dense_params / self.params if self.params else math.inf


@dataclass(frozen=True)
class ModelSummary:
    """Rows and totals returned by :func:`summary`; ``str()`` renders the table."""

    model: str
    rows: tuple[SummaryRow, ...]

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def dense_params(self) -> int:
        return sum(r.dense_params for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def compression(self) -> float:
        return self.dense_params / self.params if self.params else math.inf

    def whole_model(self) -> dict:
        """Every parameter by role, and the size in bytes.

        Returns ``{"params": {role: count for role in ROLES}, "total": n, "bytes": {"fp32": 4 n,
        "int8": n}}``; the counts add up to ``total == self.params``.
        """
        by_role = dict.fromkeys(ROLES, 0)
        for row in self.rows:
            for role, n in row.parts or (("other", row.params),):
                by_role[role] += n
        total = sum(by_role.values())
        return {"params": by_role, "total": total,
                "bytes": {name: size * total for name, size in BYTES_PER_VALUE.items()}}

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): ``{"model", "rows": [...], "total": {...}, "whole_model": {...}}``."""
        rows = [{**asdict(r), "parts": dict(r.parts), "compression": r.compression} for r in self.rows]
        total = {"params": self.params, "dense_params": self.dense_params,
                 "compression": self.compression, "macs": self.macs}
        return {"model": self.model, "rows": rows, "total": total, "whole_model": self.whole_model()}

    def _whole_table(self) -> tuple[list[str], list[list[str]], list[str]]:
        whole = self.whole_model()
        total = whole["total"] or 1
        headers = ["role", "", "params", "share", *(f"{k} bytes" for k in BYTES_PER_VALUE)]
        body = [[role, "", f"{n:,}", f"{100 * n / total:.1f}%",
                 *(f"{size * n:,}" for size in BYTES_PER_VALUE.values())]
                for role, n in whole["params"].items() if n]
        footer = ["total", "", f"{whole['total']:,}", "100%" if whole["total"] else "",
                  *(f"{b:,}" for b in whole["bytes"].values())]
        return headers, body, footer

    def _table(self) -> tuple[list[str], list[list[str]], list[str]]:
        headers = ["name", "kind", "params", "dense equiv.", "compression", "MACs/frame"]
        body = [[r.name, r.kind, f"{r.params:,}", f"{r.dense_params:,}", _ratio(r.compression),
                 f"{r.macs:,}"] for r in self.rows]
        total = ["total", "", f"{self.params:,}", f"{self.dense_params:,}", _ratio(self.compression),
                 f"{self.macs:,}"]
        return headers, body, total

    def __str__(self) -> str:
        return "\n\n".join((render_table(f"summary: {self.model}", *self._table()),
                            render_table(f"whole model: {self.model}", *self._whole_table())))

    def print(self) -> None:
        """Print the tables (with colour when ``rich`` is installed and the output is a terminal)."""
        try:
            from rich.console import Console
        except ImportError:
            print(str(self))
            return
        console = Console()
        console.print(rich_table(f"summary: {self.model}", *self._table()))
        console.print(rich_table(f"whole model: {self.model}", *self._whole_table()))


def _ratio(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:,.1f}x"


def _numel(*tensors) -> int:
    return sum(t.numel() for t in tensors if t is not None)


def _parts(role: str, weights: int, biases: int) -> tuple[tuple[str, int], ...]:
    return tuple((r, n) for r, n in ((role, weights), ("biases", biases)) if n)


def _factorized_row(name: str, layer: FactorizedLinear) -> SummaryRow:
    bias = _numel(layer.bias)
    params = sum(p.numel() for p in layer.parameters())
    return SummaryRow(name, type(layer).__name__, params, layer.in_features * layer.out_features + bias,
                      int(layer.macs), _parts("input map", params - bias, bias))


def _rnn_rows(name: str, rnn: TensorizedRNNBase, rows: list[SummaryRow]) -> None:
    # Per layer and direction: its input map(s), then its recurrent pair (U and bias_hh).
    prefix = f"{name}." if name else ""
    index = 0
    c, H = rnn.num_gates, rnn.hidden_size
    for layer in range(rnn.num_layers):
        for reverse in (False, True)[: rnn.num_directions]:
            _collect(f"{prefix}input_projs.{index}", rnn.input_projs[index], rows)
            u = rnn.recurrent_map(layer, reverse)
            suffix = f"l{layer}{'_reverse' if reverse else ''}"
            bias = _numel(getattr(rnn, f"bias_hh_{suffix}"))
            if isinstance(u, Tensor):                            # dense U: weight_hh
                n = u.numel() + bias
                rows.append(SummaryRow(f"{prefix}weight_hh_{suffix}", "recurrent (dense)", n, n, u.numel(),
                                       _parts("recurrent map", u.numel(), bias)))
            else:                                                # factorised U
                weights = sum(p.numel() for p in u.parameters())
                # a GRU with reset_after=False applies the packed map twice a step (gru_scan)
                twice = rnn.mode == "gru" and not rnn.reset_after
                rows.append(SummaryRow(f"{prefix}recurrent_projs.{index}", f"recurrent ({type(u).__name__})",
                                       weights + bias, c * H * H + bias, int(u.macs) * (2 if twice else 1),
                                       _parts("recurrent map", weights, bias)))
            index += 1


def _torch_rnn_row(name: str, rnn: nn.RNNBase) -> SummaryRow:
    n = sum(p.numel() for p in rnn.parameters())
    macs = sum(p.numel() for pname, p in rnn.named_parameters() if pname.startswith("weight"))
    count = {role: sum(p.numel() for pname, p in rnn.named_parameters() if pname.startswith(prefix))
             for role, prefix in (("input map", "weight_ih"), ("recurrent map", "weight_hh"), ("biases", "bias"))}
    count["other"] = n - sum(count.values())                     # e.g. LSTM projections (weight_hr)
    return SummaryRow(name or "(model)", type(rnn).__name__, n, n, macs,
                      tuple((r, k) for r, k in count.items() if k))


def _collect(name: str, module: nn.Module, rows: list[SummaryRow]) -> None:
    if isinstance(module, FactorizedLinear):
        rows.append(_factorized_row(name or "(model)", module))
        return
    if isinstance(module, nn.Linear):
        n = _numel(module.weight, module.bias)
        # a classifier's output layer is its head; any other Linear counts as "other"
        role = "head" if name.rsplit(".", 1)[-1] == "head" else "other"
        rows.append(SummaryRow(name or "(model)", "Linear", n, n, module.weight.numel(),
                               _parts(role, module.weight.numel(), _numel(module.bias))))
        return
    if isinstance(module, nn.RNNBase):
        rows.append(_torch_rnn_row(name, module))
        return
    if isinstance(module, TensorizedRNNBase):
        _rnn_rows(name, module, rows)
        return
    own = list(module.parameters(recurse=False))
    if own:
        n = _numel(*own)
        rows.append(SummaryRow(name or "(model)", type(module).__name__, n, n, 0))
    for child_name, child in module.named_children():
        _collect(f"{name}.{child_name}" if name else child_name, child, rows)


def summary(model: nn.Module) -> ModelSummary:
    """Per-layer parameter counts, dense equivalents, compression and multiply-adds per frame.

    Args:
        model: any module; factorised layers, tensorised RNNs, ``torch.nn`` RNNs and
            ``nn.Linear`` get their own rows, other modules' parameters one row each.

    Returns:
        A :class:`ModelSummary` (``.rows``, ``.params``, ``.dense_params``, ``.compression``,
        ``.macs``, ``.whole_model()`` (every parameter by role, and the bytes at fp32 / int8),
        ``.to_dict()``, ``.print()``; ``str()`` is the plain-text tables).

    Examples::

        >>> from tensorrnn.nn import TTGRU, SequenceClassifier, summary
        >>> model = SequenceClassifier(TTGRU((8, 20, 20, 18), (4, 4, 4, 4), rank=4), 11)
        >>> s = summary(model)
        >>> s.params == sum(p.numel() for p in model.parameters())
        True
        >>> s.whole_model()["params"]["recurrent map"]                  # the dense U
        196608
        >>> print(s)                                                   # doctest: +SKIP
    """
    rows: list[SummaryRow] = []
    _collect("", model, rows)
    return ModelSummary(type(model).__name__, tuple(rows))
