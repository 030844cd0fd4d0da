"""Text tables: one table as plain text (:func:`render_table`) or as a ``rich`` table
(:func:`rich_table`), the same rows either way. ``nn.summary`` prints with them, ``experiments``
writes its reports with them; any layer may import it (``rich`` is imported only by
:func:`rich_table`).
"""
from __future__ import annotations

__all__ = ["render_table", "rich_table"]


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
