"""``tensorrnn params``: the papers' parameter tables, computed from the modules themselves.

Every count is the number of values in the input-to-hidden map of a module built by this
package (``input_proj``, built with ``bias=False``: the papers' tables count no bias), never a
formula typed here. For the UCF11 shapes the TT table is checked cell by cell against
``papers.TT_PARAM_TABLE``, the dense counts against ``papers.UCF11_DENSE_PARAMS`` and the TR-LSTM
compression against the TR paper's "over 34,000x"; a mismatch is marked and the exit code is 1.

``--whole-model`` counts every parameter of the published UCF11 classifiers (and of an HT-LSTM at
their shapes) instead (input map, recurrent map ``U``, all biases, head;
:meth:`tensorrnn.nn.summary.ModelSummary.whole_model`), with the papers' dense ``U`` and fully
factorised (``U`` in the input map's format), and their size in bytes at fp32 and int8. The
models are built on the meta device: counted, never allocated.

Examples::

    tensorrnn params                        # the TT-RNN paper's table + published configs
    tensorrnn params --ranks 2 4 8 --json   # JSON on stdout
    tensorrnn params --plot params.png      # bar chart, log scale
    tensorrnn params --in-shape 10x18x13x30 --factorization tr
    tensorrnn params --whole-model          # whole classifiers, dense vs factorised U
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from tensorrnn import papers
from tensorrnn.errors import ArgumentParser
from tensorrnn.figures import save_figure
from tensorrnn.nn.classifier import build_classifier
from tensorrnn.nn.factory import factorized_linear
from tensorrnn.nn.rnn import TensorizedGRU, TensorizedLSTM
from tensorrnn.nn.summary import BYTES_PER_VALUE, ROLES, summary
from tensorrnn.tables import render_table
from tensorrnn.tensor.shapes import check_shape

# Columns of the TT-RNN paper's table: key -> (label, rnn class or None for the bare layer, shared).
COLUMNS = {
    "ttl": ("TTL", None, True),
    "vanilla_tt_lstm": ("vanilla TT-LSTM", TensorizedLSTM, False),
    "tt_lstm": ("TT-LSTM", TensorizedLSTM, True),
    "vanilla_tt_gru": ("vanilla TT-GRU", TensorizedGRU, False),
    "tt_gru": ("TT-GRU", TensorizedGRU, True),
}
FAMILY = {"tt": "TT", "tr": "TR", "bt": "BT", "ht": "HT"}
#: HT rank of the UCF11 HT-LSTM (configs/ucf11_ht_lstm.yaml, ucf11_ht_lstm_full.yaml): the
#: HT rank whose input map is closest to the TT-LSTM's (3,255 weights against 3,360).
HT_UCF11_RANK = 7


# --- counting --------------------------------------------------------------------------------

def _numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _input_map(cls, in_shape, hidden_shape, factorization: str, rank, blocks: int = 1,
               shared_gates: bool = True) -> torch.nn.Module:
    """The input-to-hidden map (no bias) of ``cls``, or the bare layer when ``cls`` is None."""
    if cls is None:
        return factorized_linear(factorization, list(in_shape), list(hidden_shape), rank=rank,
                                 blocks=blocks, bias=False)
    rnn = cls(in_shape, hidden_shape, factorization, rank, blocks=blocks, shared_gates=shared_gates,
              bias=False)
    return rnn.input_proj


def input_map_params(cls, in_shape, hidden_shape, factorization: str, rank, blocks: int = 1,
                     shared_gates: bool = True) -> int:
    """Values in the input-to-hidden map (no bias) of ``cls`` (None: the bare layer)."""
    return _numel(_input_map(cls, in_shape, hidden_shape, factorization, rank, blocks, shared_gates))


def dense_equivalent(proj: torch.nn.Module) -> int:
    """Weights of the dense map an input map stands for: ``in * out``, summed over gate layers."""
    layers = proj if isinstance(proj, torch.nn.ModuleList) else [proj]
    return sum(layer.in_features * layer.out_features for layer in layers)


def rank_table(in_shape, hidden_shape, ranks, factorization: str = "tt", blocks: int = 1) -> list[dict]:
    """One row per rank: the five columns of the TT-RNN paper's table, for any format."""
    rows = []
    for rank in ranks:
        row = {"rank": rank}
        for key, (_, cls, shared) in COLUMNS.items():
            row[key] = input_map_params(cls, in_shape, hidden_shape, factorization, rank, blocks, shared)
        rows.append(row)
    return rows


def dense_counts(in_shape, hidden_shape) -> dict[str, int]:
    """Dense input-to-hidden counts: FC (one map), GRU (3 gates), LSTM (4 gates).

    Read from rank-1 TR modules (valid for any shapes) rather than by allocating the dense
    matrices: the UCF11 LSTM's would be 236 MB just to be counted.
    """
    return {key: dense_equivalent(_input_map(cls, in_shape, hidden_shape, "tr", 1))
            for key, cls in (("fc", None), ("gru", TensorizedGRU), ("lstm", TensorizedLSTM))}


def published_configs() -> list[dict]:
    """The published UCF11 models: TT-GRU / TT-LSTM (rank 4), TR-LSTM, BT-LSTM (rank 4, 2 blocks)."""
    tt, hid = papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE
    tr_in, tr_hid = papers.TR_UCF11_IN_SHAPE, papers.TR_UCF11_HIDDEN_SHAPE
    # TR ranks R_0..R_{n+m-1}: R_0 (= R_{n+m}, closing the ring) is 10, every other rank 5.
    tr_rank = [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * (len(tr_in) + len(tr_hid) - 1)
    configs = [
        ("TT-GRU", TensorizedGRU, "tt", tt, hid, 4, 1, "tt-rnn paper"),
        ("TT-LSTM", TensorizedLSTM, "tt", tt, hid, 4, 1, "tt-rnn paper"),
        ("TR-LSTM", TensorizedLSTM, "tr", tr_in, tr_hid, tr_rank, 1, "tr paper"),
        ("BT-LSTM", TensorizedLSTM, "bt", tt, hid, papers.BT_UCF11_RANK, papers.BT_UCF11_BLOCKS, "bt paper"),
    ]
    rows = []
    for name, cls, fact, in_shape, hidden_shape, rank, blocks, source in configs:
        proj = _input_map(cls, in_shape, hidden_shape, fact, rank, blocks)
        params, dense = _numel(proj), dense_equivalent(proj)
        row = {"model": name, "factorization": fact, "in_shape": list(in_shape),
               "hidden_shape": list(hidden_shape), "rank": rank, "blocks": blocks,
               "params": params, "dense_params": dense, "compression": dense / params, "source": source}
        if name == "TR-LSTM":
            row["paper"] = f"> {papers.TR_UCF11_REPORTED_COMPRESSION:,}x"
            row["match"] = row["compression"] > papers.TR_UCF11_REPORTED_COMPRESSION
        rows.append(row)
    return rows


# --- whole models --------------------------------------------------------------------------------

def _tr_ucf11_rank() -> list[int]:
    # TR ranks R_0..R_{n+m-1}: R_0 (= R_{n+m}, closing the ring) is 10, every other rank 5.
    n = len(papers.TR_UCF11_IN_SHAPE) + len(papers.TR_UCF11_HIDDEN_SHAPE)
    return [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * (n - 1)


def whole_model_configs() -> list[dict]:
    """The classifiers of the whole-model table: the published UCF11 models (dense ``U``, as in
    the papers) and the same models fully factorised (``U`` in the input map's format).

    A factorised ``U`` (``(4, 4, 4, 4) -> (gates * 4, 4, 4, 4)``, TR: the TR paper's hidden modes)
    takes one rank for all its cores: TT and BT 4 (BT: 2 blocks, as the input map), TR 5 (the
    TR paper's inner rank; its closing rank 10 belongs to the 13-core input ring).

    The HT-LSTM is no model of the three papers: the TT-LSTM's shapes with both maps as HT
    matrices (Yin et al. 2020 for the input map, FDHT-LSTM, Yin et al. 2021, for both), at the HT
    rank 7 of ``configs/ucf11_ht_lstm.yaml`` (input map 3,255 weights against the TT-LSTM's 3,360).
    """
    tt, hid = papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE
    tr_in, tr_hid = papers.TR_UCF11_IN_SHAPE, papers.TR_UCF11_HIDDEN_SHAPE
    published = [  # name, arch, factorization, in_shape, hidden_shape, rank, blocks, rank of a factorised U
        ("GRU", "gru", "dense", tt, hid, None, 1, None),
        ("LSTM", "lstm", "dense", tt, hid, None, 1, None),
        ("TT-GRU", "gru", "tt", tt, hid, 4, 1, 4),
        ("TT-LSTM", "lstm", "tt", tt, hid, 4, 1, 4),
        ("TR-LSTM", "lstm", "tr", tr_in, tr_hid, _tr_ucf11_rank(), 1, papers.TR_UCF11_RANK),
        ("BT-LSTM", "lstm", "bt", tt, hid, papers.BT_UCF11_RANK, papers.BT_UCF11_BLOCKS, papers.BT_UCF11_RANK),
        # not a paper of the three: HT (Yin et al. 2020) at the TT-LSTM's shapes, configs/ucf11_ht_lstm.yaml
        ("HT-LSTM", "lstm", "ht", tt, hid, HT_UCF11_RANK, 1, HT_UCF11_RANK),
    ]
    configs = []
    for name, arch, fact, in_shape, hidden_shape, rank, blocks, u_rank in published:
        base = {"arch": arch, "factorization": fact, "in_shape": list(in_shape),
                "hidden_shape": list(hidden_shape), "rank": rank, "blocks": blocks}
        configs.append({"model": name, **base, "recurrent_factorization": "dense", "recurrent_rank": None})
        if fact != "dense":
            configs.append({"model": f"{name} full", **base, "recurrent_factorization": fact,
                            "recurrent_rank": u_rank})
    return configs


def whole_model_rows(num_classes: int = len(papers.UCF11_CLASSES)) -> list[dict]:
    """Every parameter of each :func:`whole_model_configs` classifier, by role, and its bytes."""
    rows = []
    for config in whole_model_configs():
        options = {k: v for k, v in config.items() if k not in ("model", "arch", "in_shape", "hidden_shape")}
        model = build_classifier(config["arch"], config["in_shape"], config["hidden_shape"], num_classes,
                                 device="meta", **options)
        whole = summary(model).whole_model()
        rows.append({**config, "num_classes": num_classes, **whole})
    return rows


def format_whole_model(rows: list[dict]) -> str:
    """The whole-model table: one row per classifier, its parameters by role, total and bytes."""
    roles = [role for role in ROLES if role != "other" or any(row["params"][role] for row in rows)]
    headers = ["model", "U", *roles, "total", *(f"{k} bytes" for k in BYTES_PER_VALUE)]
    body = []
    for row in rows:
        u = row["recurrent_factorization"]
        if u != "dense":
            u += f" rank {row['recurrent_rank']}"
        body.append([row["model"], u, *(f"{row['params'][role]:,}" for role in roles), f"{row['total']:,}",
                     *(f"{row['bytes'][k]:,}" for k in BYTES_PER_VALUE)])
    classes = rows[0]["num_classes"] if rows else 0
    title = (f"Whole UCF11 classifiers ({classes} classes): every parameter, biases and head included "
             f"(\"full\": U factorised like the input map)")
    return render_table(title, headers, body)


# --- checking against the paper ----------------------------------------------------------------

def _is_ucf11(in_shape, hidden_shape) -> bool:
    return tuple(in_shape) == papers.UCF11_IN_SHAPE and tuple(hidden_shape) == papers.UCF11_HIDDEN_SHAPE


def check_rank_table(rows: list[dict], factorization: str, in_shape, hidden_shape) -> None:
    """Add ``paper`` and ``match`` to the rows that the TT-RNN paper's table covers (in place)."""
    if factorization != "tt" or not _is_ucf11(in_shape, hidden_shape):
        return
    for row in rows:
        published = papers.TT_PARAM_TABLE.get(row["rank"])
        if published is not None:
            row["paper"] = dict(published)
            row["match"] = all(row[key] == published[key] for key in COLUMNS)


def build_report(in_shape, hidden_shape, ranks, factorization: str = "tt", blocks: int = 1) -> dict:
    """Everything ``tensorrnn params`` prints, as plain data."""
    table = rank_table(in_shape, hidden_shape, ranks, factorization, blocks)
    check_rank_table(table, factorization, in_shape, hidden_shape)
    dense = dense_counts(in_shape, hidden_shape)
    report = {"in_shape": list(in_shape), "hidden_shape": list(hidden_shape),
              "factorization": factorization, "blocks": blocks, "table": table,
              "dense": dense, "published": published_configs()}
    if _is_ucf11(in_shape, hidden_shape):
        report["dense_paper"] = dict(papers.UCF11_DENSE_PARAMS)
        report["dense_match"] = dense == papers.UCF11_DENSE_PARAMS
    # one entry per published number compared (a table row holds one per column)
    checks = [r[key] == r["paper"][key] for r in table if "paper" in r for key in COLUMNS]
    checks += [r["match"] for r in report["published"] if "match" in r]
    if "dense_paper" in report:
        checks += [dense[key] == value for key, value in report["dense_paper"].items()]
    report["all_match"] = all(checks)
    report["checked"] = len(checks)
    return report


# --- output ---------------------------------------------------------------------------------------

def _cell(value: int, paper: int | None) -> str:
    if paper is None:
        return f"{value:,}"
    return f"{value:,} ok" if value == paper else f"{value:,} MISMATCH (paper {paper:,})"


def format_report(report: dict) -> str:
    fam = FAMILY.get(report["factorization"], report["factorization"].upper())
    headers = [f"{fam}-rank", ""] + [label.replace("TT", fam) for label, _, _ in COLUMNS.values()]
    body = []
    for row in report["table"]:
        paper = row.get("paper", {})
        body.append([str(row["rank"]), ""] + [_cell(row[k], paper.get(k)) for k in COLUMNS])
    shapes = f"input {'x'.join(map(str, report['in_shape']))}, hidden {'x'.join(map(str, report['hidden_shape']))}"
    checked = " (checked against the TT-RNN paper)" if any("paper" in r for r in report["table"]) else ""
    title = f"Input-to-hidden parameters, no bias: {shapes}{checked}"
    if report["factorization"] == "bt":
        title += f", {report['blocks']} blocks"
    out = [render_table(title, headers, body)]

    dense_paper = report.get("dense_paper", {})
    dense_rows = [[name, "dense", _cell(report["dense"][key], dense_paper.get(key))]
                  for name, key in (("FC", "fc"), ("GRU", "gru"), ("LSTM", "lstm"))]
    out.append(render_table(f"Dense input-to-hidden maps: {shapes}", ["model", "", "params"], dense_rows))

    pub = []
    for row in report["published"]:
        check = "" if "match" not in row else (" ok" if row["match"] else f" MISMATCH (paper {row['paper']})")
        rank = row["rank"]
        if not isinstance(rank, int):      # TR: R_0 closes the ring, the others are equal
            rank = f"R_0={rank[0]}, others {rank[1]}" if len(set(rank[1:])) == 1 else "-".join(map(str, rank))
        blocks = f", {row['blocks']} blocks" if row["factorization"] == "bt" else ""
        pub.append([row["model"], f"{'x'.join(map(str, row['in_shape']))} -> "
                    f"{'x'.join(map(str, row['hidden_shape']))}, rank {rank}{blocks}",
                    f"{row['params']:,}", f"{row['dense_params']:,}", f"{row['compression']:,.0f}x{check}"])
    out.append(render_table("Published UCF11 configurations (gates packed, no bias)",
                            ["model", "configuration", "params", "dense map", "compression"], pub))
    if report["checked"]:
        verdict = "all match" if report["all_match"] else "MISMATCHES FOUND"
        out.append(f"{report['checked']} published numbers compared: {verdict}")
    return "\n\n".join(out)


def plot_report(report: dict, path: str | Path) -> Path:
    """Horizontal bar chart of the counts (log scale), dense vs factorised; atomic PNG write."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fam = FAMILY.get(report["factorization"], report["factorization"].upper())
    bars = [(f"dense {k.upper()}", v, "tab:gray") for k, v in report["dense"].items()]
    colours = {"ttl": "tab:blue", "vanilla_tt_lstm": "lightsteelblue", "tt_lstm": "tab:blue",
               "vanilla_tt_gru": "lightsteelblue", "tt_gru": "tab:blue"}
    for row in report["table"]:
        for key, (label, _, _) in COLUMNS.items():
            bars.append((f"{label.replace('TT', fam)}, rank {row['rank']}", row[key], colours[key]))
    for row in report["published"]:
        if row["factorization"] == "tt":
            continue                    # the same modules as the rank-4 rows above
        colour = {"tr": "tab:green", "bt": "tab:orange"}[row["factorization"]]
        bars.append((f"{row['model']} (published UCF11)", row["params"], colour))

    fig, ax = plt.subplots(figsize=(8, 0.32 * len(bars) + 1.2))
    y = range(len(bars))
    ax.barh(list(y), [b[1] for b in bars], color=[b[2] for b in bars])
    for i, (_, value, _) in enumerate(bars):
        ax.text(value, i, f" {value:,}", va="center", fontsize=7)
    ax.set_yticks(list(y), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("input-to-hidden parameters (log scale)")
    shapes = f"{'x'.join(map(str, report['in_shape']))} -> {'x'.join(map(str, report['hidden_shape']))}"
    ax.set_title(f"Parameters: dense vs factorised input maps ({shapes})", fontsize=10)
    ax.set_xlim(left=100, right=max(b[1] for b in bars) * 20)
    fig.tight_layout()

    return save_figure(fig, path, dpi=120)


# --- command line -------------------------------------------------------------------------------

def _shape_arg(name: str, tokens: list[str]) -> tuple[int, ...]:
    parts = [p for tok in tokens for p in re.split(r"[x,\s]+", tok.strip()) if p]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"{name}={' '.join(tokens)!r}: expected positive ints like 8x20x20x18 or 8 20 20 18") from None
    return check_shape(name, values)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="tensorrnn params", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in-shape", "--in_shape", nargs="+", default=None,
                   help="input modes, e.g. 10x18x13x30 (default: UCF11's 8x20x20x18)")
    p.add_argument("--hidden-shape", "--hidden_shape", nargs="+", default=None, help="hidden modes (default: 4x4x4x4)")
    p.add_argument("--ranks", nargs="+", type=int, default=sorted(papers.TT_PARAM_TABLE),
                   help="ranks, one table row each (default: %(default)s)")
    p.add_argument("--factorization", choices=["tt", "tr", "bt", "ht"], default="tt",
                   help="format of the rank table (default: tt; the published rows are fixed)")
    p.add_argument("--blocks", type=int, default=None,
                   help=f"Tucker blocks for --factorization bt (default: {papers.BT_UCF11_BLOCKS})")
    p.add_argument("--whole-model", "--whole_model", action="store_true",
                   help="count every parameter of the published UCF11 classifiers (input map, recurrent map, "
                        "biases, head), with dense and factorised U, and their bytes at fp32 / int8")
    p.add_argument("--classes", type=int, default=len(papers.UCF11_CLASSES),
                   help="classes of the head for --whole-model (default: %(default)s, UCF11)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--plot", metavar="PATH", default=None, help="also write a PNG bar chart (log scale)")
    return p


def _whole_model_main(args: argparse.Namespace, argv: list[str]) -> int:
    given = {a.split("=", 1)[0].replace("_", "-") for a in argv if a.startswith("--")}  # either spelling
    ignored = [opt for opt in ("--in-shape", "--hidden-shape", "--ranks", "--factorization", "--blocks", "--plot")
               if opt in given]
    if ignored:
        raise ValueError(f"{ignored[0]} with --whole-model: the whole-model table is of the published UCF11 "
                         f"models; expected only --classes and --json with it")
    if args.classes < 1:
        raise ValueError(f"--classes {args.classes}: expected a positive int")
    rows = whole_model_rows(args.classes)
    if args.json:
        json.dump({"whole_model": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_whole_model(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.whole_model:
        return _whole_model_main(args, argv or [])
    in_shape = _shape_arg("--in-shape", args.in_shape) if args.in_shape else papers.UCF11_IN_SHAPE
    hidden_shape = _shape_arg("--hidden-shape", args.hidden_shape) if args.hidden_shape else papers.UCF11_HIDDEN_SHAPE
    for r in args.ranks:
        if r < 1:
            raise ValueError(f"--ranks {r}: expected positive ints")
    blocks = args.blocks if args.blocks is not None else (papers.BT_UCF11_BLOCKS if args.factorization == "bt" else 1)
    if blocks < 1:
        raise ValueError(f"--blocks {blocks}: expected a positive int")

    report = build_report(in_shape, hidden_shape, args.ranks, args.factorization, blocks)
    if args.plot:
        report["plot"] = str(plot_report(report, args.plot))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
        if args.plot:
            print(f"\nwrote {report['plot']}")
    return 0 if report["all_match"] else 1
