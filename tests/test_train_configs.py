"""Every shipped config parses (``--print_config``), carries the papers' numbers and builds its model."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from tensorrnn import papers
from tensorrnn.train import cli
from tensorrnn.train.datamodule import RECIPE_FRAMES
from tensorrnn.train.module import VideoClassifier

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = sorted((REPO / "src" / "tensorrnn" / "configs").glob("*.yaml"))
PAPER_CONFIGS = sorted((REPO / "src" / "tensorrnn" / "configs" / "paper").glob("*.yaml"))
CONFIGS = DEFAULT_CONFIGS + PAPER_CONFIGS
PAPER_MODELS = {
    "ucf11_tt_gru", "ucf11_tt_lstm", "ucf11_tr_lstm", "ucf11_bt_lstm", "ucf11_gru", "ucf11_lstm",
    "hollywood2_tt_gru", "hollywood2_tt_lstm", "youtube_tt_gru", "youtube_tt_lstm", "hmdb51_tt_gru",
    "ucf101_tt_gru", "ucf11_cnn_tr_lstm", "hmdb51_cnn_tr_lstm",
}
#: Models beyond the papers' (no paper twin): the fully factorised ones (both maps TT or HT).
FULLY_FACTORIZED = {"ucf11_tt_gru_full", "ucf11_tt_lstm_full", "ucf11_ht_lstm_full"}
EXPECTED = PAPER_MODELS | FULLY_FACTORIZED | {"demo_tt_gru", "ucf11_ht_lstm", "kth_tt_gru", "weizmann_tt_gru",
                                               "own_tt_gru"}
#: What a model is: the same in a config and in its paper twin.
ARCHITECTURE = ("arch", "factorization", "in_shape", "hidden_shape", "rank", "blocks", "shared_gates")
#: The recipe keys (model and data) and their default values: the project's recipe.
RECIPE_DEFAULTS = {
    "model": {"normalize": "auto", "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-2, "scheduler": "cosine",
              "warmup_epochs": 1.0, "label_smoothing": 0.1, "grad_clip": 1.0, "dropout": 0.25, "input_dropout": 0.1,
              "recurrent_dropout": 0.0, "output_l2": 0.0},
    "data": {"sampling": "segments", "eval_sampling": "segments", "eval_views": 3, "scaling": "unit",
             "crop_scale": [0.6, 1.0], "brightness": 0.2, "contrast": 0.2, "val_split": "auto"},
}
NUM_CLASSES = {"ucf11": len(papers.UCF11_CLASSES), "hollywood2": len(papers.HOLLYWOOD2_ACTIONS),
               "youtube_celebrities": papers.YOUTUBE_NUM_PEOPLE, "hmdb51": papers.HMDB51_NUM_CLASSES,
               "ucf101": 101, "kth": len(papers.KTH_ACTIONS), "weizmann": len(papers.WEIZMANN_ACTIONS)}


def load(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())


def resolved(path) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.fit_main(["--config", str(path), "--print_config"]) == 0
    return yaml.safe_load(out.getvalue())


def test_the_configs_are_shipped_and_reachable_from_the_repo_root():
    assert {p.stem for p in DEFAULT_CONFIGS} == EXPECTED
    assert {p.stem for p in PAPER_CONFIGS} == PAPER_MODELS
    assert (REPO / "configs" / "ucf11_tt_gru.yaml").read_text() == DEFAULT_CONFIGS[-1].parent.joinpath(
        "ucf11_tt_gru.yaml").read_text()
    assert (REPO / "configs" / "paper" / "ucf11_tt_gru.yaml").is_file()


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_a_config_and_its_paper_twin_are_the_same_model_on_the_same_data(name):
    default, paper = load(name), load(f"paper/{name}")
    for key in ARCHITECTURE:
        assert default["model"].get(key) == paper["model"].get(key), key
    for key in ("dataset", "size", "features", "batch_size"):
        assert default["data"].get(key) == paper["data"].get(key), key
    # the default recipe reads 12 frames where the papers sample their 6 frames of pixels; the
    # papers' other frame counts (YouTube's first 85, HMDB51's CNN features) stay
    frames = paper["data"]["num_frames"]
    if frames == papers.FRAMES_PER_CLIP and not paper["data"].get("features"):
        frames = RECIPE_FRAMES
    assert default["data"]["num_frames"] == frames


def test_every_shipped_config_of_frame_differences_has_the_stem_and_no_twin_does():
    # the stem reads pixels: not the CNN feature configs, and not YouTube Celebrities' faces
    # (frames, not differences: not measured with the stem); the twins keep the papers' model
    for path in DEFAULT_CONFIGS:
        config = yaml.safe_load(path.read_text())
        differences = config["model"].get("frame_diff", True) and not config["data"].get("features")
        assert config["model"].get("stem", False) is bool(differences), path.name
    for path in PAPER_CONFIGS:
        assert "stem" not in yaml.safe_load(path.read_text())["model"], path.name
    # without the key, the model has none (the library's default is the papers' model)
    assert resolved(REPO / "configs" / "paper" / "ucf11_tt_gru.yaml")["model"]["stem"] is False


def test_every_shipped_config_of_pixels_reads_the_recipes_frames():
    # YouTube Celebrities keeps the paper's first 85 frames (identity, not motion), and the CNN
    # feature configs the paper's frame counts
    for path in DEFAULT_CONFIGS:
        data = yaml.safe_load(path.read_text())["data"]
        kept = data.get("features") or data["dataset"] == "youtube_celebrities"
        assert (data["num_frames"] == RECIPE_FRAMES) != bool(kept), path.name
    assert RECIPE_FRAMES == 2 * papers.FRAMES_PER_CLIP


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_default_configs_use_the_default_recipe_and_paper_configs_the_papers(name):
    # the recipe keys round-trip through --print_config: the defaults where a config is silent,
    # the paper config's explicit values where it is not
    default = resolved(REPO / "configs" / f"{name}.yaml")
    for section, values in RECIPE_DEFAULTS.items():
        for key, value in values.items():
            assert default[section][key] == value, (section, key)
    # frame differences for actions; the frames themselves for identities and CNN features
    appearance = default["data"]["dataset"] == "youtube_celebrities" or default["data"]["features"]
    assert default["model"]["frame_diff"] is not appearance
    mirror = default["data"]["dataset"] in ("ucf11", "hmdb51", "ucf101", "hollywood2", "youtube_celebrities")
    assert default["data"]["flip"] == (0.5 if mirror and not default["data"]["features"] else 0.0)
    paper = resolved(REPO / "configs" / "paper" / f"{name}.yaml")
    assert (paper["model"]["normalize"], paper["model"]["optimizer"], paper["model"]["scheduler"]) == (
        "none", "adam", "none")
    assert (paper["data"]["eval_views"], paper["data"]["val_split"], paper["data"]["flip"]) == (1, "test", 0.0)
    assert paper["data"]["crop_scale"] == [1.0, 1.0] and paper["model"]["label_smoothing"] == 0.0
    assert paper["model"]["frame_diff"] is False
    # the default tests the last epoch's checkpoint; the twins the best on validation (their test split)
    assert (default["select"], paper["select"]) == ("last", "best")


def test_the_demo_runs_a_shipped_config_with_the_default_recipe():
    from tensorrnn.train import demo

    assert demo.config_path() == REPO / "src" / "tensorrnn" / "configs" / demo.CONFIG
    config = load("demo_tt_gru")
    assert not set(config["model"]) & set(RECIPE_DEFAULTS["model"])  # nothing of the recipe is set
    assert not set(config["data"]) & set(RECIPE_DEFAULTS["data"])
    assert config["data"]["size"] == list(demo.FULL.size) and config["model"]["in_shape"] == list(demo.FULL.in_shape)
    assert config["trainer"]["max_epochs"] == demo.FULL.epochs


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_print_config_resolves_every_config(path):
    result = resolved(path)
    raw = yaml.safe_load(path.read_text())
    for section in ("model", "data"):
        for key, value in raw[section].items():
            assert result[section][key] == value, (section, key)
    assert result["trainer"]["max_epochs"] == raw["trainer"]["max_epochs"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_builds_its_model(path):
    config = yaml.safe_load(path.read_text())
    data = config["data"]
    if data["dataset"] not in NUM_CLASSES:  # the demo's generated set
        return
    multilabel = data["dataset"] == "hollywood2"
    model = VideoClassifier(**config["model"], num_classes=NUM_CLASSES[data["dataset"]], multilabel=multilabel)
    if not data.get("features"):  # the frame size matches the factorisation of the input
        width, height = data["size"]
        assert model.in_features == width * height * 3
    rnn = model.net.rnn
    assert rnn.input_size == model.in_features


def input_map_params(name: str) -> int:
    config = load(name)
    assert config["model"]["in_shape"] == load(f"paper/{name}")["model"]["in_shape"]
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
    assert load("paper/ucf11_tt_gru")["model"]["in_shape"] == list(papers.UCF11_IN_SHAPE)
    assert load("paper/ucf11_tt_gru")["data"]["size"] == list(papers.UCF11_FRAME_SIZE)
    assert load("paper/ucf11_tt_gru")["data"]["num_frames"] == papers.FRAMES_PER_CLIP
    for name in ("ucf11_tt_gru", "ucf11_tt_lstm", "ucf11_tr_lstm", "ucf11_bt_lstm", "ucf11_gru", "ucf11_lstm"):
        config = load(f"paper/{name}")
        assert config["model"]["lr"] == papers.UCF11_TRAINING["lr"]
        assert config["data"]["batch_size"] == papers.UCF11_TRAINING["batch_size"]
        assert config["model"]["output_l2"] == papers.UCF11_TRAINING["output_l2"]
        assert config["data"]["split"] == "tt_rnn"  # the default protocol; group-aware is an option
    tr = load("paper/ucf11_tr_lstm")["model"]
    assert tr["in_shape"] == list(papers.TR_UCF11_IN_SHAPE) and tr["hidden_shape"] == list(papers.TR_UCF11_HIDDEN_SHAPE)
    assert tr["rank"] == [papers.TR_UCF11_CLOSING_RANK] + [papers.TR_UCF11_RANK] * 12
    bt = load("paper/ucf11_bt_lstm")["model"]
    assert (bt["rank"], bt["blocks"]) == (papers.BT_UCF11_RANK, papers.BT_UCF11_BLOCKS)
    for name in ("hollywood2_tt_gru", "hollywood2_tt_lstm"):
        config = load(f"paper/{name}")
        assert config["model"]["in_shape"] == list(papers.HOLLYWOOD2_IN_SHAPE)
        assert config["data"]["size"] == list(papers.HOLLYWOOD2_FRAME_SIZE)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (
            papers.HOLLYWOOD2_TRAINING["lr"], papers.HOLLYWOOD2_TRAINING["batch_size"])
        assert config["data"]["split"] == "official"
    for name in ("youtube_tt_gru", "youtube_tt_lstm"):
        config = load(f"paper/{name}")
        assert config["model"]["in_shape"] == list(papers.YOUTUBE_IN_SHAPE)
        assert (config["model"]["lr"], config["data"]["batch_size"]) == (
            papers.YOUTUBE_TRAINING["lr"], papers.YOUTUBE_TRAINING["batch_size"])
    for name in ("ucf11_cnn_tr_lstm", "hmdb51_cnn_tr_lstm"):
        config = load(f"paper/{name}")
        assert config["data"]["features"] is True
        assert config["model"]["in_shape"] == list(papers.CNN_TR_IN_SHAPE)
        assert config["model"]["hidden_shape"] == list(papers.CNN_TR_HIDDEN_SHAPE)
        assert config["model"]["rank"] == list(papers.CNN_TR_RANKS)
    for name in ("hmdb51_tt_gru", "ucf101_tt_gru"):
        assert load(f"paper/{name}")["data"]["split"] == "official"


def test_ucf11_ht_lstm_config_is_the_tt_lstm_setting_with_a_comparable_hierarchical_tucker_map():
    ht, tt = load("ucf11_ht_lstm"), load("ucf11_tt_lstm")
    assert ht["model"]["factorization"] == "ht"
    for key in ("arch", "in_shape", "hidden_shape", "shared_gates", "rnn_options"):
        assert ht["model"][key] == tt["model"][key], key
    assert ht["data"] == tt["data"] and ht["trainer"] == tt["trainer"]
    model = VideoClassifier(**ht["model"], num_classes=11)
    proj = model.net.rnn.input_proj
    r, (m, n) = ht["model"]["rank"], (papers.UCF11_IN_SHAPE, (16, 4, 4, 4))
    # leaf frames sum_k m_k n_k r, two inner r x r x r transfer tensors, the root's 1 x r x r
    expected = sum(i * j * r for i, j in zip(m, n)) + 2 * r ** 3 + r ** 2
    assert proj.num_factor_params == expected == 3_255
    assert abs(expected - papers.TT_PARAM_TABLE[4]["tt_lstm"]) < 0.05 * papers.TT_PARAM_TABLE[4]["tt_lstm"]
