"""``tensorrnn predict``: a short training on an easy set, then new clips get their class."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tensorrnn.data.synthetic import write_video
from tensorrnn.deploy import predict
from tensorrnn.train import cli
from tensorrnn.train.checkpoint import load_model

SHADES = {"dark": 40, "bright": 210}  # the class is the brightness: learnable in a few steps


def shade_clip(path: Path, level: int, rng: np.random.Generator) -> Path:
    frames = np.clip(level + rng.integers(-20, 21, (8, 12, 16, 3)), 0, 255).astype(np.uint8)
    return write_video(path, frames)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    for name, level in SHADES.items():  # UCF11 layout: <class>/v_<class>_<GG>/v_<class>_<GG>_<CC>.avi
        for group in (1, 2, 3):
            for c in (1, 2):
                stem = f"v_{name}_{group:02d}"
                shade_clip(tmp / "videos" / name / stem / f"{stem}_{c:02d}.avi", level, rng)
    config = {
        "seed_everything": 0,
        "model": {"arch": "gru", "factorization": "tt", "in_shape": [4, 4, 4, 9], "hidden_shape": [2, 2, 2, 2],
                  "rank": 2, "lr": 0.03, "frame_diff": False},  # the class is the look, not a motion
        "data": {"dataset": "ucf11", "root": str(tmp / "videos"), "split": "group_kfold", "num_folds": 3,
                 "num_frames": 4, "size": [16, 12], "scaling": "unit", "batch_size": 4,
                 "dataset_options": {"progress": False}},
        "trainer": {"max_epochs": 8, "default_root_dir": str(tmp / "runs"), "enable_progress_bar": False},
    }
    (tmp / "c.yaml").write_text(yaml.safe_dump(config))
    assert cli.fit_main(["--config", str(tmp / "c.yaml")]) == 0
    record = json.loads((tmp / "runs" / "c" / "version_0" / "metrics.json").read_text())
    new = {name: shade_clip(tmp / f"new_{name}.avi", level, np.random.default_rng(99)) for name, level in SHADES.items()}
    return record["last_model_path"], new


def test_predict_returns_the_class_of_new_clips(trained, capsys):
    ckpt, new = trained
    assert predict.main(["--ckpt_path", ckpt, str(new["bright"]), str(new["dark"]), "--json", "--top-k", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["predictions"][0]["class"] for r in results] == ["bright", "dark"]
    for r in results:
        probs = [p["probability"] for p in r["predictions"]]
        assert len(probs) == 2 and sum(probs) == pytest.approx(1.0, abs=1e-5) and probs[0] > 0.5


def test_predict_decodes_like_the_evaluation_clips(trained):
    """predict feeds exactly the frames the data module's evaluation dataset gives when it reads
    the videos themselves (same size, sampling policy and seed, padding, scaling; the model
    trained on the JPEG store, whose frames predict does not imitate): the dataset's first clip."""
    import torch

    from tensorrnn.train.datamodule import VideoDataModule

    ckpt, _ = trained
    model, data = load_model(ckpt)
    options = {k: v for k, v in data.items() if not k.startswith("_")}
    assert options["store"] == "jpeg"
    module = VideoDataModule(**dict(options, cache_dir=None))
    evaluation = module.eval_dataset(module.full)
    expected = evaluation[0][0]
    frames = predict.clip_loader(data, model.hparams.class_names)(evaluation.clips[0].path)
    assert frames.shape == (data["eval_views"], 4, 12, 16, 3)
    torch.testing.assert_close(frames, expected, rtol=0, atol=0)


def test_table_output_names_every_file(trained, capsys):
    ckpt, new = trained
    assert predict.main(["--ckpt_path", ckpt, str(new["dark"])]) == 0
    out = capsys.readouterr().out
    assert "dark" in out and "probability" in out


def test_the_input_statistics_are_restored_from_the_checkpoint(trained):
    import torch

    ckpt, _ = trained
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    model, _ = load_model(ckpt)
    assert model.input_norm.fitted and int(model.input_norm.count) == int(state["input_norm.count"]) > 0
    torch.testing.assert_close(model.input_norm.mean, state["input_norm.mean"], rtol=0, atol=0)
    torch.testing.assert_close(model.input_norm.std, state["input_norm.std"], rtol=0, atol=0)

