"""Every class in every fold: stratified group k-fold, stratified validation groups, the class
check before training, and the group-aware default split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import clip

from tensorrnn.data.splits import check_classes, group_kfold, stratified_group_folds, validation_groups
from tensorrnn.train.datamodule import VideoDataModule

CLASSES = ["circle", "drift_left", "drift_right", "static", "swing", "zoom"]


def class_specific(num_classes: int = 6, groups_per_class: int = 6, clips_per_group: int = 4):
    """Groups of one class each (a person filming one action): ``(groups, targets)``."""
    targets = np.repeat(np.arange(num_classes), groups_per_class * clips_per_group)
    groups = np.repeat(np.arange(num_classes * groups_per_class), clips_per_group)
    return groups, targets


def test_class_specific_groups_give_every_class_in_every_fold():
    groups, targets = class_specific()
    seen = []
    for fold in range(5):
        train, test = group_kfold(groups, 5, fold, targets=targets)
        assert set(targets[train].tolist()) == set(range(6)) and set(targets[test].tolist()) == set(range(6))
        assert not set(groups[train].tolist()) & set(groups[test].tolist())
        assert len(train) + len(test) == len(groups)
        # 6 groups a class over 5 folds: one or two groups of every class in every test fold
        per_class = np.bincount(targets[test], minlength=6) // 4
        assert per_class.min() >= 1 and per_class.max() <= 2
        seen += test.tolist()
    assert sorted(seen) == list(range(len(groups)))  # the test folds partition the clips
    # contiguous runs (the rule without targets) test whole classes: the case this fixes
    _, test = group_kfold(groups, 5, 0)
    assert set(targets[test].tolist()) == {0, 1}


def test_shared_groups_keep_the_contiguous_folds():
    groups = np.tile(np.arange(1, 26), 11)  # UCF11: 25 groups in each of 11 classes
    targets = np.repeat(np.arange(11), 25)
    for fold in range(5):
        _, test = group_kfold(groups, 5, fold, targets=targets)
        assert set(groups[test].tolist()) == set(range(5 * fold + 1, 5 * fold + 6))


def test_stratified_folds_balance_class_shares():
    # 3 classes; groups of uneven sizes: every fold gets a share of each class near 1/3
    per_group = np.array([[6, 0, 0], [5, 0, 0], [4, 0, 0], [0, 3, 0], [0, 3, 0], [0, 3, 0], [0, 0, 2], [0, 0, 2],
                          [0, 0, 2]])
    fold_of = stratified_group_folds(per_group, 3)
    for k in range(3):
        assert (per_group[fold_of == k].sum(0) > 0).all()
    assert sorted(np.bincount(fold_of).tolist()) == [3, 3, 3]


def test_validation_groups_keep_every_class_in_training():
    groups, targets = class_specific(num_classes=3, groups_per_class=2)
    held = validation_groups(groups, targets, 0.5)  # 3 of 6 groups: one of each class, never a class's last
    assert len(held) == 3 and sorted(targets[np.isin(groups, held)][::4].tolist()) == [0, 1, 2]
    # a class with a single training group keeps it
    groups, targets = np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1])
    for seed in range(5):
        held = validation_groups(np.append(groups, 4), np.append(targets, 2), 0.4, seed=seed)
        assert 4 not in held.tolist() and len(held) == 2
    with pytest.raises(ValueError, match="no training group can be held out"):
        validation_groups([0, 1], [0, 1], 0.5)
    # shared groups: the seeded draw, as before stratification
    shared = np.tile(np.arange(10), 2)
    drawn = validation_groups(shared, np.repeat([0, 1], 10), 0.2, seed=3)
    assert drawn.tolist() == sorted(np.random.default_rng(3).permutation(np.arange(10))[:2].tolist())


def test_check_classes_names_the_class_and_the_fold():
    targets = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"^data.split='x' fold 3: class 'b' has no training clip \(0 in val, 2 in "
                                         r"test\); expected every class in training"):
        check_classes(targets, {"train": np.array([0, 1, 4]), "val": np.array([5]), "test": np.array([2, 3])},
                      ["a", "b", "c"], "data.split='x' fold 3")
    notes = check_classes(targets, {"train": np.arange(6), "test": np.array([0, 1])}, ["a", "b", "c"], "here")
    assert notes == ["here: the test part holds 1 of the 3 classes (none of 'b', 'c')"]
    assert check_classes(targets, {"train": np.arange(6), "test": np.arange(6)}, ["a", "b", "c"], "x") == []


@pytest.fixture(scope="module")
def one_video(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("listed")
    clip(root / "v.avi", 11, num_frames=6)
    return root


def listed(root: Path, tmp_path: Path, groups_per_class: dict[str, int], clips: int = 1) -> Path:
    """An annotation list where every group holds one class (``v_circle_01``)."""
    lines = [f"v.avi {name} v_{name}_{g:02d}" for name, count in groups_per_class.items()
             for g in range(1, count + 1) for _ in range(clips)]
    path = tmp_path / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def module(root: Path, listing: Path, **options) -> VideoDataModule:
    data = VideoDataModule("annotations", str(root), annotations=str(listing), size=[16, 12], num_frames=2,
                           cache_dir=None, dataset_options={"progress": False}, **options)
    data.setup()
    return data


def test_user_list_with_class_specific_groups_trains_and_tests_every_class(one_video, tmp_path):
    listing = listed(one_video, tmp_path, {name: 6 for name in CLASSES})
    data = module(one_video, listing)  # split: auto
    assert data.protocol == ("group_kfold", 5)
    parts = {k: data._splits[k] for k in ("train", "val", "test")}
    for name in ("train", "val", "test"):
        assert sorted({c.target for c in parts[name].clips}) == list(range(6)), name
    groups = {k: {c.group for c in v.clips} for k, v in parts.items()}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert data.split_notes == ["data.split='auto': group_kfold with 5 folds"]
    assert "split 'auto' (group_kfold) fold 0" in data.describe_split()


def test_a_class_with_one_group_is_refused_before_training(one_video, tmp_path):
    listing = listed(one_video, tmp_path, {"circle": 1, "swing": 4, "zoom": 4})
    with pytest.raises(ValueError, match=r"^data.split='group_kfold' fold 0: class 'circle' has no training clip "
                                         r"\(0 in val, 1 in test\)"):
        module(one_video, listing, split="group_kfold", num_folds=3)


def test_logo_with_class_specific_groups_says_its_fold_is_one_class(one_video, tmp_path):
    listing = listed(one_video, tmp_path, {"circle": 3, "swing": 3})
    data = module(one_video, listing, split="logo", fold=4)
    assert data.split_notes == ["data.split='logo' fold 4: the test fold is one group, which holds one class "
                                "('swing'): its accuracy is that class's recall",
                                # 1 of 5 training groups validates: 'circle' has 3 of them, 'swing' 2
                                "data.split='logo' fold 4: the val part holds 1 of the 2 classes (none of 'swing')"]


def test_clip_split_over_groups_says_it_leaks_and_auto_without_groups_is_a_clip_split(one_video, tmp_path):
    listing = listed(one_video, tmp_path, {name: 5 for name in CLASSES[:2]}, clips=4)
    data = module(one_video, listing, split="tt_rnn", val_split="none")
    train, test = (data._splits[k] for k in ("train", "test"))
    shared = {c.group for c in train.clips} & {c.group for c in test.clips}
    assert shared and len(data.split_notes) == 1 and data.split_notes[0].startswith(
        f"data.split='tt_rnn' is a clip split: {len(shared)} of the 10 groups have clips in both")
    plain = tmp_path / "plain.txt"
    plain.write_text("".join(f"v.avi {name}\n" for name in CLASSES[:2] for _ in range(10)))
    data = module(one_video, plain)
    assert data.protocol == ("tt_rnn", 5)
    assert data.split_notes[0] == "data.split='auto': tt_rnn (the clips have no groups: a clip split)"


def test_flip_on_direction_classes_warns_naming_them(one_video, tmp_path):
    listing = listed(one_video, tmp_path, {"swipe_left": 3, "SwipeRight": 3, "turn_cw": 3, "turn_ccw": 3, "up": 3,
                                           "down": 3})
    with pytest.warns(UserWarning, match=r"^data.flip=0.5: a left-right flip turns one class of a pair into "
                                         r"the other \('SwipeRight' / 'swipe_left', 'turn_ccw' / 'turn_cw'\), so"):
        module(one_video, listing, flip=0.5)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module(one_video, listing)  # flip 0 (the default): no warning
        module(one_video, listed(one_video, tmp_path, {"up": 3, "down": 3}), flip=0.5)  # a flip keeps up and down


def test_the_own_videos_config_trains_on_a_list_with_class_specific_groups(one_video, tmp_path, capsys):
    import json

    import yaml

    from tensorrnn.train import cli

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "own_tt_gru.yaml").read_text())
    assert config["data"]["flip"] == 0.0 and config["data"]["split"] == "auto"
    assert config["model"]["in_shape"] == "auto" and config["data"]["dataset"] == "annotations"
    listing = listed(one_video, tmp_path, {"circle": 3, "swing": 3})
    argv = ["--config", "configs/own_tt_gru.yaml", "--data.root", str(one_video), "--data.annotations", str(listing),
            "--data.size", "16", "12", "--data.num_frames", "2", "--data.num_workers", "0", "--data.cache_dir", "none",
            "--data.num_folds", "3", "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path / "runs"),
            "--trainer.enable_progress_bar", "false", "--model.hidden_shape", "2", "2"]
    assert cli.fit_main(argv) == 0
    out = capsys.readouterr().out
    assert "split 'auto' (group_kfold) fold 0: " in out and "note: data.split='auto': group_kfold with 3 folds" in out
    record = json.loads(Path(out.strip().splitlines()[-1].removeprefix("metrics: ")).read_text())
    assert record["split"]["protocol"] == "group_kfold"
    assert record["split"]["notes"][0] == "data.split='auto': group_kfold with 3 folds"
