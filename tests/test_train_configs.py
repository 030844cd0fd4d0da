"""Every shipped config parses (``--print_config``), carries the papers' numbers and builds its model."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from tensorrnn import papers
from tensorrnn.train import cli
from tensorrnn.train.module import VideoClassifier

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "src" / "tensorrnn" / "configs").glob("*.yaml"))
EXPECTED = {
    "ucf11_tt_gru", "ucf11_tt_lstm", "ucf11_tr_lstm", "ucf11_bt_lstm", "ucf11_gru", "ucf11_lstm",
    "hollywood2_tt_gru", "hollywood2_tt_lstm", "youtube_tt_gru", "youtube_tt_lstm", "hmdb51_tt_gru",
    "ucf101_tt_gru", "ucf11_cnn_tr_lstm", "hmdb51_cnn_tr_lstm",
}
NUM_CLASSES = {"ucf11": len(papers.UCF11_CLASSES), "hollywood2": len(papers.HOLLYWOOD2_ACTIONS),
               "youtube_celebrities": papers.YOUTUBE_NUM_PEOPLE, "hmdb51": papers.HMDB51_NUM_CLASSES,
               "ucf101": 101}


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())


def test_the_configs_are_shipped_and_reachable_from_the_repo_root():
    assert {p.stem for p in CONFIGS} == EXPECTED
    assert (REPO / "configs" / "ucf11_tt_gru.yaml").read_text() == CONFIGS[-1].parent.joinpath(
        "ucf11_tt_gru.yaml").read_text()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_print_config_resolves_every_config(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.fit_main(["--config", str(path), "--print_config"]) == 0
    resolved = yaml.safe_load(out.getvalue())
    raw = yaml.safe_load(path.read_text())
    for section in ("model", "data"):
        for key, value in raw[section].items():
            assert resolved[section][key] == value, (section, key)
    assert resolved["trainer"]["max_epochs"] == raw["trainer"]["max_epochs"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_builds_its_model(path):
    config = yaml.safe_load(path.read_text())
    data = config["data"]
    multilabel = data["dataset"] == "hollywood2"
    model = VideoClassifier(**config["model"], num_classes=NUM_CLASSES[data["dataset"]], multilabel=multilabel)
    if not data.get("features"):  # the frame size matches the factorisation of the input
        width, height = data["size"]
        assert model.in_features == width * height * 3
    rnn = model.net.rnn
    assert rnn.input_size == model.in_features


def input_map_params(name: str) -> int:
    config = load(name)
    model = VideoClassifier(**config["model"], num_classes=11)
    proj = model.net.rnn.input_proj
    return sum(p.numel() for n, p in proj.named_parameters() if "bias" not in n)


@pytest.mark.parametrize("name, expected", [
    ("ucf11_tt_gru", papers.TT_PARAM_TABLE[4]["tt_gru"]),
    ("ucf11_tt_lstm", papers.TT_PARAM_TABLE[4]["tt_lstm"]),
    ("ucf11_gru", papers.UCF11_DENSE_PARAMS["gru"]),
    ("ucf11_lstm", papers.UCF11_DENSE_PARAMS["lstm"]),
])
def test_ucf11_configs_have_the_papers_parameter_counts(name, expected):
    assert input_map_params(name) == expected


def test_configs_use_the_papers_shapes_ranks_and_training():
    assert load("ucf11_tt_gru")["model"]["in_shape"] == list(papers.UCF11_IN_SHAPE)
    assert load("ucf11_tt_gru")["data"]["size"] == list(papers.UCF11_FRAME_SIZE)
    assert load("ucf11_tt_gru")["data"]["num_frames"] == papers.FRAMES_PER_CLIP
    for name in ("ucf11_tt_gru", "ucf11_tt_lstm", "ucf11_tr_lstm", "ucf11_bt_lstm", "ucf11_gru", "ucf11_lstm"):
        config = load(name)
        assert config["model"]["lr"] == papers.UCF11_TRAINING["lr"]
        assert config["data"]["batch_size"] == papers.UCF11_TRAINING["batch_size"]
        assert config["model"]["output_l2"] == papers.UCF11_TRAINING["output_l2"]
        assert config["data"]["split"] == "tt_rnn"  # the default protocol; group-aware is an option
    tr = load("ucf11_tr_lstm")["model"]
    assert tr["in_shape"] == list(papers.TR_UCF11_IN_SHAPE) and tr["hidden_shape"] == list(papers.TR_UCF11_HIDDEN_SHAPE)
    assert tr["rank"] == [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * 12
    bt = load("ucf11_bt_lstm")["model"]
    assert (bt["rank"], bt["blocks"]) == (papers.BT_UCF11_RANK, papers.BT_UCF11_BLOCKS)
    for name in ("hollywood2_tt_gru", "hollywood2_tt_lstm"):
        config = load(name)
        assert config["model"]["in_shape"] == list(papers.HOLLYWOOD2_IN_SHAPE)
        assert config["data"]["size"] == list(papers.HOLLYWOOD2_FRAME_SIZE)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (
            papers.HOLLYWOOD2_TRAINING["lr"], papers.HOLLYWOOD2_TRAINING["batch_size"])
        assert config["data"]["split"] == "official"
    for name in ("youtube_tt_gru", "youtube_tt_lstm"):
        config = load(name)
        assert config["model"]["in_shape"] == list(papers.YOUTUBE_IN_SHAPE)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (
            papers.YOUTUBE_TRAINING["lr"], papers.YOUTUBE_TRAINING["batch_size"])
    for name in ("ucf11_cnn_tr_lstm", "hmdb51_cnn_tr_lstm"):
        config = load(name)
        assert config["data"]["features"] is True
        assert config["model"]["in_shape"] == list(papers.CNN_TR_IN_SHAPE)
        assert config["model"]["hidden_shape"] == list(papers.CNN_TR_HIDDEN_SHAPE)
        assert config["model"]["rank"] == list(papers.CNN_TR_RANKS)
    for name in ("hmdb51_tt_gru", "ucf101_tt_gru"):
        assert load(name)["data"]["split"] == "official"
