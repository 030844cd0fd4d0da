"""Run names follow the config file, and ``fit --ckpt_path`` resumes only a checkpoint of the
same recipe (a paper twin's run is not continued under the default recipe, nor the reverse)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tensorrnn.train import cli
from tensorrnn.train.checkpoint import check_recipe
from tensorrnn.train.cli import config_run_name

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path, name", [
    ("configs/ucf11_tt_gru.yaml", "ucf11_tt_gru"),
    ("configs/paper/ucf11_tt_gru.yaml", "paper_ucf11_tt_gru"),
    ("configs/ucf11_tt_gru_full.yaml", "ucf11_tt_gru_full"),
    ("src/tensorrnn/configs/paper/ucf11_tt_gru.yaml", "paper_ucf11_tt_gru"),  # the symlink's target
    ("configs/paper/../ucf11_tt_gru.yaml", "ucf11_tt_gru"),
    ("/home/me/experiments/lr3.yml", "lr3"),  # in no configs folder: the file's name
])
def test_config_run_name(path, name):
    assert config_run_name(REPO / path if not path.startswith("/") else path) == name


def test_config_run_name_of_a_relative_path_inside_configs(monkeypatch):
    monkeypatch.chdir(REPO / "configs" / "paper")
    assert config_run_name("ucf11_tt_gru.yaml") == "paper_ucf11_tt_gru"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-class set of 8 clips (16x12, 4 frames), the options that shrink any config to it, and
    a config file ``c.yaml`` of a tiny TT-GRU."""
    from tensorrnn.data.synthetic import make_demo_videos

    tmp = tmp_path_factory.mktemp("run_names")
    root = make_demo_videos(tmp / "videos", num_classes=2, groups=2, clips_per_group=2, size=(16, 12),
                            num_frames=4, progress=False)
    shrink = ["--data.root", str(root), "--data.size", "[16, 12]", "--data.num_frames", "2", "--data.split", "bt_rnn",
              "--data.num_workers", "0", "--data.dataset_options", "{progress: false}",
              "--model.in_shape", "[4, 4, 4, 9]", "--model.hidden_shape", "[2, 2, 2, 2]", "--model.rank", "2",
              "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
              "--trainer.enable_model_summary", "false"]
    config = {"model": {"arch": "gru", "factorization": "tt", "in_shape": [4, 4, 4, 9], "hidden_shape": [2, 2, 2, 2],
                        "rank": 2},
              "data": {"root": str(root), "size": [16, 12], "num_frames": 2, "split": "bt_rnn",
                       "dataset_options": {"progress": False}},
              "trainer": {"max_epochs": 1, "enable_progress_bar": False, "enable_model_summary": False}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(config))
    return SimpleNamespace(root=root, shrink=shrink, config=tmp / "c.yaml")


def runs(tmp_path: Path) -> list[str]:
    return ["--trainer.default_root_dir", str(tmp_path / "runs")]


def test_run_name_through_the_cli(tiny, tmp_path):
    other = tmp_path / "lr.yaml"
    other.write_text("model:\n  lr: 0.01\n")
    name = lambda *args: cli._make_cli("fit", [*args, *runs(tmp_path)]).run_name  # noqa: E731
    assert name("--config", str(tiny.config)) == "c"
    assert name("--config", str(tiny.config), "--config", str(other)) == "lr"  # the last config file's
    assert name("--config", str(tiny.config), "--run_name", "mine") == "mine"  # --run_name wins
    assert name(*tiny.shrink) == "ucf11_tt_gru"  # no config file: DATASET_FACTORIZATION_ARCH


def fit(args: list[str], capsys) -> dict:
    assert cli.fit_main(args) == 0
    return json.loads(Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("metrics: ")).read_text())


def test_resume_refuses_another_recipe_and_resumes_the_same(tiny, tmp_path, capsys):
    args = ["--config", str(tiny.config), *runs(tmp_path)]
    first = fit(args, capsys)
    assert first["epochs"] == 1 and first["run_name"] == "c"
    with pytest.raises(ValueError, match=r"^--ckpt_path '.*/c/version_0/checkpoints/last.ckpt': the checkpoint was "
                                         r"trained with another recipe: model.lr is 0.001 in the checkpoint, 0.05 in "
                                         r"this run; to resume it, set model.lr: 0.001 as in the checkpoint; to train "
                                         r"this recipe, start a new run \(another --run_name, no --ckpt_path\)$"):
        cli.fit_main([*args, "--ckpt_path", "last", "--model.lr", "0.05"])
    with pytest.raises(ValueError, match=r"another recipe: model.rnn_options.gate_activation is \(not set\) in the "
                                         r"checkpoint, 'hard_sigmoid' in this run \(and data.scaling\); to resume it, "
                                         r"leave model.rnn_options.gate_activation unset"):
        cli.fit_main([*args, "--ckpt_path", "last", "--model.rnn_options", "{gate_activation: hard_sigmoid}",
                      "--data.scaling", "center"])
    # the same recipe resumes, with the data elsewhere and other loading options
    moved = tmp_path / "moved"
    moved.symlink_to(tiny.root)
    resumed = fit([*args, "--ckpt_path", "last", "--trainer.max_epochs", "2", "--data.root", str(moved),
                   "--data.load_threads", "2", "--data.cache_dir", str(tmp_path / "cache"),
                   "--data.dataset_options", "{progress: true}"], capsys)
    assert resumed["resumed_from"] == first["last_model_path"] and resumed["epochs"] == 2


def test_paper_twin_neither_shares_the_run_nor_resumes_it(tiny, tmp_path, capsys):
    default, paper = ["--config", str(REPO / "configs" / "ucf11_tt_gru.yaml")], \
        ["--config", str(REPO / "configs" / "paper" / "ucf11_tt_gru.yaml")]
    fit([*default, *tiny.shrink, *runs(tmp_path), "--trainer.limit_train_batches", "1"], capsys)
    assert (tmp_path / "runs" / "ucf11_tt_gru" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    with pytest.raises(FileNotFoundError, match=r"no .*/paper_ucf11_tt_gru/version_\*/checkpoints/last.ckpt"):
        cli._make_cli("fit", [*paper, *tiny.shrink, *runs(tmp_path), "--ckpt_path", "last"])
    # the same name given explicitly: the default's stem makes it another model, named as such
    with pytest.raises(ValueError, match=r"checkpoint is from a different model \(tt-gru 4x4x4x9->2x2x2x2 rank 2, "
                                         r"stem\) than the config \(tt-gru 4x4x4x9->2x2x2x2 rank 2\): stem True != "
                                         r"False$"):
        cli._make_cli("fit", [*paper, *tiny.shrink, *runs(tmp_path), "--ckpt_path", "last",
                              "--run_name", "ucf11_tt_gru"])
    # and without it, the same model: the first recipe key that differs is named
    with pytest.raises(ValueError, match=r"another recipe: model.dropout is 0.25 in the checkpoint, 0.0 in this run "
                                         r"\(and model.recurrent_dropout, model.input_dropout, model.rnn_options"):
        cli._make_cli("fit", [*paper, *tiny.shrink, *runs(tmp_path), "--ckpt_path", "last",
                              "--run_name", "ucf11_tt_gru", "--model.stem", "true"])


def test_keys_that_are_not_the_recipe_may_differ():
    hparams = {"arch": "gru", "lr": 1e-3, "rnn_options": None, "num_classes": 3, "class_names": ["a", "b", "c"],
               "frame_features": 12, "_instantiator": "x"}
    data = {"dataset": "ucf11", "root": "/a", "cache_dir": "auto", "num_workers": 0, "load_threads": None,
            "batch_size": 16, "size": (16, 12), "dataset_options": {"progress": False}, "annotations": None}
    checkpoint = {"hyper_parameters": hparams, "datamodule_hyper_parameters": data}
    run = lambda model, datamodule: (SimpleNamespace(hparams=model), SimpleNamespace(hparams=datamodule))  # noqa: E731
    check_recipe(checkpoint, *run(
        {**hparams, "rnn_options": {}, "num_classes": 4, "class_names": None, "frame_features": 9,
         "_instantiator": "y"},
        {**data, "root": "/b", "cache_dir": "none", "num_workers": 4, "load_threads": 2, "size": [16, 12],
         "dataset_options": {"progress": True, "build_workers": 2}, "annotations": "/x.txt"}), "m.ckpt")
    check_recipe({"hyper_parameters": hparams}, *run(hparams, {**data, "batch_size": 8}), "m.ckpt")  # no data saved
    with pytest.raises(ValueError, match=r"data.batch_size is 16 in the checkpoint, 8 in this run"):
        check_recipe(checkpoint, *run(hparams, {**data, "batch_size": 8}), "m.ckpt")
    with pytest.raises(ValueError, match=r"data.dataset_options.max_pixels is \(not set\) in the checkpoint, 100 "):
        check_recipe(checkpoint, *run(hparams, {**data, "dataset_options": {"max_pixels": 100}}), "m.ckpt")
