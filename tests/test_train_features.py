"""Precomputed per-frame features (.npy): the papers' CNN + TR-LSTM config trains on them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from tensorrnn.train import cli

REPO = Path(__file__).resolve().parents[1]


def test_cnn_tr_lstm_config_trains_on_feature_arrays(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("biking", "diving")):  # UCF11 layout, one (T, 2048) array per clip
        for group in (1, 2, 3):
            for c in (1, 2, 3):
                stem = f"v_{name}_{group:02d}"
                path = tmp_path / "features" / name / stem / f"{stem}_{c:02d}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, (rng.standard_normal((9, 2048)) + k).astype(np.float32))
    out = tmp_path / "runs"
    assert cli.fit_main(["--config", str(REPO / "configs" / "ucf11_cnn_tr_lstm.yaml"),
                         "--data.root", str(tmp_path / "features"), "--data.num_workers", "0",
                         "--data.batch_size", "4", "--data.dataset_options", "{progress: false}",
                         "--data.num_folds", "3",  # 3 groups here, UCF11 has 25
                         "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
                         "--trainer.num_sanity_val_steps", "0",
                         "--trainer.default_root_dir", str(out), "--trainer.enable_progress_bar", "false"]) == 0
    record = json.loads(Path(capsys.readouterr().out.strip().splitlines()[-1][9:]).read_text())
    assert record["global_step"] == 1 and record["run_name"] == "ucf11_cnn_tr_lstm"
    config = yaml.safe_load((REPO / "configs" / "ucf11_cnn_tr_lstm.yaml").read_text())
    assert "in_shape=(64, 32)" in record["model"] and config["model"]["rank"] == [40, 60, 48, 48]
