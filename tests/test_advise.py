"""`tensorrnn advise`: the papers' budgets give the papers' shapes and ranks; counts are the layers'."""
from __future__ import annotations

import json
import re
import math
from pathlib import Path

import pytest
import torch

from tensorrnn import cli, papers
from tensorrnn.experiments import advise
from tensorrnn.nn.factory import factorized_linear

UCF11_FEATURES = 160 * 120 * 3


def tt_params(in_shape, out_shape, rank: int) -> int:
    """``sum_k m_k n_k r_{k-1} r_k`` with uniform inner rank (the TT-matrix count)."""
    ranks = [1] + [rank] * (len(in_shape) - 1) + [1]
    return sum(m * n * ranks[k] * ranks[k + 1] for k, (m, n) in enumerate(zip(in_shape, out_shape)))


def packed(hidden_shape, gates):
    return (gates * hidden_shape[0], *hidden_shape[1:])


TR_RANK = (papers.TR_UCF11_CLOSING_RANK,) + (papers.TR_UCF11_RANK,) * 12
#: (format, gates, in_shape, hidden_shape, rank argument, blocks, budget): the published input
#: maps; the budget is the paper's count (TT-RNN table) or the paper's formula.
PUBLISHED = {
    "UCF11 TT-GRU": ("tt", 3, papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 4, 1,
                     papers.TT_PARAM_TABLE[4]["tt_gru"]),
    "UCF11 TT-LSTM": ("tt", 4, papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, 4, 1,
                      papers.TT_PARAM_TABLE[4]["tt_lstm"]),
    "UCF11 TR-LSTM": ("tr", 4, papers.TR_UCF11_IN_SHAPE, papers.TR_UCF11_HIDDEN_SHAPE, TR_RANK, 1, 1_725),
    "UCF11 BT-LSTM": ("bt", 4, papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE, papers.BT_UCF11_RANK,
                      papers.BT_UCF11_BLOCKS, 2 * (sum(i * j * 4 for i, j in zip(papers.UCF11_IN_SHAPE, (16, 4, 4, 4)))
                                                   + 4 ** 4)),
    **{f"{name} TT-{arch.upper()}": ("tt", gates, shape, papers.UCF11_HIDDEN_SHAPE, 4, 1,
                                     tt_params(shape, packed(papers.UCF11_HIDDEN_SHAPE, gates), 4))
       for name, shape in (("Hollywood2", papers.HOLLYWOOD2_IN_SHAPE), ("YouTube", papers.YOUTUBE_IN_SHAPE))
       for arch, gates in (("gru", 3), ("lstm", 4))},
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_papers_budgets_give_the_papers_shapes_and_ranks(name):
    fmt, gates, in_shape, hidden_shape, rank, blocks, budget = PUBLISHED[name]
    assert budget == {"UCF11 TR-LSTM": 1_725, "UCF11 BT-LSTM": 3_392}.get(name, budget)
    best = advise.advise(math.prod(in_shape), math.prod(hidden_shape), gates, params=budget,
                         formats=[fmt])["best"][fmt]
    assert (best.in_shape, best.hidden_shape) == (tuple(in_shape), tuple(hidden_shape))
    assert best.out_shape == packed(hidden_shape, gates)
    assert (best.rank, best.blocks, best.params) == (rank, blocks, budget)


def test_the_ucf11_tt_gru_from_the_frame_on_the_command_line(capsys):
    assert cli.main(["advise", "--frame", "160x120x3", "--hidden", "256", "--arch", "gru", "--params", "3232",
                     "--formats", "tt", "--no-time", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)["best"][0]
    assert (best["in_shape"], best["hidden_shape"], best["out_shape"]) == ([8, 20, 20, 18], [4, 4, 4, 4],
                                                                            [12, 4, 4, 4])
    assert (best["rank"], best["ranks"], best["params"]) == (4, [1, 4, 4, 4, 1], 3_232)
    assert best["compression"] == pytest.approx(44_236_800 / 3_232)


@pytest.mark.parametrize("budget", [{"params": 3_360}, {"params": 700}, {"macs": 2_000_000}])
def test_counts_are_those_of_the_built_layers(budget):
    for fmt, c in advise.advise(UCF11_FEATURES, 256, 4, **budget)["best"].items():
        rank = c.rank if isinstance(c.rank, int) else list(c.rank)
        layer = factorized_linear(fmt, c.in_shape, c.out_shape, rank=rank, blocks=c.blocks, bias=False, device="meta")
        assert sum(p.numel() for p in layer.parameters()) == c.params, fmt
        assert layer.macs == c.macs and tuple(layer.ranks) == c.ranks, fmt
        assert getattr(c, *budget) <= budget[next(iter(budget))]


@pytest.mark.parametrize("fmt", advise.FORMATS)
def test_the_best_is_the_largest_within_the_budget(fmt):
    # every candidate, no budget to stop the ranks early: small sizes so that the ranks saturate
    everything = advise.candidates(fmt, 96, 16, 3)
    assert len({c.params for c in everything}) > 5
    for budget in (200, 500, 1_000):
        best = advise.advise(96, 16, 3, params=budget, formats=[fmt])["best"][fmt]
        assert best.params == max(c.params for c in everything if c.params <= budget)
        assert best in everything


def test_min_rank_leaves_out_the_lower_ranks():
    # a small budget buys the largest modes at rank 1 (a Kronecker product) unless told otherwise
    assert advise.advise(UCF11_FEATURES, 256, 4, params=1_725, formats=["tt"])["best"]["tt"].rank == 1
    best = advise.advise(UCF11_FEATURES, 256, 4, params=1_725, min_rank=3)["best"]
    nominal = {fmt: c.rank if isinstance(c.rank, int) else min(c.rank) for fmt, c in best.items()}
    assert min(nominal.values()) >= 3 and best["tr"].rank == TR_RANK
    everything = advise.candidates("tt", UCF11_FEATURES, 256, 4, min_rank=3)
    assert best["tt"].params == max(c.params for c in everything if c.params <= 1_725)


def test_a_budget_too_small_names_the_smallest_that_works(capsys):
    per_format = {fmt: min(c.params for c in advise.candidates(fmt, UCF11_FEATURES, 256, 3)) for fmt in advise.FORMATS}
    smallest = min(per_format.values())
    with pytest.raises(ValueError, match=rf"--params 10: no tt/tr/bt/ht candidate fits; the smallest needs "
                                         rf"{smallest:,} parameters .*expected --params >= {smallest:,}$"):
        advise.advise(UCF11_FEATURES, 256, 3, params=10)
    assert cli.main(["advise", "--frame", "160x120x3", "--hidden", "256", "--arch", "gru", "--params", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"expected --params >= {smallest:,}" in err
    # one format out of reach, the others advised: the report says what it would need
    cheap, dear = sorted(advise.FORMATS, key=per_format.get)[::3]
    report = advise.advise(UCF11_FEATURES, 256, 3, params=per_format[cheap], formats=[cheap, dear])
    assert list(report["best"]) == [cheap] and report["smallest"][dear].params == per_format[dear] > smallest


def test_json_schema_and_timing(capsys):
    assert cli.main(["advise", "--in-features", "96", "--hidden", "16", "--gates", "4", "--macs", "2e3",
                     "--repeats", "1", "--batch", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"in_features", "hidden_size", "gates", "budget", "dense", "device", "batch", "repeats",
                         "best", "unmet"}
    assert (data["in_features"], data["hidden_size"], data["gates"]) == (96, 16, 4)
    assert data["budget"] == {"kind": "macs", "value": 2_000} and data["dense"]["params"] == 96 * 64
    fields = set(advise.Candidate.__dataclass_fields__) | {"compression", "time_ms"}
    assert [row["factorization"] for row in data["best"]] + [u["factorization"] for u in data["unmet"]] \
        == list(advise.FORMATS)
    for row in data["best"]:
        assert set(row) == fields and row["macs"] <= 2_000 and row["time_ms"] > 0
        assert row["compression"] == pytest.approx(96 * 64 / row["params"])
    for row in data["unmet"]:
        assert row["smallest"] == row["candidate"]["macs"] > 2_000


def test_text_output(capsys):
    assert cli.main(["advise", "--frame", "160x120x3", "--hidden", "256", "--arch", "lstm", "--params", "1725",
                     "--formats", "tr", "--no-time"]) == 0
    out = capsys.readouterr().out
    assert "4x2x5x8x6x5x3x2 -> 16x4x2x4x2, rank R_0=10, others 5" in out and "TR-LSTM, UCF11" in out


@pytest.mark.parametrize("argv, match", [
    (["--in-features", "96", "--hidden", "16", "--arch", "gru", "--gates", "4", "--params", "500"],
     "--gates 4: --arch gru has 3 gates"),
    (["--frame", "160x120xC", "--hidden", "16", "--params", "500"], "--frame '160x120xC': expected positive ints"),
    (["--in-features", "96", "--hidden", "16", "--params", "1.5"], "--params '1.5': expected a positive integer"),
    (["--in-features", "96", "--hidden", "16", "--params", "500", "--in-shape", "5x20"],
     r"in_shape=\(5, 20\): its product is 100, expected 96"),
    (["--in-features", "96", "--hidden", "16", "--params", "500", "--device", "cuda"], "--device cuda: no CUDA"),
    (["--in-features", "96", "--hidden", "16"], "one of the arguments --params --macs is required"),
])
def test_bad_input_is_one_line(argv, match, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["advise", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(match, err), err


@pytest.mark.parametrize("arch, budget", [("gru", "3232"), ("lstm", "3360"), ("lstm", "1725"), ("lstm", "3392")])
def test_the_docs_show_this_commands_output(arch, budget, capsys):
    argv = ["advise", "--frame", "160x120x3", "--hidden", "256", "--arch", arch, "--params", budget, "--no-time"]
    assert cli.main(argv) == 0
    page = (Path(__file__).resolve().parents[1] / "docs" / "reproduction.md").read_text()
    assert f"$ tensorrnn {' '.join(argv)}\n{capsys.readouterr().out}" in page
