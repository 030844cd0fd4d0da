"""User mistakes found in review: each gets a one-line ValueError naming the argument, not a
traceback from deep inside, and no option is silently overridden by another."""
from __future__ import annotations

import pytest
import torch

from tensorrnn.cli import main
from tensorrnn.files import atomic_write_text
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import VideoClassifier

TINY = dict(arch="gru", factorization="tt", in_shape=[2, 3, 4], hidden_shape=[2, 2, 2], rank=2, num_classes=3)


def test_unknown_rnn_option_names_the_key_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"model.rnn_options: unknown key 'gate_activaton'.*gate_activation"):
        VideoClassifier(**TINY, rnn_options={"gate_activaton": "hard_sigmoid"})


@pytest.mark.parametrize("arch, key", [("gru", "recurrent_dropout"), ("lstm", "shared_gates"),
                                       ("mlp", "dropout"), ("gru", "rank")])
def test_rnn_option_that_a_model_argument_sets_is_refused_not_silently_overridden(arch, key):
    with pytest.raises(ValueError, match=rf"model.rnn_options.{key}: .*model.{key}"):
        VideoClassifier(**{**TINY, "arch": arch}, rnn_options={key: 0.25})


def test_valid_rnn_options_still_reach_the_network():
    model = VideoClassifier(**TINY, rnn_options={"num_layers": 2, "gate_activation": "hard_sigmoid"})
    assert model.net.rnn.num_layers == 2 and model.net.rnn.gate_activation == "hard_sigmoid"


def test_unknown_dataset_option_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"data.dataset_options: unknown key 'progres'.*'progress'"):
        VideoDataModule("ucf11", str(tmp_path), size=[32, 24], dataset_options={"progres": False})


@pytest.mark.parametrize("key, data_key", [("size", "data.size"), ("num_frames", "data.num_frames"),
                                           ("seed", "data.eval_seed")])
def test_dataset_option_that_a_data_argument_sets_is_refused(tmp_path, key, data_key):
    # silently overriding data.size would leave the checkpoint (and predict) with the wrong one
    with pytest.raises(ValueError, match=rf"data.dataset_options.{key}: .*{data_key}"):
        VideoDataModule("ucf11", str(tmp_path), size=[32, 24], dataset_options={key: 1})


def test_unknown_split_names_data_split(tmp_path):
    with pytest.raises(ValueError, match=r"data.split='kfold': expected one of 'auto', 'tt_rnn'"):
        VideoDataModule("ucf11", str(tmp_path), split="kfold", size=[32, 24])


def test_unknown_dataset_names_data_dataset(tmp_path):
    with pytest.raises(ValueError, match=r"data.dataset='ucf12': expected one of ucf11"):
        VideoDataModule("ucf12", str(tmp_path), size=[32, 24])


def test_atomic_write_under_a_file_is_a_one_line_not_a_directory_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"cannot write .*'.*f/sub/out.json': .*'.*f' is a file"):
        atomic_write_text(tmp_path / "f" / "sub" / "out.json", "{}")
    with pytest.raises(NotADirectoryError, match=r"'.*f' is a file"):
        atomic_write_text(tmp_path / "f" / "out.json", "{}")


def run(argv, capsys):
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, [line for line in captured.err.splitlines() if line.strip()]


@pytest.mark.parametrize("device, expected", [("gpu0", "--device 'gpu0': "), ("meta:x", "--device 'meta:x': ")])
def test_predict_bad_device_is_one_line(tmp_path, capsys, device, expected):
    model = VideoClassifier(**TINY)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"num_frames": 2, "size": [4, 2]}}, tmp_path / "m.ckpt")
    rc, lines = run(["predict", "--ckpt_path", str(tmp_path / "m.ckpt"), "x.avi", "--device", device], capsys)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"error: {expected}")


def test_predict_unavailable_cuda_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model = VideoClassifier(**TINY)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"num_frames": 2, "size": [4, 2]}}, tmp_path / "m.ckpt")
    rc, lines = run(["predict", "--ckpt_path", str(tmp_path / "m.ckpt"), "x.avi", "--device", "cuda"], capsys)
    assert rc == 2 and lines == ["error: --device 'cuda': not available on this machine (torch.cuda.is_available() "
                                 "is False); expected cpu or an available device"]


def test_predict_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    model = VideoClassifier(**TINY)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": {"num_frames": 2, "size": [4, 2]}}, tmp_path / "m.ckpt")
    rc, lines = run(["predict", "--ckpt_path", str(tmp_path / "m.ckpt"), str(tmp_path)], capsys)
    assert rc == 2 and lines == [f"error: VIDEO {str(tmp_path)!r}: is a directory; expected a video file"]


@pytest.mark.parametrize("argv, expected", [
    (["experiment", "recover", "--noise", "x"], "error: tensorrnn experiment recover: argument --noise: invalid float"),
    (["experiment"], "error: tensorrnn experiment: the following arguments are required: EXPERIMENT"),
    (["params", "--ranks", "x"], "error: tensorrnn params: argument --ranks: invalid int value: 'x'"),
    (["prepare", "ucf11"], "error: tensorrnn prepare: expected a dataset and its root"),
])
def test_argument_mistakes_of_every_command_are_one_line(capsys, argv, expected):
    rc, lines = run(argv, capsys)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(expected), lines


def test_runs_folder_that_is_a_file_is_named_by_its_option(tmp_path, capsys):
    import yaml

    (tmp_path / "runs").write_text("not a folder")
    config = {"model": {**TINY, "in_shape": [4, 6, 8, 12], "hidden_shape": [2, 2, 2, 2]},
              "data": {"root": str(tmp_path), "size": [32, 24]},
              "trainer": {"default_root_dir": str(tmp_path / "runs" / "sub")}}
    del config["model"]["num_classes"]  # linked from the data
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    rc, lines = run(["fit", "--config", str(tmp_path / "c.yaml")], capsys)
    assert rc == 2 and lines == [f"error: trainer.default_root_dir={str(tmp_path / 'runs' / 'sub')!r}: "
                                 f"{str(tmp_path / 'runs')!r} is a file; expected a folder for the runs"]


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A config of a 2-class set of 8 clips (16x12, 4 frames) and a TT-GRU that fits its frames."""
    import yaml

    from tensorrnn.data.synthetic import make_demo_videos

    tmp = tmp_path_factory.mktemp("review_train")
    root = make_demo_videos(tmp / "videos", num_classes=2, groups=2, clips_per_group=2, size=(16, 12),
                            num_frames=4, progress=False)
    config = {"model": {"arch": "gru", "factorization": "tt", "in_shape": [4, 4, 4, 9], "hidden_shape": [2, 2, 2, 2],
                        "rank": 2},
              "data": {"root": str(root), "size": [16, 12], "num_frames": 2, "split": "bt_rnn",
                       "dataset_options": {"progress": False}},
              "trainer": {"default_root_dir": str(tmp / "runs"), "max_epochs": 1, "enable_progress_bar": False}}
    (tmp / "c.yaml").write_text(yaml.safe_dump(config))
    return tmp / "c.yaml"


def test_fit_accepts_trainer_enable_checkpointing_false(tiny_config):
    from tensorrnn.train.cli import _make_cli

    # any Trainer argument is accepted; the default checkpoints must not contradict this one
    cli = _make_cli("fit", ["--config", str(tiny_config), "--trainer.enable_checkpointing", "false"])
    assert cli.trainer.checkpoint_callbacks == []
    # best on validation and last; with no validation clips (6 training clips) only the last
    assert len(_make_cli("fit", ["--config", str(tiny_config), "--data.val_split", "clips"]).trainer.checkpoint_callbacks) == 2
    assert len(_make_cli("fit", ["--config", str(tiny_config)]).trainer.checkpoint_callbacks) == 1


def test_one_fold_is_refused_before_training_on_nothing(tmp_path):
    # num_folds=1 held out every clip: Lightning's sampler failed on the empty training set
    with pytest.raises(ValueError, match=r"^data.num_folds=1: expected an integer >= 2$"):
        VideoDataModule("ucf11", str(tmp_path), size=[32, 24], num_folds=1)


def test_a_split_without_training_clips_names_the_options(tmp_path):
    from tensorrnn.data.synthetic import make_demo_videos

    # one group: leave-one-group-out holds out every clip
    root = make_demo_videos(tmp_path, num_classes=2, groups=1, clips_per_group=1, size=(16, 12), num_frames=4,
                            progress=False)
    data = VideoDataModule("ucf11", str(root), split="logo", size=[16, 12], num_frames=2,
                           dataset_options={"progress": False})
    with pytest.raises(ValueError, match=r"^data.split='logo', data.fold=0, data.val_split='auto' leave no training "
                                         r"clips \(0 of 2\); expected a split that trains on some clips$"):
        data.setup()


def test_checkpoint_of_other_classes_is_refused():
    from tensorrnn.train.checkpoint import check_compatible

    # same network, same number of classes, another data set: its outputs mean other classes
    saved = VideoClassifier(**TINY, class_names=["a", "b", "c"])
    checkpoint = {"state_dict": saved.state_dict(), "hyper_parameters": dict(saved.hparams)}
    check_compatible(checkpoint, VideoClassifier(**TINY, class_names=["a", "b", "c"]), "m.ckpt")
    check_compatible(checkpoint, VideoClassifier(**TINY), "m.ckpt")  # no names to compare
    with pytest.raises(ValueError, match=r"--ckpt_path 'm.ckpt': checkpoint is from a different model .*"
                                         r"class_names\[0\] 'a' != 'b'"):
        check_compatible(checkpoint, VideoClassifier(**TINY, class_names=["b", "a", "c"]), "m.ckpt")


def test_checkpoint_of_more_classes_names_num_classes():
    from tensorrnn.train.checkpoint import check_compatible

    saved = VideoClassifier(**{**TINY, "num_classes": 2}, class_names=["a", "b"])
    checkpoint = {"state_dict": saved.state_dict(), "hyper_parameters": dict(saved.hparams)}
    with pytest.raises(ValueError, match=r"different model .*: num_classes 2 != 3$"):
        check_compatible(checkpoint, VideoClassifier(**TINY, class_names=["a", "b", "c"]), "m.ckpt")
