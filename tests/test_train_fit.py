"""End-to-end training through the real command functions, on tiny generated videos (CPU).

The videos come from ``make_demo_videos`` (32x24 frames); models use small factorisations of
32*24*3 = 2,304 features so a fit of a few steps takes seconds.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tensorrnn.data.synthetic import make_demo_videos, write_video
from tensorrnn.train import cli

REPO = Path(__file__).resolve().parents[1]
IN_SHAPE = [4, 6, 8, 12]     # 2,304 = 24 * 32 * 3
TR_IN_SHAPE = [4, 6, 96]     # same features, 3 input cores


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """3 motion classes x 3 groups x 3 clips, 32x24, 10 frames."""
    return make_demo_videos(tmp_path_factory.mktemp("train_videos"), num_classes=3, groups=3,
                            clips_per_group=3, size=(32, 24), num_frames=10, progress=False)


def write_config(path: Path, root: Path, out: Path, model: dict, data: dict | None = None,
                 trainer: dict | None = None) -> Path:
    config = {
        "seed_everything": 0,
        "model": {"arch": "gru", "factorization": "tt", "in_shape": IN_SHAPE, "hidden_shape": [2, 2, 2, 2],
                  "rank": 2, "lr": 1e-2, **model},
        "data": {"dataset": "ucf11", "root": str(root), "split": "tt_rnn", "num_frames": 4, "size": [32, 24],
                 "batch_size": 8, "dataset_options": {"progress": False}, **(data or {})},
        "trainer": {"max_epochs": 1, "default_root_dir": str(out), "enable_progress_bar": False,
                    "enable_model_summary": False, "log_every_n_steps": 1, **(trainer or {})},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("name, model", [
    ("tt_gru", {"arch": "gru", "factorization": "tt"}),
    ("tr_lstm", {"arch": "lstm", "factorization": "tr", "in_shape": TR_IN_SHAPE, "hidden_shape": [2, 4, 2],
                 "rank": [3, 2, 2, 2, 2, 2]}),
    ("bt_lstm", {"arch": "lstm", "factorization": "bt", "rank": 2, "blocks": 2}),
    ("ht_lstm", {"arch": "lstm", "factorization": "ht", "rank": 2}),
    ("tt_gru_full", {"arch": "gru", "factorization": "tt", "recurrent_factorization": "tt"}),
])
def test_fit_writes_metrics_json_and_checkpoints(videos, tmp_path, capsys, name, model):
    config = write_config(tmp_path / "c.yaml", videos, tmp_path / "runs", model, data={"val_split": "clips"},
                          trainer={"max_epochs": 2, "limit_train_batches": 2})
    assert cli.fit_main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    path = Path(last_line(out).removeprefix("metrics: "))
    assert last_line(out).startswith("metrics: ") and path.is_file()
    # the TT-RNN 5-fold split of 27 clips holds out 6; a fifth of the training clips of every
    # class (rounded) validates
    from tensorrnn.data import UCF11
    from tensorrnn.data.splits import make_split

    targets = UCF11(videos, size=(32, 24), progress=False).targets
    train = targets[make_split(27, "tt_rnn")[0]]
    val = sum(int(round(0.2 * n)) for n in np.bincount(train))
    assert f"{21 - val} train, {val} validation, 6 test clips" in out
    record = json.loads(path.read_text())
    assert record["global_step"] == 4 and record["epochs"] == 2  # 2 epochs x 2 batches
    assert record["run_name"] == "c" and path.parent.parent.name == "c"  # named by the config file
    assert 0.0 <= record["metrics"]["val/acc"] <= 1.0
    assert sorted(record["per_class"]["accuracy"]) == ["diagonal", "left_right", "up_down"]
    # the test split, evaluated once with the last epoch's checkpoint (select: last, the default);
    # the best on validation is kept beside it
    assert sum(map(sum, record["per_class"]["confusion"])) == 6
    assert record["selected_checkpoint"] == record["last_model_path"] and "last epoch" in record["selection"]
    assert Path(record["best_model_path"]).name.startswith("best-") and record["best_model_score"] is not None
    assert set(record["test"]) >= {"test/acc", "test/acc_1view", "test/loss"}
    last = Path(record["last_model_path"])
    checkpoint = torch.load(last, weights_only=True)  # safe loading works
    assert checkpoint["global_step"] == 4 and checkpoint["hyper_parameters"]["arch"] == model["arch"]
    assert checkpoint["state_dict"]["input_norm.mean"].shape == (3,)  # the statistics travel with it
    assert (path.parent / "learning_curves.png").stat().st_size > 1000
    if name == "tt_gru_full":  # a factorised U travels in the checkpoint and is rebuilt from it
        from tensorrnn.train.checkpoint import load_model

        assert "net.rnn.recurrent_projs.0.cores.0" in checkpoint["state_dict"]
        assert "net.rnn.weight_hh_l0" not in checkpoint["state_dict"]
        rebuilt, _ = load_model(last)
        assert rebuilt.net.rnn.recurrent_factorization == "tt"
    if name == "tt_gru":  # the test numbers are the selected checkpoint's: `tensorrnn test` agrees
        assert cli.test_main(["--config", str(config), "--ckpt_path", record["selected_checkpoint"]]) == 0
        tested = json.loads(Path(last_line(capsys.readouterr().out).removeprefix("metrics: ")).read_text())
        for key in ("test/acc", "test/acc_1view", "test/loss"):
            assert tested["metrics"][key] == pytest.approx(record["test"][key], abs=1e-6)


def test_select_best_tests_the_best_checkpoint_on_validation(videos, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", videos, tmp_path / "runs", {}, data={"val_split": "clips"},
                          trainer={"max_epochs": 3, "limit_train_batches": 2})
    assert cli.fit_main(["--config", str(config), "--select", "best"]) == 0
    record = json.loads(Path(last_line(capsys.readouterr().out).removeprefix("metrics: ")).read_text())
    assert record["selected_checkpoint"] == record["best_model_path"] and "val/acc" in record["selection"]
    # the best epoch's val/acc is the highest logged (the first of equals), and its test numbers are its own
    checkpoint = torch.load(record["best_model_path"], weights_only=True)
    curve = [row for row in csv.DictReader(open(Path(record["best_model_path"]).parent.parent / "metrics.csv"))
             if row["val/acc"]]
    accs = [float(row["val/acc"]) for row in curve]
    assert record["best_model_score"] == pytest.approx(max(accs))
    assert checkpoint["epoch"] == int(curve[accs.index(max(accs))]["epoch"])
    assert cli.test_main(["--config", str(config), "--ckpt_path", record["best_model_path"]]) == 0
    tested = json.loads(Path(last_line(capsys.readouterr().out).removeprefix("metrics: ")).read_text())
    assert tested["metrics"]["test/acc"] == pytest.approx(record["test"]["test/acc"], abs=1e-6)


def test_resume_after_kill_continues_from_the_saved_step(videos, tmp_path):
    """kill -9 a running fit, then --ckpt_path last resumes from the last completed epoch."""
    runs = tmp_path / "runs"
    config = write_config(tmp_path / "c.yaml", videos, runs, {}, trainer={"max_epochs": 1000})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "tensorrnn", "fit", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    last = runs / "c" / "version_0" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:  # wait until two epochs are saved
            if last.is_file():
                try:
                    if torch.load(last, weights_only=True)["epoch"] >= 1:
                        break
                except Exception:  # noqa: BLE001 - a half-written file would show up here
                    pytest.fail("last.ckpt was readable only partially: not written atomically")
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint of epoch 2 within 240 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(last, weights_only=True)  # never a torn file, whatever moment the kill hit
    epoch, step = saved["epoch"], saved["global_step"]
    # statistics unlike the data's: estimated again on resume, they would differ
    saved["state_dict"]["input_norm.mean"] += 1.0
    torch.save(saved, last)
    assert cli.fit_main(["--config", str(config), "--ckpt_path", "last", "--trainer.max_epochs", str(epoch + 2)]) == 0
    record = json.loads((runs / "c" / "version_1" / "metrics.json").read_text())
    steps_per_epoch = step // (epoch + 1)
    assert record["resumed_from"].endswith("version_0/checkpoints/last.ckpt")
    # the input statistics came with the checkpoint, they were not estimated again
    resumed_state = torch.load(record["last_model_path"], weights_only=True)["state_dict"]
    for key in ("input_norm.mean", "input_norm.std", "input_norm.count"):
        torch.testing.assert_close(resumed_state[key], saved["state_dict"][key], rtol=0, atol=0)
    assert record["global_step"] == step + steps_per_epoch  # exactly one more epoch, not a fresh start
    assert record["epochs"] == epoch + 2


def test_multilabel_hollywood2_style_data_trains_and_reports_map(tmp_path, capsys):
    """A Hollywood2 layout (AVIClips + ClipSets, 12 actions, multi-hot) with the official split."""
    from tensorrnn.papers import HOLLYWOOD2_ACTIONS

    root = tmp_path / "hollywood2"
    (root / "ClipSets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = {}
    for part in ("train", "test"):
        for i in range(1, 7):  # every action is positive in 2 train and 2 test clips
            name = f"actionclip{part}{i:05d}"
            labels[name] = {HOLLYWOOD2_ACTIONS[(2 * i + k) % 12] for k in range(4)}
            write_video(root / "AVIClips" / f"{name}.avi", rng.integers(0, 256, (6, 24, 32, 3), dtype=np.uint8))
    for action in HOLLYWOOD2_ACTIONS:
        for part in ("train", "test", "autotrain"):
            lines = [f"{n}  {1 if action in labels[n] else -1}" for n in labels if part in n]
            (root / "ClipSets" / f"{action}_{part}.txt").write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path / "h.yaml", root, tmp_path / "runs", {"rank": 2},
                          data={"dataset": "hollywood2", "split": "official", "eval_sampling": "uniform",
                                "val_split": "test"},
                          trainer={"max_epochs": 2})
    assert cli.fit_main(["--config", str(config), "--select", "best"]) == 0  # the papers' protocol
    record = json.loads(Path(last_line(capsys.readouterr().out).removeprefix("metrics: ")).read_text())
    ap = record["per_class"]["ap"]
    assert sorted(ap) == sorted(HOLLYWOOD2_ACTIONS)
    assert record["test"]["test/map"] == pytest.approx(sum(ap.values()) / 12, abs=1e-6)
    assert "val/acc" not in record["metrics"] and "test/acc" not in record["test"]
    assert record["best_model_path"].endswith(".ckpt")
    # validation = test here: the selected checkpoint's test mAP is the best validation mAP
    assert record["test"]["test/map"] == pytest.approx(record["best_model_score"], abs=1e-6)
    # the same checkpoint evaluated by `tensorrnn test` reports the same mAP (same frames)
    assert cli.test_main(["--config", str(config), "--ckpt_path", record["last_model_path"]]) == 0
    tested = json.loads(Path(last_line(capsys.readouterr().out).removeprefix("metrics: ")).read_text())
    assert tested["metrics"]["test/map"] == pytest.approx(record["metrics"]["val/map"], abs=1e-6)


def test_test_command_writes_confusion_matrix(videos, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", videos, tmp_path / "runs", {}, trainer={"limit_train_batches": 1})
    cli.fit_main(["--config", str(config)])
    ckpt = json.loads(Path(last_line(capsys.readouterr().out)[9:]).read_text())["last_model_path"]
    assert cli.test_main(["--config", str(config), "--ckpt_path", ckpt]) == 0
    record = json.loads(Path(last_line(capsys.readouterr().out)[9:]).read_text())
    assert record["command"] == "test" and set(record["metrics"]) >= {"test/acc", "test/loss"}
    assert Path(record["plots"][0]).name == "confusion_matrix.png"
    assert sum(map(sum, record["per_class"]["confusion"])) == 6


def test_cv_runs_every_fold_and_reports_mean_and_std(videos, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", videos, tmp_path / "runs", {},
                          data={"split": "group_kfold", "num_folds": 3}, trainer={"limit_train_batches": 1})
    assert cli.cv_main(["--config", str(config)]) == 0
    record = json.loads(Path(last_line(capsys.readouterr().out)[9:]).read_text())
    accs = [fold["test"]["test/acc"] for fold in record["folds"]]
    assert record["num_folds"] == 3 and [f["fold"] for f in record["folds"]] == [0, 1, 2]
    assert record["summary"]["test/acc"]["mean"] == pytest.approx(np.mean(accs))
    assert record["summary"]["test/acc"]["std"] == pytest.approx(np.std(accs, ddof=1))
    # 2 training groups of 3 clips per class: too few to validate on, the last epoch is tested
    assert all("last epoch" in fold["selection"] for fold in record["folds"])


def test_ddp_two_processes_on_cpu(videos, tmp_path):
    config = write_config(tmp_path / "c.yaml", videos, tmp_path / "runs", {}, trainer={"max_epochs": 2})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "tensorrnn", "fit", "--config", str(config),
                             "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    path = Path(last_line(result.stdout).removeprefix("metrics: "))
    record = json.loads(path.read_text())
    # 21 training clips, 2 ranks x batch 8: ceil(ceil(21 / 2) / 8) = 2 steps per epoch
    assert record["global_step"] == 4
    assert torch.load(record["last_model_path"], weights_only=True)["global_step"] == 4
