"""bench/bench_distractor.py: the sets it trains on and probes with, what each run records, and
that a second invocation runs nothing again. A smoke run: tiny clips, one epoch."""
from __future__ import annotations

import json

import pytest

from conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_distractor")


def test_the_probes_are_fresh_groups_of_the_same_spec(bench):
    import dataclasses

    from tensorrnn.data.synthetic import ACTION_SETS

    trained = bench.spec_of(1, (160, 120), False)
    assert trained == dataclasses.replace(ACTION_SETS["medium"], size=(160, 120))
    clean = bench.spec_of(0, (160, 120), False)
    assert clean.distractors == 0 and clean.seed == trained.seed and clean.num_classes == trained.num_classes
    probe = bench.spec_of(1, (160, 120), False, seed=bench.PROBE_SEED, groups=bench.PROBE_GROUPS)
    assert probe.seed != trained.seed and probe.groups == 2 and probe.distractors == 1
    assert bench.spec_of(0, (32, 24), True, groups=2).groups == 2          # the probe's groups survive --quick


@pytest.mark.slow
def test_smoke_run(bench, tmp_path, capsys):
    argv = ["--quick", "--size", "32", "24", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")]
    assert bench.main(argv) == 0
    result = json.loads((tmp_path / "out" / "distractor_quick.json").read_text())
    assert [(r["model"], r["trained_on"], r["seed"], r["epochs"]) for r in result["runs"]] == [
        ("tt_gru", "medium", 0, 1), ("tt_gru", "medium without distractor", 0, 1)]
    # 3 classes x 2 fresh groups x 2 clips in each probe; accuracies are shares of those clips
    assert result["probe_clips"] == 12
    for run in result["runs"]:
        assert set(run["probes"]) == {"a distractor", "none"}
        for value in run["probes"].values():
            assert 0 <= value <= 1 and value * 12 == pytest.approx(round(value * 12), abs=1e-3)
        assert 0 <= run["test_acc"] <= 1
    videos = sorted((tmp_path / "cache").glob("probe_1_*/videos/*/*"))
    assert len(videos) == 3 * 2                                             # class folders x group folders
    table = (tmp_path / "out" / "distractor_quick.md").read_text()
    assert "| TT-GRU | medium without distractor | 0 | 1 |" in table
    capsys.readouterr()
    assert bench.main(argv) == 0
    assert "seed 0: held out" not in capsys.readouterr().out               # nothing ran again
    assert len(json.loads((tmp_path / "out" / "distractor_quick.json").read_text())["runs"]) == 2
