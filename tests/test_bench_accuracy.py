"""bench/bench_accuracy.py: the fits it runs (generated sets and a real folder), what each run
records, and its command line. No real data set: the "real" folder is a tiny generated one
in the folder layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import load_bench
from tensorrnn.data.synthetic import ACTION_SETS, render_clip, write_video


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_accuracy")


@pytest.fixture(scope="module")
def gestures(tmp_path_factory) -> Path:
    """Real footage's stand-in: one folder per class, no groups (as EgoGestAR), 6 clips a class."""
    root = tmp_path_factory.mktemp("real") / "gestures"
    rng = np.random.default_rng(0)
    for name, motion in (("swipe_left", "right_left"), ("swipe_right", "left_right"), ("hold", "static")):
        for i in range(6):
            write_video(root / name / f"clip{i}.avi", render_clip(motion, (32, 24), 8, rng))
    return root


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_generated_sets_fit_as_before(bench, tmp_path):
    # group k-fold of 5, fold = seed mod 5, no flip, the config's dataset (ucf11)
    args = bench.fit_args("tt_gru", "default", tmp_path, tmp_path, tmp_path, (160, 120), 7, 3, False)
    assert (option(args, "--data.split"), option(args, "--data.num_folds"), option(args, "--data.fold")) == (
        "group_kfold", "5", "2")
    assert float(option(args, "--data.flip")) == 0 and "--data.dataset" not in args
    assert option(args, "--config").endswith("configs/ucf11_tt_gru.yaml")
    assert bench.config_name("gru", "paper") == "configs/paper/ucf11_gru.yaml"


def test_a_variant_is_its_config_with_options_on_the_command_line(bench, tmp_path):
    args = bench.fit_args("tt_gru_stabilize", "default", tmp_path, tmp_path, tmp_path, (160, 120), 0, 3, False)
    assert option(args, "--config").endswith("configs/ucf11_tt_gru.yaml") and args[-2:] == ["--model.stabilize", "true"]
    # measured when the default read the papers' 6 frames and had no stem: the variant keeps both
    assert bench.config_name("tt_gru_stabilize", "default") == (
        "configs/ucf11_tt_gru.yaml --model.stem false --data.num_frames 6 --model.stabilize true")
    assert bench.config_name("tt_gru_6frames", "default") == (
        "configs/ucf11_tt_gru.yaml --model.stem false --data.num_frames 6")
    assert bench.config_name("tt_gru_nostem", "default") == "configs/ucf11_tt_gru.yaml --model.stem false"


def test_real_fits_read_the_folder_without_flips(bench, tmp_path):
    data = {"dataset": "folder", "split": "auto", "num_folds": 5, "flip": 0.0, "options": {"group_depth": 1},
            "annotations": None}
    args = bench.fit_args("tt_gru", "default", tmp_path, tmp_path, tmp_path, (32, 24), 0, 3, False, data=data, fold=3)
    # the config's flip (0.5 for UCF11) is overridden: real direction classes are not mirrored
    assert float(option(args, "--data.flip")) == 0 and option(args, "--data.dataset") == "folder"
    assert (option(args, "--data.split"), option(args, "--data.fold")) == ("auto", "3")
    assert json.loads(option(args, "--data.dataset_options")) == {"progress": False, "group_depth": 1}
    assert option(args, "--model.in_shape")  # refactorised for 32x24


def test_the_budgets_cover_every_set(bench):
    assert set(bench.BUDGETS) == set(ACTION_SETS)


def test_help_documents_every_option(bench, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    text = capsys.readouterr().out
    for name in ("--sets", "--real", "--real-dataset", "--real-split", "--real-folds", "--real-flip",
                 "--real-options", "--real-annotations", "--real-name", "--real-budget", "--epochs", "--out"):
        assert name in text
    for name in ("pan_zoom_distractor", "scene_hard", "egogestar"):  # the sets, and EgoGestAR's command
        assert name in text


@pytest.mark.parametrize("argv, match", [
    (["--real-folds", "3"], "without --real"),
    (["--real", "missing_folder"], "no such directory"),
    (["--sets", "nightmare"], "nightmare"),
])
def test_bad_command_lines(bench, tmp_path, capsys, argv, match):
    with pytest.raises(SystemExit):
        bench.main(argv + ["--out", str(tmp_path)])
    assert match in capsys.readouterr().err


def test_a_real_folder_named_like_a_generated_set_needs_a_name(bench, tmp_path, capsys):
    (tmp_path / "easy").mkdir()
    with pytest.raises(SystemExit):
        bench.main(["--real", str(tmp_path / "easy"), "--out", str(tmp_path)])
    assert "--real-name" in capsys.readouterr().err


@pytest.mark.slow
def test_real_folder_smoke_run(bench, gestures, tmp_path, capsys):
    # Two folds of seed 0 on the folder (a clip split: it has no groups), one epoch each;
    # every run records what it ran on; a second invocation finds them done.
    argv = ["--real", str(gestures), "--real-folds", "2", "--models", "tt_gru", "--recipes", "default", "--seeds", "0",
            "--size", "32", "24", "--epochs", "1", "--quick", "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache")]
    assert bench.main(argv) == 0
    data = json.loads((tmp_path / "out" / "accuracy_quick_1epochs.json").read_text())
    runs = data["runs"]
    assert [(r["set"], r["seed"], r["fold"]) for r in runs] == [("gestures", 0, 0), ("gestures", 0, 1)]
    for r in runs:
        assert r["kind"] == "real" and r["real"]["path"] == str(gestures) and r["real"]["dataset"] == "folder"
        assert r["config"] == "configs/ucf11_tt_gru.yaml" and r["flip"] == 0 and r["num_folds"] == 5
        assert r["split"]["protocol"] == "tt_rnn" and 0 <= r["test_acc"] <= 1
    assert data["sets"]["gestures_32x24"]["classes"] == 3 and data["sets"]["gestures_32x24"]["clips"] == 18
    table = (tmp_path / "out" / "accuracy_quick_1epochs.md").read_text()
    assert "| gestures (real, folder, 3 classes, 18 clips) | 32x24 | TT-GRU |" in table
    capsys.readouterr()
    assert bench.main(argv) == 0
    assert "fold 0: test acc" not in capsys.readouterr().out  # nothing ran again
    assert len(json.loads((tmp_path / "out" / "accuracy_quick_1epochs.json").read_text())["runs"]) == 2


def test_the_stem_table_sets_each_default_against_the_runs_without_it(bench):
    def run(model, seed, acc, epochs, set_name="hard"):
        return {"set": set_name, "model": model, "recipe": "default", "seed": seed, "fold": seed, "size": "160x120",
                "test_acc": acc, "epochs": epochs}
    # the TT-GRU's stemless runs are its tt_gru_nostem variant; the other models' are in the archive
    data = {"runs": [run("tt_gru", 1, 0.5, 40), run("tt_gru", 0, 0.7, 50), run("tt_gru_nostem", 0, 0.4, 90),
                     run("gru", 0, 0.35, 18), run("tt_lstm", 0, 0.9, 20, "easy"),
                     {**run("gru", 0, 0.1, 5), "recipe": "paper"}]}
    before = {"runs": [run("gru", 0, 0.3, 17), run("tt_gru", 0, 0.99, 1), run("gru", 1, 0.2, 19)]}
    lines = bench.stem_table(data, before).splitlines()
    assert lines[2] == "| set | model | stem (default) | no stem | runs, stem against none | epochs, stem / none |"
    # runs in order of seed; the archive's tt_gru rows are not read; a model without old runs has no row
    assert lines[4:] == ["| hard | TT-GRU | 0.600 | 0.400 | 0.700/0.500 against 0.400 | 45 / 90 |",
                         "| hard | GRU (dense) | 0.350 | 0.250 | 0.350 against 0.300/0.200 | 18 / 18 |"]
