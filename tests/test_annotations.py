"""Your own data: annotation lists (MMAction2's format among them), VideoFolder groups,
``model.in_shape: auto`` and ``--data.size 64 64``, on tiny encoded videos."""
from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import clip

from tensorrnn.data import AnnotationList, VideoFolder, build_dataset
from tensorrnn.data.splits import make_split
from tensorrnn.train import cli
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import VideoClassifier, auto_in_shape

SMALL = dict(size=(16, 12), num_frames=4, progress=False)
#: The replica: relative path -> (action, person).
VIDEOS = {
    "kitchen/chop_anna.avi": ("chop", "anna"), "kitchen/chop_ben.avi": ("chop", "ben"),
    "kitchen/chop_cleo.avi": ("chop", "cleo"), "garden/dig_anna.avi": ("dig", "anna"),
    "garden/dig_ben.avi": ("dig", "ben"), "garden/dig_cleo.avi": ("dig", "cleo"),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("own") / "videos"
    for i, name in enumerate(VIDEOS):
        clip(root / name, 700 + i, num_frames=6)
    clip(root.parent / "outside.avi", 799, num_frames=6)  # a real video next to the root
    return root


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def rel(ds, i: int) -> str:
    return ds.clips[i].path.relative_to(ds.root).as_posix()


def test_mmaction2_video_list_is_read_as_it_is(videos, tmp_path):
    # MMAction2's VideoDataset list: "path label", integer labels from 0
    listing = write(tmp_path / "train_list_videos.txt",
                    [f"{name} {0 if action == 'chop' else 2}" for name, (action, _) in VIDEOS.items()])
    ds = AnnotationList(videos, listing, **SMALL)
    assert ds.classes == ["0", "1", "2"] and not ds.multilabel  # class 1 has no clip in this list
    assert [rel(ds, i) for i in range(len(ds))] == sorted(VIDEOS)
    assert ds.targets.tolist() == [2, 2, 2, 0, 0, 0]  # garden/ (dig) sorts before kitchen/ (chop)
    assert (ds.groups == -1).all()
    frames, target = ds[0]
    assert frames.shape == (4, 12, 16, 3) and int(target) == 2
    # the same through the registry, with absolute paths inside the root
    lines = [f"{videos / name} 1" for name in VIDEOS] + [f"{videos}/garden/dig_ben.avi 0"]
    listing = write(tmp_path / "abs.txt", lines)
    ds = build_dataset("annotations", videos, annotations=listing, **SMALL)
    assert ds.classes == ["0", "1"]
    assert ds.targets.tolist() == [1, 1, 0, 1, 1, 1, 1]  # dig_ben listed twice: both kept, in list order


def test_named_labels_groups_and_group_aware_splits(videos, tmp_path):
    listing = write(tmp_path / "list.txt", ["# path label person", ""]
                    + [f"{name}\t{action}  {person}" for name, (action, person) in VIDEOS.items()])
    ds = AnnotationList(videos, listing, **SMALL)
    assert ds.classes == ["chop", "dig"] and ds.group_names == ["anna", "ben", "cleo"]
    expected = [["anna", "ben", "cleo"].index(VIDEOS[rel(ds, i)][1]) for i in range(len(ds))]
    assert ds.groups.tolist() == expected
    for fold in range(3):  # leave one person out: the test person's clips only, and all of them
        train, test = make_split(ds, "logo", fold=fold)
        assert set(ds.groups[test]) == {fold} and fold not in set(ds.groups[train]) and len(test) == 2
    train, test = make_split(ds, "group_kfold", fold=1, num_folds=2)
    assert set(ds.groups[train].tolist()).isdisjoint(ds.groups[test].tolist())


def test_integer_groups_are_numbered_in_numeric_order(videos, tmp_path):
    persons = {"anna": "10", "ben": "9", "cleo": "100"}
    listing = write(tmp_path / "list.txt", [f"{n} {a} {persons[p]}" for n, (a, p) in VIDEOS.items()])
    ds = AnnotationList(videos, listing, **SMALL)
    assert ds.group_names == ["9", "10", "100"]
    assert [ds.group_names[g] for g in ds.groups] == [persons[VIDEOS[rel(ds, i)][1]] for i in range(len(ds))]


def test_csv_with_header_and_multilabel(videos, tmp_path):
    lines = ["path,label,group"] + [f"{name},{action},{person}" for name, (action, person) in VIDEOS.items()]
    lines[1] = 'kitchen/chop_anna.avi,"chop,dig",anna'  # a clip of both actions
    ds = AnnotationList(videos, write(tmp_path / "list.csv", lines), **SMALL)
    assert ds.multilabel and ds.classes == ["chop", "dig"]
    flags = {rel(ds, i): ds.targets[i].tolist() for i in range(len(ds))}
    assert flags["kitchen/chop_anna.avi"] == [1.0, 1.0]
    assert flags["kitchen/chop_ben.avi"] == [1.0, 0.0] and flags["garden/dig_cleo.avi"] == [0.0, 1.0]
    frames, target = ds[0]
    assert target.dtype.is_floating_point and target.shape == (2,)


def test_classes_file_orders_the_classes_and_integer_labels_index_it(videos, tmp_path):
    classes = write(tmp_path / "classes.txt", ["dig", "chop", "sweep"])
    lines = [f"{name} {action if i % 2 else ['dig', 'chop'].index(action)}"
             for i, (name, (action, _)) in enumerate(VIDEOS.items())]
    ds = AnnotationList(videos, write(tmp_path / "list.txt", lines), classes_file=classes, **SMALL)
    assert ds.classes == ["dig", "chop", "sweep"]
    assert [ds.classes[t] for t in ds.targets] == [VIDEOS[rel(ds, i)][0] for i in range(len(ds))]


def test_bad_lines_are_skipped_with_a_warning_naming_the_file_and_line(videos, tmp_path):
    lines = [f"{name} {action}" for name, (action, _) in VIDEOS.items()]
    lines += ["garden/not_there.avi dig", "garden/dig_anna.avi", "garden/dig_ben.avi dig extra words"]
    classes = write(tmp_path / "classes.txt", ["chop", "dig"])
    lines.insert(2, "kitchen/chop_cleo.avi sweep")
    listing = write(tmp_path / "list.txt", lines)
    with pytest.warns(UserWarning) as record:
        ds = AnnotationList(videos, listing, classes_file=classes, max_bad_fraction=0.5, **SMALL)
    messages = [str(w.message) for w in record]
    assert any(m.startswith(f"{listing}, line 3: skipped: unknown label 'sweep'") for m in messages)
    assert any(m.startswith(f"{listing}, line 8: skipped:") and "not_there.avi: no such file" in m for m in messages)
    assert any(m.startswith(f"{listing}, line 9: skipped: 1 fields") for m in messages)
    assert any(m.startswith(f"{listing}, line 10: skipped: 4 fields") for m in messages)
    assert len(ds) == len(VIDEOS)
    with pytest.raises(ValueError, match=r"list.txt: 4 of 10 lines are bad \(40%\), more than max_bad_fraction=0.1; "
                                         r"first: line 3: unknown label 'sweep'"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            AnnotationList(videos, listing, classes_file=classes, **SMALL)


@pytest.mark.parametrize("entry", ["../outside.avi", "garden/../../outside.avi", "ABS"])
def test_paths_outside_the_root_are_refused(videos, tmp_path, entry):
    entry = str(videos.parent / "outside.avi") if entry == "ABS" else entry
    listing = write(tmp_path / "list.txt", ["garden/dig_anna.avi dig", f"{entry} dig", "kitchen/chop_ben.avi chop"])
    with pytest.raises(ValueError, match=r"list.txt, line 2: path .* is outside root .*expected a path inside"):
        AnnotationList(videos, listing, **SMALL)
    # a '..' that stays inside the root is fine
    listing = write(tmp_path / "ok.txt", ["garden/../kitchen/chop_ben.avi chop", "garden/dig_anna.avi dig"])
    assert len(AnnotationList(videos, listing, **SMALL)) == 2


def test_bad_arguments_name_what_was_expected(videos, tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations='.*nope.txt': no such file"):
        AnnotationList(videos, tmp_path / "nope.txt", **SMALL)
    with pytest.raises(ValueError, match="no lines"):
        AnnotationList(videos, write(tmp_path / "empty.txt", ["# nothing"]), **SMALL)
    with pytest.raises(ValueError, match="delimiter='|': expected one of"):
        AnnotationList(videos, write(tmp_path / "l.txt", ["a.avi 0"]), delimiter="|", **SMALL)
    with pytest.raises(ValueError, match="classes_file=.*repeated: \\['dig'\\]"):
        AnnotationList(videos, tmp_path / "l.txt", classes_file=write(tmp_path / "c.txt", ["dig", "dig"]), **SMALL)


def datamodule(videos: Path, listing: Path, **options) -> VideoDataModule:
    options = {"dataset": "annotations", "root": str(videos), "annotations": str(listing), "num_frames": 4,
               "size": [16, 12], "batch_size": 2, "dataset_options": {"progress": False}, **options}
    return VideoDataModule(**options)


def test_datamodule_group_aware_split_on_an_annotation_list(videos, tmp_path):
    listing = write(tmp_path / "list.txt", [f"{n} {a} {p}" for n, (a, p) in VIDEOS.items()])
    dm = datamodule(videos, listing, split="logo", fold=1, val_split="groups", val_fraction=0.5)
    dm.setup()
    groups = {name: {int(g) for g in ds.groups} for name, ds in dm._splits.items()}
    assert groups["test"] == {1} and len(groups["val"]) == 1 and groups["train"] | groups["val"] == {0, 2}
    assert dm.num_folds == 3 and dm.classes == ["chop", "dig"]
    assert dm.split_sizes() == {"train": 2, "val": 2, "test": 2}
    with pytest.raises(ValueError, match="data.annotations=None: data.dataset='annotations' needs the list file"):
        datamodule(videos, listing, annotations=None)
    with pytest.raises(ValueError, match="data.annotations='.*': only read with data.dataset='annotations'"):
        datamodule(videos, listing, dataset="folder")
    with pytest.raises(ValueError, match="data.dataset_options.classes_file: set by data.classes_file"):
        datamodule(videos, listing, dataset_options={"classes_file": "c.txt"})
    with pytest.raises(ValueError, match="protocol='official': AnnotationList has no official split"):
        datamodule(videos, listing, split="official").setup()


# --- VideoFolder groups ------------------------------------------------------------------------


def test_video_folder_group_depth_takes_the_group_from_a_sub_folder(videos, tmp_path):
    root = tmp_path / "folder"
    for i, (name, (action, person)) in enumerate(VIDEOS.items()):
        (root / action / person).mkdir(parents=True, exist_ok=True)
        (root / action / person / Path(name).name).symlink_to(videos / name)
    (root / "dig" / "loose.avi").symlink_to(videos / "garden/dig_anna.avi")  # above the group level
    with pytest.warns(UserWarning, match=r"ignored 1 entries .* e\.g\. dig/loose\.avi"):
        ds = VideoFolder(root, group_depth=1, **SMALL)
    assert ds.classes == ["chop", "dig"] and ds.group_names == ["anna", "ben", "cleo"]
    assert [ds.group_names[g] for g in ds.groups] == [rel(ds, i).split("/")[1] for i in range(len(ds))]
    train, test = make_split(ds, "logo", fold=2)
    assert [rel(ds, i) for i in test] == ["chop/cleo/chop_cleo.avi", "dig/cleo/dig_cleo.avi"]
    assert (VideoFolder(root, **SMALL).groups == -1).all()  # no group_depth: no groups, as before
    with pytest.raises(ValueError, match="group_depth=0: expected None"):
        VideoFolder(root, group_depth=0, **SMALL)


# --- model.in_shape: auto, --data.size W H --------------------------------------------------------


def test_in_shape_auto_factorises_the_frame_features():
    assert auto_in_shape(64 * 64 * 3, 4) == [8, 8, 12, 16]
    model = VideoClassifier("gru", "tt", "auto", [2, 2, 2], rank=2, num_classes=3, frame_features=16 * 12 * 3)
    assert model.in_shape == (8, 8, 9) and math.prod(model.in_shape) == 576
    with pytest.raises(ValueError, match="model.in_shape='auto' with model.frame_features=None"):
        VideoClassifier(in_shape="auto", num_classes=3)
    with pytest.raises(ValueError, match="model.in_shape='square': expected a list of positive integers or 'auto'"):
        VideoClassifier(in_shape="square", num_classes=3)


def resolved(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.fit_main(args + ["--print_config"]) == 0
    return yaml.safe_load(out.getvalue())


def test_data_size_accepts_two_numbers_as_well_as_a_list():
    assert cli.join_list_values(["--data.size", "64", "64", "--model.rank", "3"]) == ["--data.size", "[64, 64]",
                                                                                     "--model.rank", "3"]
    config = ["--config", "configs/demo_tt_gru.yaml"]
    assert resolved(config + ["--data.size", "64", "48"])["data"]["size"] == [64, 48]
    assert resolved(config + ["--data.size", "[64, 48]"])["data"]["size"] == [64, 48]
    parsed = resolved(config + ["--model.in_shape", "auto", "--data.crop_scale", "0.5", "1"])
    assert parsed["model"]["in_shape"] == "auto" and parsed["data"]["crop_scale"] == [0.5, 1.0]


def write_config(path: Path, videos: Path, listing: Path, out: Path, in_shape) -> Path:
    config = {"seed_everything": 0,
              "model": {"in_shape": in_shape, "hidden_shape": [2, 2, 2, 2], "rank": 2},
              "data": {"dataset": "annotations", "root": str(videos), "annotations": str(listing), "split": "logo",
                       "num_frames": 4, "size": [16, 12], "batch_size": 4, "val_split": "none",
                       "dataset_options": {"progress": False}},
              "trainer": {"max_epochs": 1, "default_root_dir": str(out), "enable_progress_bar": False,
                          "enable_model_summary": False, "logger": False}}
    path.write_text(yaml.safe_dump(config))
    return path


def test_fit_on_an_annotation_list_with_in_shape_auto(videos, tmp_path, capsys):
    listing = write(tmp_path / "list.txt", [f"{n} {a} {p}" for n, (a, p) in VIDEOS.items()])
    config = write_config(tmp_path / "c.yaml", videos, listing, tmp_path / "runs", [8, 20, 20, 18])
    # a shape for another frame size: the error names one that fits 16x12x3 = 576
    with pytest.raises(ValueError, match=r"model.in_shape=\[8, 20, 20, 18\] has 57600 features per frame but the data "
                                         r"gives 576 \(frames of 16x12x3\); expected a shape whose product is 576, "
                                         r"e.g. model.in_shape=\[4, 4, 6, 6\] or model.in_shape: auto"):
        cli.fit_main(["--config", str(config)])
    config = write_config(tmp_path / "c.yaml", videos, listing, tmp_path / "runs", "auto")
    assert cli.fit_main(["--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "split 'logo' fold 0: 4 train, 0 validation, 2 test clips" in out
    record = json.loads(Path(out.strip().splitlines()[-1].removeprefix("metrics: ")).read_text())
    assert "in_shape=(4, 4, 6, 6)" in record["model"]
    from tensorrnn.train.checkpoint import load_model

    model, data = load_model(record["last_model_path"])  # the checkpoint alone rebuilds the model
    assert model.in_shape == (4, 4, 6, 6) and data["annotations"] == str(listing)
    assert np.isfinite(record["test"]["test/acc"])
