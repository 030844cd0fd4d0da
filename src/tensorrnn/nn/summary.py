"""``summary(model)``: where a model's parameters and multiply-adds are, and what they replace.

One row per factorised layer (its count, the dense ``nn.Linear`` it stands for, the ratio and
its multiply-adds per input row), per dense recurrent pair (``weight_hh`` + ``bias_hh`` of one
layer and direction, named after ``weight_hh``), per ``nn.Linear`` head and per module holding other parameters.
Multiply-adds are per frame (one time step of one sequence); a classifier's head runs once per
sequence and is counted once.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from torch import nn

from tensorrnn.nn.base import FactorizedLinear
from tensorrnn.nn.rnn import TensorizedRNNBase

__all__ = ["summary", "ModelSummary", "SummaryRow", "render_table", "rich_table"]


@dataclass(frozen=True)
class SummaryRow:
    """One line of a :class:`ModelSummary`."""

    name: str
    kind: str
    params: int            # trainable values held by this entry, biases included
    dense_params: int      # values of the dense layer(s) it stands for, same biases
    macs: int              # multiply-adds per frame (heads: per sequence)

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

    def to_dict(self) -> dict:
        """Plain data (JSON-ready): ``{"model", "rows": [...], "total": {...}}``."""
        rows = [{**asdict(r), "compression": r.compression} for r in self.rows]
        total = {"params": self.params, "dense_params": self.dense_params,
                 "compression": self.compression, "macs": self.macs}
        return {"model": self.model, "rows": rows, "total": total}

    def _table(self) -> tuple[list[str], list[list[str]], list[str]]:
        headers = ["name", "kind", "params", "dense equiv.", "compression", "MACs/frame"]
        body = [[r.name, r.kind, f"{r.params:,}", f"{r.dense_params:,}", _ratio(r.compression),
                 f"{r.macs:,}"] for r in self.rows]
        total = ["total", "", f"{self.params:,}", f"{self.dense_params:,}", _ratio(self.compression),
                 f"{self.macs:,}"]
        return headers, body, total

    def __str__(self) -> str:
        return render_table(f"summary: {self.model}", *self._table())

    def print(self) -> None:
        """Print the table (with colour when ``rich`` is installed and the output is a terminal)."""
        try:
            from rich.console import Console
        except ImportError:
            print(str(self))
            return
        Console().print(rich_table(f"summary: {self.model}", *self._table()))


def _ratio(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:,.1f}x"


def rich_table(title: str, headers: list[str], rows: list[list[str]], footer: list[str] | None = None):
    """The same table as :func:`render_table`, as a ``rich.table.Table`` (needs ``rich``)."""
    from rich.table import Table

    table = Table(title=title, show_footer=footer is not None)
    for i, h in enumerate(headers):
        table.add_column(h, footer=footer[i] if footer else "", justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def render_table(title: str, headers: list[str], rows: list[list[str]],
                 footer: list[str] | None = None) -> str:
    """A plain-text table: first two columns left-aligned, the rest right-aligned; an optional
    footer row (totals) below a rule."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, *([footer] if footer else []))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "-" * max(len(line(headers)), *(len(line(r)) for r in rows)) if rows else "-" * len(line(headers))
    lines = [title, line(headers), rule, *map(line, rows)]
    if footer:
        lines += [rule, line(footer)]
    return "\n".join(lines)


def _numel(*tensors) -> int:
    return sum(t.numel() for t in tensors if t is not None)


def _factorized_row(name: str, layer: FactorizedLinear) -> SummaryRow:
    bias = _numel(layer.bias)
    params = sum(p.numel() for p in layer.parameters())
    return SummaryRow(name, type(layer).__name__, params, layer.in_features * layer.out_features + bias,
                      int(layer.macs))


def _rnn_rows(name: str, rnn: TensorizedRNNBase, rows: list[SummaryRow]) -> None:
    # Per layer and direction: its input map(s), then its dense recurrent pair.
    prefix = f"{name}." if name else ""
    index = 0
    for layer in range(rnn.num_layers):
        for reverse in (False, True)[: rnn.num_directions]:
            _collect(f"{prefix}input_projs.{index}", rnn.input_projs[index], rows)
            weight, bias = rnn.recurrent_weights(layer, reverse)
            n = _numel(weight, bias)
            label = f"{prefix}weight_hh_l{layer}{'_reverse' if reverse else ''}"
            rows.append(SummaryRow(label, "recurrent (dense)", n, n, weight.numel()))
            index += 1


def _torch_rnn_row(name: str, rnn: nn.RNNBase) -> SummaryRow:
    n = sum(p.numel() for p in rnn.parameters())
    macs = sum(p.numel() for pname, p in rnn.named_parameters() if pname.startswith("weight"))
    return SummaryRow(name or "(model)", type(rnn).__name__, n, n, macs)


def _collect(name: str, module: nn.Module, rows: list[SummaryRow]) -> None:
    if isinstance(module, FactorizedLinear):
        rows.append(_factorized_row(name or "(model)", module))
        return
    if isinstance(module, nn.Linear):
        n = _numel(module.weight, module.bias)
        rows.append(SummaryRow(name or "(model)", "Linear", n, n, module.weight.numel()))
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
        ``.macs``, ``.to_dict()``, ``.print()``; ``str()`` is the plain-text table).

    Examples::

        >>> from tensorrnn.nn import TTGRU, SequenceClassifier, summary
        >>> model = SequenceClassifier(TTGRU((8, 20, 20, 18), (4, 4, 4, 4), rank=4), 11)
        >>> s = summary(model)
        >>> s.params == sum(p.numel() for p in model.parameters())
        True
        >>> print(s)                                                   # doctest: +SKIP
    """
    rows: list[SummaryRow] = []
    _collect("", model, rows)
    return ModelSummary(type(model).__name__, tuple(rows))
