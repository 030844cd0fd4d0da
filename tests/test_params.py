"""`tensorrnn params`: the TT-RNN paper's table and the published configurations, from the modules."""
from __future__ import annotations

import json

import pytest

from tensorrnn import cli, papers
from tensorrnn.experiments import params

UCF11 = (papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE)


@pytest.fixture(scope="module")
def report():
    return params.build_report(*UCF11, ranks=[3, 4, 5])


def test_table_equals_paper_cell_by_cell(report):
    for row in report["table"]:
        assert {k: row[k] for k in params.COLUMNS} == papers.TT_PARAM_TABLE[row["rank"]]
        assert row["match"] is True
    assert report["dense"] == papers.UCF11_DENSE_PARAMS and report["all_match"]


def test_published_configs_follow_the_papers_formulas(report):
    pub = {row["model"]: row for row in report["published"]}
    # TR (Pan et al.'s count): sum R_{k-1} d_k R_k over the ring 4x2x5x8x6x5x3x2 | (4*4)x4x2x4x2,
    # R_0 = R_13 = 10, every other rank 5.
    dims = list(papers.TR_UCF11_IN_SHAPE) + [16, 4, 2, 4, 2]
    ranks = [10] + [5] * 12 + [10]
    tr = sum(ranks[k] * dims[k] * ranks[k + 1] for k in range(13))
    assert pub["TR-LSTM"]["params"] == tr == 1_725
    assert pub["TR-LSTM"]["compression"] == pytest.approx(58_982_400 / 1_725)
    assert pub["TR-LSTM"]["compression"] > papers.TR_UCF11_REPORTED_COMPRESSION and pub["TR-LSTM"]["match"]
    # BT: N (sum_k I_k J_k R_k + prod_k R_k) with J_1 = 4 gates * 4.
    I, J = papers.UCF11_IN_SHAPE, (16, 4, 4, 4)
    bt = 2 * (sum(i * j * 4 for i, j in zip(I, J)) + 4 ** 4)
    assert pub["BT-LSTM"]["params"] == bt == 3_392
    assert pub["TT-LSTM"]["params"] == papers.TT_PARAM_TABLE[4]["tt_lstm"]
    assert pub["TT-GRU"]["dense_params"] == papers.UCF11_DENSE_PARAMS["gru"]


def test_vanilla_is_gates_times_ttl_and_packed_follows_compression_formula(report):
    m, n = papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE
    for row in report["table"]:
        r = [1, row["rank"], row["rank"], row["rank"], 1]
        for gates, key in ((4, "tt_lstm"), (3, "tt_gru")):
            # the papers' packed-gates rate: r* * c * prod(m n) = TTL + (c - 1) m_1 n_1 r_0 r_1
            assert row[key] == row["ttl"] + (gates - 1) * m[0] * n[0] * r[0] * r[1]
            assert row[f"vanilla_{key}"] == gates * row["ttl"]
        assert row["ttl"] == sum(m[k] * n[k] * r[k] * r[k + 1] for k in range(4))


def test_main_prints_table_and_json(capsys):
    assert params.main([]) == 0
    text = capsys.readouterr().out
    assert "3,360 ok" in text and "58,982,400 ok" in text and "all match" in text
    assert params.main(["--json", "--ranks", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"] == [{"rank": 4, **papers.TT_PARAM_TABLE[4], "paper": papers.TT_PARAM_TABLE[4], "match": True}]


def test_other_shapes_and_formats_are_not_checked(capsys):
    assert params.main(["--in-shape", "10x18x13x30", "--factorization", "tr", "--ranks", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    row = data["table"][0]
    assert "paper" not in row and data["dense"]["fc"] == 70_200 * 256
    # TR, all ranks 2, 4 input + 4 output cores: 4 * (sum of modes), first output mode x gates
    assert row["ttl"] == 4 * (10 + 18 + 13 + 30 + 4 * 4) and row["tt_lstm"] == 4 * (71 + 16 + 12)


def test_hierarchical_tucker_table_follows_the_closed_form(capsys):
    assert params.main(["--factorization", "ht", "--ranks", "3", "7", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    m, n = papers.UCF11_IN_SHAPE, papers.UCF11_HIDDEN_SHAPE
    for row in data["table"]:
        r = row["rank"]
        # balanced tree ((0, 1), (2, 3)): leaf frames m_k n_k r, two r^3 transfers, the root's r^2
        ttl = sum(i * j * r for i, j in zip(m, n)) + 2 * r ** 3 + r ** 2
        assert row["ttl"] == ttl and row["vanilla_tt_lstm"] == 4 * ttl and row["vanilla_tt_gru"] == 3 * ttl
        # gates packed into the first output mode: only the first leaf grows
        assert row["tt_lstm"] == ttl + 3 * m[0] * n[0] * r and row["tt_gru"] == ttl + 2 * m[0] * n[0] * r
        assert "paper" not in row
    assert data["table"][1]["tt_lstm"] == 3_255
    assert params.main(["--factorization", "ht", "--ranks", "7"]) == 0
    assert "HT-rank" in capsys.readouterr().out


def test_mismatch_is_marked_and_fails(monkeypatch, capsys):
    wrong = {r: dict(v) for r, v in papers.TT_PARAM_TABLE.items()}
    wrong[4]["tt_gru"] += 1
    monkeypatch.setattr(papers, "TT_PARAM_TABLE", wrong)
    assert params.main(["--ranks", "4"]) == 1
    assert "3,232 MISMATCH (paper 3,233)" in capsys.readouterr().out


def test_plot_writes_png_atomically(tmp_path, capsys):
    out = tmp_path / "figs" / "params.png"
    assert params.main(["--plot", str(out), "--ranks", "3", "4"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["params.png"]    # no temp file left
    assert str(out) in capsys.readouterr().out


@pytest.mark.parametrize("args,match", [
    (["--in-shape", "8x0x20"], "--in-shape"),
    (["--hidden-shape", "4xa"], "--hidden-shape"),
    (["--ranks", "0"], "--ranks 0"),
])
def test_bad_arguments_are_one_line_errors(args, match, capsys):
    assert cli.main(["params", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and err.count("\n") == 1
