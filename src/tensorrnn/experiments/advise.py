"""``tensorrnn advise``: which shapes and ranks to pick for a factorised input map, per format.

Given the input size (``--in-features`` or ``--frame``), the hidden size, the number of gates
packed into the map and a budget (parameters, or multiply-adds per frame), every format (TT,
TR, BT, HT) gets the candidate that buys the most parameters within the budget, with its
multiply-adds and the measured time of a forward + backward of the map on this machine.

Candidates (counted by each format's ``*_num_params`` / ``*_macs``, nothing allocated):

- **shapes**: the input and hidden modes balanced by :func:`tensorrnn.tensor.shapes.factorize`
  for 2 to 8 modes (input ascending, hidden descending, the gates multiplied into the first
  output mode as in :func:`~tensorrnn.tensor.shapes.suggest_shapes`), plus the papers' shapes
  for these sizes (``tensorrnn.papers``: the TT-RNN paper's, the TR paper's), or only the ones
  given with ``--in-shape`` / ``--hidden-shape``. TT, BT and HT pair shapes with the same number
  of modes; TR any two.
- **ranks**: one rank for every bond (clipped where it cannot be useful, as the layers do),
  from ``--min-rank`` (1) up to the budget or :data:`MAX_RANK`; TR also with the closing rank
  ``R_0`` doubled (the TR paper's choice: ``R_0 = 10``, every other rank 5); BT with 1 to 4 blocks.

**The best** candidate of a format has the most parameters within the budget (the most
capacity it buys); ties go to the largest rank, then to fewer multiply-adds, then to the papers'
shapes, then to fewer modes. Given a paper's parameter count, the advisor returns that paper's
shapes and ranks (``tests/test_advise.py``): they are among the candidates and spend the budget
exactly (for the YouTube TT-GRU's 3,328 a 3-mode TT of rank 2 does too; the larger rank wins).
A small budget buys large modes at rank 1 (a Kronecker product) unless ``--min-rank`` says
otherwise. A budget of multiply-adds keeps the candidates whose planned contraction (the one the
layer runs) fits. The time is the best of ``--repeats`` forward + backward calls of the built
layer (:func:`measure`).

Examples::

    tensorrnn advise --frame 160x120x3 --hidden 256 --arch gru --params 3232
    tensorrnn advise --in-features 2048 --hidden 2048 --arch lstm --macs 2e6 --json
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import torch

from tensorrnn import papers
from tensorrnn.errors import ArgumentParser, UsageError
from tensorrnn.nn.factory import factorized_linear
from tensorrnn.tensor import bt, ht, tr, tt
from tensorrnn.tensor.shapes import check_positive_int, check_shape, factorize

__all__ = ["FORMATS", "PUBLISHED_SHAPES", "Candidate", "count", "candidates", "advise", "measure", "report",
           "format_report", "main"]

FORMATS = ("tt", "tr", "bt", "ht")
#: Mode counts of the balanced shapes.
MODES = range(2, 9)
#: Tucker blocks tried for BT (the BT paper uses 2).
MAX_BLOCKS = 4
#: Largest rank tried (the budget usually stops the search well before).
MAX_RANK = 64
#: The papers' shape pairs (input modes, hidden modes), by label (``tensorrnn.papers``).
PUBLISHED_SHAPES = {
    "TT-RNN / BT-RNN, UCF11": (papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE),
    "TR-LSTM, UCF11": (papers.TR_UCF11_IN_SHAPE, papers.TR_UCF11_HIDDEN_SHAPE),
    "TT-RNN, Hollywood2": (papers.HOLLYWOOD2_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE),
    "TT-RNN, YouTube": (papers.YOUTUBE_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE),
    "TR-LSTM, CNN features": (papers.CNN_TR_IN_SHAPE, papers.CNN_TR_HIDDEN_SHAPE),
}


@dataclass(frozen=True)
class Candidate:
    """One factorised input map: what :func:`tensorrnn.nn.factorized_linear` builds from
    ``(factorization, in_shape, out_shape, rank, blocks)``, and what it costs.

    ``rank`` is the argument to pass (an int, or TR's list ``R_0..R_{N-1}``); ``ranks`` the
    clipped ranks the layer holds; ``params`` its weights (no bias); ``macs`` multiply-adds per
    input row (one frame); ``source`` where the shapes come from.
    """
    factorization: str
    in_shape: tuple[int, ...]
    hidden_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    rank: int | tuple[int, ...]
    ranks: tuple[int, ...]
    blocks: int
    params: int
    macs: int
    source: str

    def describe(self) -> str:
        """``8x20x20x18 -> 12x4x4x4, rank 4`` (TR: ``R_0=10, others 5``; BT: ``, 2 blocks``)."""
        rank = self.rank
        if not isinstance(rank, int):
            rank = f"R_0={rank[0]}, others {rank[1]}" if len(set(rank[1:])) == 1 else "-".join(map(str, rank))
        blocks = f", {self.blocks} block{'s' * (self.blocks > 1)}" if self.factorization == "bt" else ""
        return f"{_x(self.in_shape)} -> {_x(self.out_shape)}, rank {rank}{blocks}"


def _x(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


# --- candidates ------------------------------------------------------------------------------------

def _shapes(features: int, given: Sequence[int] | None, which: int, order: str) -> dict[tuple[int, ...], str]:
    """Mode shapes of ``features`` and where they come from: the given one only, or the balanced
    ones and the papers' (``which``: 0 input, 1 hidden modes of :data:`PUBLISHED_SHAPES`)."""
    if given is not None:
        return {tuple(given): "given"}
    out = {}
    for d in MODES:
        try:
            out.setdefault(factorize(features, d, order=order), "balanced")
        except ValueError:          # too few prime factors for d modes
            pass
    for pair in PUBLISHED_SHAPES.values():
        if math.prod(pair[which]) == features:
            out.setdefault(tuple(pair[which]), "papers")
    return out


def _rank_options(factorization: str, in_shape, out_shape, rank: int) -> Iterator[tuple[object, tuple[int, ...], int]]:
    """``(rank argument, clipped ranks, blocks)`` for one nominal rank."""
    if factorization == "tt":
        yield rank, tuple(tt.tt_ranks(rank, in_shape, out_shape)), 1
    elif factorization == "ht":
        yield rank, tuple(ht.ht_ranks(rank, in_shape, out_shape)), 1
    elif factorization == "tr":
        n = len(in_shape) + len(out_shape)
        for closing in (rank, 2 * rank):
            arg = rank if closing == rank else (closing, *[rank] * (n - 1))
            yield arg, tuple(tr.tr_ranks(arg, in_shape, out_shape)), 1
    else:
        ranks = tuple(bt.bt_ranks(rank, in_shape, out_shape))
        for blocks in range(1, MAX_BLOCKS + 1):
            yield rank, ranks, blocks


def count(factorization: str, in_shape, out_shape, ranks, blocks: int = 1) -> tuple[int, int]:
    """``(parameters, multiply-adds per row)`` of a map, from the format's counting functions."""
    if factorization == "tt":
        return tt.tt_num_params(in_shape, out_shape, ranks), tt.tt_macs(in_shape, out_shape, ranks)
    if factorization == "tr":
        return tr.tr_num_params(in_shape, out_shape, ranks), tr.tr_macs(in_shape, out_shape, ranks)
    if factorization == "bt":
        return (bt.bt_num_params(in_shape, out_shape, ranks, blocks),
                bt.bt_macs(in_shape, out_shape, ranks, blocks))
    if factorization == "ht":
        return ht.ht_num_params(in_shape, out_shape, ranks), ht.ht_macs(in_shape, out_shape, ranks)
    raise ValueError(f"factorization={factorization!r}: expected one of {', '.join(map(repr, FORMATS))}")


def candidates(factorization: str, in_features: int, hidden_size: int, gates: int = 1, *,
               budget: int | None = None, budget_kind: str = "params", in_shape=None,
               hidden_shape=None, min_rank: int = 1) -> list[Candidate]:
    """Every candidate of one format; with ``budget``, only those within it (``budget_kind``:
    ``"params"`` or ``"macs"``), plus, per shape and rank family, the cheapest one above it.

    The ranks of one shape pair are tried upwards from ``min_rank`` and stop at the first
    candidate over the budget (parameters and multiply-adds grow with the rank) or when clipping
    stops them growing.
    """
    if factorization not in FORMATS:
        raise ValueError(f"factorization={factorization!r}: expected one of {', '.join(map(repr, FORMATS))}")
    ins = _shapes(in_features, in_shape, 0, "ascending")
    hids = _shapes(hidden_size, hidden_shape, 1, "descending")
    published = {pair: label for label, pair in PUBLISHED_SHAPES.items()}
    out: list[Candidate] = []
    for (i_shape, i_src), (h_shape, h_src) in ((a, b) for a in ins.items() for b in hids.items()):
        if factorization != "tr" and len(i_shape) != len(h_shape):
            continue
        source = published.get((i_shape, h_shape)) or (i_src if i_src == h_src else f"{i_src} / {h_src}")
        o_shape = (gates * h_shape[0], *h_shape[1:])
        # one family per rank option (TR: closing rank r or 2r; BT: the number of blocks)
        done: set[int] = set()
        previous: dict[int, tuple[int, ...]] = {}
        for rank in range(min_rank, max(MAX_RANK, min_rank) + 1):
            for family, (arg, ranks, blocks) in enumerate(_rank_options(factorization, i_shape, o_shape, rank)):
                if family in done:
                    continue
                if previous.get(family) == ranks:       # clipped: a larger rank is the same map
                    done.add(family)
                    continue
                previous[family] = ranks
                params, macs = count(factorization, i_shape, o_shape, ranks, blocks)
                out.append(Candidate(factorization, i_shape, h_shape, o_shape, arg, ranks, blocks, params, macs,
                                     source))
                if budget is not None and (params if budget_kind == "params" else macs) > budget:
                    done.add(family)
            if len(done) == (2 if factorization == "tr" else MAX_BLOCKS if factorization == "bt" else 1):
                break
    return out


def _preference(c: Candidate):
    """Sort key of the best candidate within a budget: most parameters, then the largest rank,
    then fewest multiply-adds, then the papers' shapes, then fewest modes."""
    return (-c.params, -max(c.ranks), c.macs, c.source not in PUBLISHED_SHAPES, len(c.in_shape) + len(c.out_shape),
            c.blocks)


def advise(in_features: int, hidden_size: int, gates: int = 1, *, params: int | None = None,
           macs: int | None = None, formats: Sequence[str] = FORMATS, in_shape=None,
           hidden_shape=None, min_rank: int = 1) -> dict:
    """The best candidate per format within a budget (exactly one of ``params`` and ``macs``), of
    rank ``min_rank`` or more (the nominal rank: clipping may lower some bonds).

    Returns ``{"best": {format: Candidate}, "smallest": {format: Candidate}}``: ``smallest`` is,
    for every format with no candidate within the budget, its cheapest candidate (the smallest
    budget that would work for it).

    Raises:
        ValueError: a bad size or budget, naming the argument; or, when no format has a
            candidate within the budget, one line with the smallest budget that would work.

    Examples::

        >>> best = advise(57600, 256, 3, params=3232)["best"]["tt"]
        >>> best.in_shape, best.out_shape, best.rank
        ((8, 20, 20, 18), (12, 4, 4, 4), 4)
    """
    in_features = check_positive_int("in_features", in_features)
    hidden_size = check_positive_int("hidden_size", hidden_size)
    gates = check_positive_int("gates", gates)
    if (params is None) == (macs is None):
        raise ValueError(f"params={params}, macs={macs}: expected exactly one budget")
    kind, budget = ("params", params) if params is not None else ("macs", macs)
    budget = check_positive_int(kind, budget)
    min_rank = check_positive_int("min_rank", min_rank)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats={list(formats)}: {fmt!r} is not one of {', '.join(map(repr, FORMATS))}")
    if in_shape is not None:
        in_shape = check_shape("in_shape", in_shape, in_features)
    if hidden_shape is not None:
        hidden_shape = check_shape("hidden_shape", hidden_shape, hidden_size)
    best, smallest = {}, {}
    for fmt in formats:
        found = candidates(fmt, in_features, hidden_size, gates, budget=budget, budget_kind=kind,
                           in_shape=in_shape, hidden_shape=hidden_shape, min_rank=min_rank)
        if not found:
            raise ValueError(f"in_shape={in_shape}, hidden_shape={hidden_shape}: no {fmt} candidate "
                             f"(a {fmt} map needs as many input modes as hidden modes)")
        within = [c for c in found if getattr(c, kind) <= budget]
        if within:
            best[fmt] = min(within, key=_preference)
        else:
            smallest[fmt] = min(found, key=lambda c: (getattr(c, kind), -c.params if kind == "macs" else c.macs))
    if not best:
        need = min(smallest.values(), key=lambda c: getattr(c, kind))
        word = "parameters" if kind == "params" else "multiply-adds per frame"
        raise ValueError(
            f"--{kind} {budget:,}: no {'/'.join(formats)} candidate fits; the smallest needs "
            f"{getattr(need, kind):,} {word} ({need.factorization} {need.describe()}); expected "
            f"--{kind} >= {getattr(need, kind):,}")
    return {"best": best, "smallest": smallest}


# --- timing ------------------------------------------------------------------------------------------

def measure(candidate: Candidate, device: str = "cpu", batch: int = 16, repeats: int = 3) -> float:
    """Seconds of a forward + backward (weights' gradients) of the candidate's layer on ``batch``
    rows: the best of ``repeats`` calls after one warm-up call (the least disturbed by other work
    on the machine, as ``timeit`` advises)."""
    torch.manual_seed(0)
    layer = factorized_linear(candidate.factorization, candidate.in_shape, candidate.out_shape,
                              rank=candidate.rank if isinstance(candidate.rank, int) else list(candidate.rank),
                              blocks=candidate.blocks, bias=False, device=device)
    x = torch.randn(batch, layer.in_features, device=device)
    times = []
    for i in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        layer(x).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:                                            # the first call warms up (plans, allocator)
            times.append(time.perf_counter() - start)
        layer.zero_grad(set_to_none=True)
    return min(times)


# --- command line ------------------------------------------------------------------------------------

def _modes(name: str, text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[x,\s]+", text.strip()) if p]
    try:
        return check_shape(name, [int(p) for p in parts])
    except ValueError:
        raise UsageError(f"{name} {text!r}: expected positive ints like 160x120x3") from None


def _count(name: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer() or value < 1:
        raise UsageError(f"{name} {text!r}: expected a positive integer (e.g. 3232 or 2e6)")
    return int(value)


def _parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="tensorrnn advise", description=__doc__.split("\n\n")[0].replace("``", ""),
                       epilog=__doc__.split("Examples::")[1].rstrip(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--in-features", "--in_features", type=int, help="input features per frame")
    size.add_argument("--frame", help="frame size WxHxC, e.g. 160x120x3 (= 57,600 features)")
    p.add_argument("--hidden", type=int, required=True, help="hidden size (e.g. 256)")
    p.add_argument("--arch", choices=sorted(papers.NUM_GATES), default=None,
                   help="gates packed into the map: rnn 1, gru 3, lstm 4")
    p.add_argument("--gates", type=int, default=None, help="number of gates (default: from --arch, else 1)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--params", help="budget: weights of the input map (no bias)")
    budget.add_argument("--macs", help="budget: multiply-adds per frame of the input map")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="formats to advise on")
    p.add_argument("--min-rank", "--min_rank", type=int, default=1,
                   help="smallest rank to consider (default: 1; a small budget otherwise buys large modes at rank 1)")
    p.add_argument("--in-shape", "--in_shape", help="use only these input modes, e.g. 8x20x20x18")
    p.add_argument("--hidden-shape", "--hidden_shape", help="use only these hidden modes, e.g. 4x4x4x4")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to time (default: cpu)")
    p.add_argument("--batch", type=int, default=16, help="rows (frames) of the timed batch (default: 16)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed forward + backward calls, the best one reported (default: 3)")
    p.add_argument("--no-time", "--no_time", action="store_true", help="count only, do not time")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    return p


def report(args: argparse.Namespace) -> dict:
    """Everything ``tensorrnn advise`` prints, as plain data."""
    in_features = args.in_features if args.frame is None else math.prod(_modes("--frame", args.frame))
    if in_features < 1:
        raise UsageError(f"--in-features {in_features}: expected a positive int")
    if args.hidden < 1:
        raise UsageError(f"--hidden {args.hidden}: expected a positive int")
    gates = args.gates if args.gates is not None else papers.NUM_GATES.get(args.arch, 1)
    if args.arch is not None and args.gates is not None and args.gates != papers.NUM_GATES[args.arch]:
        raise UsageError(f"--gates {args.gates}: --arch {args.arch} has {papers.NUM_GATES[args.arch]} gates")
    if gates < 1:
        raise UsageError(f"--gates {gates}: expected a positive int")
    for name, value in (("--batch", args.batch), ("--repeats", args.repeats), ("--min-rank", args.min_rank)):
        if value < 1:
            raise UsageError(f"{name} {value}: expected a positive int")
    if args.device == "cuda" and not args.no_time and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here; expected --device cpu (or --no-time)")
    kind = "params" if args.params is not None else "macs"
    budget = _count(f"--{kind}", args.params if kind == "params" else args.macs)
    in_shape = _modes("--in-shape", args.in_shape) if args.in_shape else None
    hidden_shape = _modes("--hidden-shape", args.hidden_shape) if args.hidden_shape else None
    result = advise(in_features, args.hidden, gates, formats=args.formats, in_shape=in_shape,
                    hidden_shape=hidden_shape, min_rank=args.min_rank, **{kind: budget})
    dense = in_features * gates * args.hidden
    rows = []
    for fmt, c in result["best"].items():
        row = {**asdict(c), "compression": dense / c.params}
        if not args.no_time:
            row["time_ms"] = 1e3 * measure(c, args.device, args.batch, args.repeats)
        rows.append(row)
    unmet = [{"factorization": fmt, "smallest": getattr(c, kind), "candidate": asdict(c)}
             for fmt, c in result["smallest"].items()]
    return {"in_features": in_features, "hidden_size": args.hidden, "gates": gates,
            "budget": {"kind": kind, "value": budget}, "dense": {"params": dense, "macs": dense},
            "device": args.device, "batch": args.batch, "repeats": None if args.no_time else args.repeats,
            "best": rows, "unmet": unmet}


def format_report(data: dict) -> str:
    from tensorrnn.tables import render_table

    kind = "parameters" if data["budget"]["kind"] == "params" else "multiply-adds per frame"
    title = (f"Input map {data['in_features']:,} -> {data['gates']} x {data['hidden_size']:,} "
             f"(dense: {data['dense']['params']:,} weights), budget {data['budget']['value']:,} {kind}")
    timed = data["repeats"] is not None
    if timed:
        title += (f"; time: forward + backward on {data['batch']} rows ({data['device']}), "
                  f"best of {data['repeats']}")
    headers = ["format", "configuration", "params", "MACs/frame", "compression"]
    if timed:
        headers.append("fwd+bwd ms")
    headers.append("shapes from")
    body = []
    for row in data["best"]:
        c = Candidate(**{k: row[k] for k in Candidate.__dataclass_fields__})
        cells = [row["factorization"], c.describe(), f"{c.params:,}", f"{c.macs:,}", f"{row['compression']:,.0f}x"]
        if timed:
            cells.append(f"{row['time_ms']:.2f}")
        body.append(cells + [c.source])
    out = [render_table(title, headers, body)]
    for row in data["unmet"]:
        c = Candidate(**row["candidate"])
        out.append(f"{row['factorization']}: nothing within the budget; the smallest needs {row['smallest']:,} "
                   f"({c.describe()})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data = report(args)
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(data))
    return 0
