"""``tensorrnn demo --quick``: the whole embedded demo, shrunk to seconds."""
from __future__ import annotations

import json
import math

from tensorrnn.train import demo


def test_demo_settings_factorise_their_frames():
    for setting in (demo.FULL, demo.QUICK):
        width, height = setting.size
        assert math.prod(setting.in_shape) == width * height * 3
        assert len(setting.in_shape) == len(setting.hidden_shape)  # one TT core per mode pair


def test_quick_demo_trains_both_models_and_writes_its_report(tmp_path, capsys):
    assert demo.main(["--quick", "--out", str(tmp_path), "--epochs", "2"]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())
    tt, gru = summary["results"]
    assert (tt["model"], gru["model"]) == ("TT-GRU", "GRU")
    q = demo.QUICK
    width, height = q.size
    # the dense input map is (W*H*3) x (3 * hidden) plus bias; the TT one is far smaller
    hidden = math.prod(q.hidden_shape)
    assert gru["input_map_parameters"] == width * height * 3 * 3 * hidden + 3 * hidden
    assert tt["input_map_parameters"] < gru["input_map_parameters"] / 50
    # group-aware split: 1 of 5 groups of every class is the test set; the other 4 groups are
    # too few to validate on whole groups, so a fifth of their clips validates
    assert tt["held_out_clips"] == q.num_classes * q.clips_per_group
    assert tt["train_clips"] + tt["val_clips"] == 4 * q.num_classes * q.clips_per_group
    assert tt["val_clips"] == q.num_classes * round(0.2 * 4 * q.clips_per_group)
    for r in (tt, gru):
        assert 0.0 <= r["held_out_accuracy"] <= 1.0 and len(r["curves"]["val/acc"]) == 2
        assert "last epoch" in r["selection"] and r["checkpoint"].endswith("last.ckpt")
        # the demo ran `tensorrnn fit` with the shipped config: its metrics.json says so
        record = json.loads(open(r["metrics_json"]).read())
        assert record["command"] == "fit" and record["test"]["test/acc"] == r["held_out_accuracy"]
    assert (tmp_path / "learning_curves.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "TT-GRU" in out and "held-out accuracy" in out and "tensorrnn predict --ckpt_path" in out
