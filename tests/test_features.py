"""``tensorrnn features``: per-frame features of a dataset's videos from a torchvision backbone
(random weights: these machines cannot download), written where ``fit`` reads them."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tensorrnn.cli import main as cli_main
from tensorrnn.data.datasets.registry import build_dataset
from tensorrnn.data.features import RECORD, extract, load_backbone
from tensorrnn.data.synthetic import write_video
from tensorrnn.data.video import read_frames
from tensorrnn.errors import UsageError
from tensorrnn.testing import write_corrupt


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A ``folder`` layout: 2 classes x 2 videos of 5 frames, 64x48."""
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for label in ("left", "right"):
        for i in range(2):
            write_video(root / label / f"clip{i}.mp4", rng.integers(0, 256, (5, 48, 64, 3), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return load_backbone("resnet18", "none")


@pytest.mark.parametrize("height,width", [(24, 32), (120, 160), (240, 180), (37, 50)])
def test_frame_features_equal_the_backbone_with_its_preset(backbone, height, width):
    """FramePreprocess (fixed sizes, exportable) gives what torchvision's preset gives, landscape,
    portrait and odd sizes: the exported graph's features are the training features."""
    from tensorrnn.data.features import FrameFeatures

    frames = torch.from_numpy(np.random.default_rng(height).integers(0, 256, (2, 3, height, width, 3), dtype=np.uint8))
    with torch.no_grad():
        got = FrameFeatures(backbone, height, width)(frames)  # (2, 3, 512)
    expected = torch.from_numpy(backbone(frames.reshape(6, height, width, 3).numpy())).reshape(2, 3, 512)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert expected.std() > 0.1  # features that vary: the comparison means something


def test_the_features_of_a_video_are_the_backbone_run_by_hand_on_its_frames(videos, backbone, tmp_path):
    summary = extract("folder", videos, tmp_path, backbone, every=2, batch_size=2, progress=False)
    assert (summary["videos"], summary["written"], summary["bad"], backbone.feature_size) == (4, 4, [], 512)
    path = videos / "right" / "clip1.mp4"
    features = np.load(tmp_path / "right" / "clip1.npy")
    # by hand, in float64: every 2nd decoded frame, the weights' preprocessing, the model without its fc
    frames = torch.from_numpy(read_frames(path)[::2]).permute(0, 3, 1, 2)
    model = backbone.module.double()
    try:
        with torch.no_grad():
            expected = model(backbone.transform(frames).double()).numpy()
    finally:
        backbone.module.float()
    assert features.shape == (3, 512) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-5)
    assert np.abs(features[0] - features[1]).max() > 1e-3          # the frames differ, so do their features


def test_fit_reads_the_features_folder(videos, backbone, tmp_path):
    extract("folder", videos, tmp_path, backbone, progress=False)
    ds = build_dataset("folder", tmp_path, features=True, num_frames=4, size=None, sampling="uniform")
    assert len(ds) == 4 and ds.classes == ["left", "right"]
    x, target = ds[0][:2]
    assert tuple(x.shape) == (4, 512)


def test_a_rerun_resumes_and_another_backbone_is_refused(videos, backbone, tmp_path):
    extract("folder", videos, tmp_path, backbone, progress=False)
    first = np.load(tmp_path / "left" / "clip0.npy")
    stamp = (tmp_path / "right" / "clip0.npy").stat().st_mtime_ns
    (tmp_path / "left" / "clip0.npy").unlink()                     # as if interrupted before it
    again = extract("folder", videos, tmp_path, backbone, progress=False)
    assert (again["written"], again["skipped"]) == (1, 3)
    np.testing.assert_array_equal(np.load(tmp_path / "left" / "clip0.npy"), first)
    assert (tmp_path / "right" / "clip0.npy").stat().st_mtime_ns == stamp
    assert not list(tmp_path.rglob("*.tmp*"))
    torch.manual_seed(1)
    other = load_backbone("mobilenet_v3_small", "none")
    with pytest.raises(UsageError, match=r"backbone: 'resnet18' there, 'mobilenet_v3_small' now"):
        extract("folder", videos, tmp_path, other, progress=False)
    with pytest.raises(UsageError, match=r"every: 1 there, 2 now"):
        extract("folder", videos, tmp_path, backbone, every=2, progress=False)


def test_a_video_that_cannot_be_decoded_is_named_and_skipped(videos, backbone, tmp_path):
    root = tmp_path / "videos"
    for path in videos.rglob("*.mp4"):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        (root / path.parent.name / path.name).write_bytes(path.read_bytes())
    bad = write_corrupt(root / "left" / "broken.mp4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = extract("folder", root, tmp_path / "out", backbone, progress=False)
    assert summary["written"] == 4 and [p for p, _ in summary["bad"]] == [bad]
    assert any(str(bad) in str(w.message) and "skipped" in str(w.message) for w in caught)
    assert not (tmp_path / "out" / "left" / "broken.npy").exists()


def test_the_command_writes_the_record_and_bad_arguments_name_themselves(videos, tmp_path, capsys):
    torch.manual_seed(0)
    assert cli_main(["features", "folder", str(videos), "--out", str(tmp_path), "--weights", "none",
                     "--backbone", "mobilenet_v3_small", "--no-progress"]) == 0
    assert "4 videos, 4 written" in capsys.readouterr().out
    record = (tmp_path / RECORD).read_text()
    assert '"backbone": "mobilenet_v3_small"' in record and '"feature_size": 576' in record
    assert np.load(tmp_path / "left" / "clip1.npy").shape == (5, 576)
    assert cli_main(["features", "folder", str(videos), "--out", str(tmp_path / "x"), "--backbone", "resnet_18",
                     "--weights", "none"]) == 2
    assert "--backbone='resnet_18': not a torchvision classification model" in capsys.readouterr().err
    assert cli_main(["features", "folder", str(videos), "--out", str(tmp_path / "x"), "--weights",
                     str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"--every=0: expected an integer >= 1"):
        extract("folder", videos, tmp_path / "y", load_backbone("mobilenet_v3_small", "none"), every=0)


def test_a_local_state_dict_is_loaded_and_a_wrong_one_refused(videos, tmp_path):
    from torchvision.models import get_model

    torch.manual_seed(3)
    model = get_model("mobilenet_v3_small", weights=None).eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    backbone = load_backbone("mobilenet_v3_small", str(tmp_path / "weights.pt"))
    frames = read_frames(videos / "left" / "clip0.mp4")
    model.classifier = torch.nn.Identity()
    with torch.no_grad():
        expected = model(backbone.transform(torch.from_numpy(frames).permute(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(backbone(frames), expected, rtol=1e-5, atol=1e-6)
    assert backbone.weights == str((tmp_path / "weights.pt").resolve())
    with pytest.raises(ValueError, match=r"not a state dict of torchvision's resnet18"):
        load_backbone("resnet18", str(tmp_path / "weights.pt"))


def test_torchvision_and_lightning_import_after_tensorrnn_in_a_fresh_process():
    # torchmetrics imports torchvision, which beside a CPU torch needs tensorrnn.compat first
    import subprocess
    import sys

    code = ("import tensorrnn, lightning, torchvision.models as m; "
            "print(m.resnet18(weights=None).fc.in_features)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "512", done.stderr[-2000:]


def test_two_commands_make_features_and_train_on_them(tmp_path, capsys):
    # tensorrnn features, then tensorrnn fit on the features folder: in_shape auto factorises the
    # backbone's 512 features a frame, frame_diff off as in the *_cnn_* configs (resnet18: a random
    # mobilenet_v3_small's features are ~1e-8, the same for every video, which would test nothing)
    import json

    import yaml

    from tensorrnn.data.synthetic import make_demo_videos

    videos = make_demo_videos(tmp_path / "videos", num_classes=3, groups=3, clips_per_group=2, size=(32, 24),
                              num_frames=6, progress=False)
    torch.manual_seed(0)
    assert cli_main(["features", "ucf11", str(videos), "--out", str(tmp_path / "features"), "--weights", "none",
                     "--backbone", "resnet18", "--no-progress"]) == 0
    config = {"seed_everything": 0,
              "model": {"arch": "gru", "factorization": "tt", "in_shape": "auto", "hidden_shape": [2, 2, 2, 2],
                        "rank": 2, "frame_diff": False},
              "data": {"dataset": "ucf11", "root": str(tmp_path / "features"), "features": True, "split": "tt_rnn",
                       "num_frames": 4, "batch_size": 6, "num_workers": 0, "dataset_options": {"progress": False}},
              "trainer": {"max_epochs": 1, "default_root_dir": str(tmp_path / "runs"), "enable_progress_bar": False,
                          "enable_model_summary": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    capsys.readouterr()
    assert cli_main(["fit", "--config", str(tmp_path / "c.yaml")]) == 0
    metrics = [line for line in capsys.readouterr().out.splitlines() if line.startswith("metrics: ")][-1]
    # the stem reads frames: on features it is refused before training, naming both options
    assert cli_main(["fit", "--config", str(tmp_path / "c.yaml"), "--model.stem", "true"]) == 2
    assert "error: model.stem=True with data.features=" in capsys.readouterr().err
    record = json.loads(Path(metrics.removeprefix("metrics: ")).read_text())
    from tensorrnn.train.checkpoint import load_model

    model, data = load_model(record["last_model_path"])
    assert model.in_features == 512
    assert "test/acc" in record["test"]
    assert data["feature_record"]["backbone"] == "resnet18" and data["feature_record"]["weights"] == "none"
    # predict takes the video itself: the backbone the checkpoint names makes its features as
    # tensorrnn features made the training ones, so it scores as its .npy file does
    video = sorted(videos.rglob("*.avi"))[0]
    npy = (tmp_path / "features" / video.relative_to(videos)).with_suffix(".npy")
    capsys.readouterr()
    other = sorted(videos.rglob("*.avi"))[-1]  # another class's video: other scores (the check can fail)
    assert cli_main(["predict", "--ckpt_path", record["last_model_path"], str(video), str(npy), str(other),
                     "--json"]) == 0
    by_video, by_features, by_other = json.loads(capsys.readouterr().out)
    scores = [{p["class"]: p["probability"] for p in r["predictions"]} for r in (by_video, by_features, by_other)]
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)
    assert max(abs(scores[0][c] - scores[2][c]) for c in scores[0]) > 1e-4
    # --timeline keeps the frames a window reads as their features: one window over the whole
    # 6-frame video (cuts off) scores as predict scores the file
    assert cli_main(["predict", "--ckpt_path", record["last_model_path"], "--timeline", str(video), "--window", "6",
                     "--no-cuts", "--json"]) == 0
    windows = json.loads(capsys.readouterr().out)["windows"]
    assert len(windows) == 1
    assert windows[0]["probabilities"] == pytest.approx(scores[0], abs=1e-6)
    # export holds the backbone in front of the model, reads uint8 frames of one size (the first
    # verified clip's: the videos the features came from, named by the record) and is checked
    # against PyTorch on them, clip graph and step graph
    import onnx

    assert cli_main(["export", "--ckpt_path", record["last_model_path"], "--out", str(tmp_path / "m.onnx"),
                     "--step"]) == 0
    graph = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["backbone"])["backbone"] == "resnet18" and json.loads(meta["frame_size"]) == [32, 24]
    assert any(node.op_type == "Conv" for node in graph.graph.node)  # the backbone is in the graph
    assert (tmp_path / "m.step.onnx").is_file()


def test_predict_names_a_feature_model_without_a_backbone(tmp_path, capsys):
    """A features folder made by other tools (no features.json): predict takes its .npy files
    only, and says so for a video."""
    import json

    import yaml

    from tensorrnn.data.synthetic import make_demo_videos

    videos = make_demo_videos(tmp_path / "videos", num_classes=2, groups=2, clips_per_group=2, size=(16, 12),
                              num_frames=5, progress=False)
    for video in videos.rglob("*.avi"):
        target = (tmp_path / "features" / video.relative_to(videos)).with_suffix(".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32))
    config = {"seed_everything": 0,
              "model": {"arch": "gru", "factorization": "tt", "in_shape": [2, 4], "hidden_shape": [2, 2],
                        "rank": 2, "frame_diff": False},
              "data": {"dataset": "ucf11", "root": str(tmp_path / "features"), "features": True, "split": "tt_rnn",
                       "num_frames": 4, "batch_size": 4, "num_workers": 0, "val_split": "none",
                       "dataset_options": {"progress": False}},
              "trainer": {"max_epochs": 1, "default_root_dir": str(tmp_path / "runs"), "enable_progress_bar": False,
                          "enable_model_summary": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert cli_main(["fit", "--config", str(tmp_path / "c.yaml")]) == 0
    metrics = [line for line in capsys.readouterr().out.splitlines() if line.startswith("metrics: ")][-1]
    checkpoint = json.loads(Path(metrics.removeprefix("metrics: ")).read_text())["last_model_path"]
    video = sorted(videos.rglob("*.avi"))[0]
    assert cli_main(["predict", "--ckpt_path", checkpoint, str(video)]) == 2
    assert "names no backbone" in capsys.readouterr().err
