"""The KTH and Weizmann layouts on tiny encoded replicas: names, groups, the KTH person split,
``00sequences.txt`` subsequences, leave-one-actor-out; their shipped configs."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import clip, counter_frames, counter_value

from tensorrnn import papers
from tensorrnn.data import KTH, Weizmann, build_dataset
from tensorrnn.data.datasets.kth import kth_role, read_sequences
from tensorrnn.data.splits import make_split
from tensorrnn.data.synthetic import write_video
from tensorrnn.data.datasets.weizmann import parse_weizmann_name
from tensorrnn.tensor.shapes import suggest_shapes
from tensorrnn.train.datamodule import VideoDataModule

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(size=(16, 12), num_frames=4, progress=False)
#: The paper's split, written out person by person (Schuldt et al. 2004).
KTH_ROLES = {1: "val", 2: "test", 3: "test", 4: "val", 5: "test", 6: "test", 7: "test", 8: "test", 9: "test",
             10: "test", 11: "train", 12: "train", 13: "train", 14: "train", 15: "train", 16: "train", 17: "train",
             18: "train", 19: "val", 20: "val", 21: "val", 22: "test", 23: "val", 24: "val", 25: "val"}


def kth_name(person: int) -> str:
    """The replica's one video of ``person``: actions in turn, scenario d1..d4 in turn."""
    return f"person{person:02d}_{papers.KTH_ACTIONS[person % 6]}_d{person % 4 + 1}"


@pytest.fixture(scope="module")
def kth_root(tmp_path_factory) -> Path:
    """25 persons x 1 video, in one folder per action as the release's zips unpack; person01's
    video is the 12-frame counter clip, cut into 3 subsequences (and a 4th past its end)."""
    root = tmp_path_factory.mktemp("kth")
    for person in range(1, 26):
        name = kth_name(person)
        path = root / name.split("_")[1] / f"{name}_uncomp.avi"
        if person == 1:
            write_video(path, counter_frames())
        else:
            clip(path, 900 + person, num_frames=6)
    lines = ["The subsequences of each video, frames 1-based", ""]
    lines += [f"{kth_name(1)}\t\tframes\t1-4, 5-8,9-14, 13-20"]  # 9-14 ends past the 12 frames, 13-20 starts past them
    lines += [f"{kth_name(p)}\t\tframes\t1-3, 4-6" for p in range(2, 25)]  # person 25: not listed
    lines += ["person26_walking_d1\t\tframes\t1-10"]  # listed, no video
    (root / "00sequences.txt").write_text("\n".join(lines) + "\n")
    (root / "boxing" / "README.avi").write_bytes(b"not a KTH name")
    return root


def test_kth_official_split_person_by_person():
    for person, role in KTH_ROLES.items():
        assert kth_role(person) == role, person
    assert kth_role(26) == kth_role(0) == "unused"
    counts = {role: sum(r == role for r in KTH_ROLES.values()) for role in ("train", "val", "test")}
    assert counts == {"train": 8, "val": 8, "test": 9}


def test_kth_read_sequences(kth_root, tmp_path):
    sequences = read_sequences(kth_root / "00sequences.txt")
    assert sequences[kth_name(1)] == [(0, 4), (4, 8), (8, 14), (12, 20)]
    assert sequences[kth_name(24)] == [(0, 3), (3, 6)]
    assert len(sequences) == 25 and kth_name(25) not in sequences
    (tmp_path / "bad.txt").write_text("person01_boxing_d1 frames 1-95, 120-96\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 1: frames 120-96: expected FIRST-LAST"):
        read_sequences(tmp_path / "bad.txt")


def test_kth_layout_groups_subsequences_and_roles(kth_root):
    with pytest.warns(UserWarning) as record:
        ds = KTH(kth_root, scaling="none", sampling="uniform", **SMALL)
    messages = " | ".join(str(w.message) for w in record)
    assert "ignored 1 entries" in messages and "README.avi" in messages
    assert f"1 videos are not listed, each read as one clip, e.g. {kth_name(25)}_uncomp.avi" in messages
    assert "1 listed clips have no file" in messages and "person26_walking_d1" in messages
    assert "frames 13-20 of the clip start after the 12 frames of the file" in messages
    assert ds.classes == list(papers.KTH_ACTIONS)
    # person01: 3 subsequences (the 4th starts past the end); persons 2-24: 2 each; 25: whole
    assert len(ds) == 3 + 2 * 23 + 1 and ds.missing == ["person26_walking_d1"]
    assert sorted(set(ds.groups.tolist())) == list(range(1, 26))
    for i, c in enumerate(ds.clips):
        person = int(c.path.name[6:8])
        assert c.group == person and ds.official[i] == KTH_ROLES[person]
        assert ds.classes[c.target] == c.path.name.split("_")[1] == c.path.parent.name
    first = [i for i, c in enumerate(ds.clips) if c.group == 1]
    assert [ds.clips[i].frames for i in first] == [(0, 4), (4, 8), (8, 14)]
    assert [ds.num_frames_per_clip[i] for i in first] == [4, 4, 4]  # 9-14 cut at the 12th frame
    for i, start in zip(first, (0, 4, 8)):  # each subsequence reads its own frames of the file
        grey = ds[i][0][:, 6, 8, 0].numpy()
        np.testing.assert_allclose(grey, [counter_value(start + k) for k in range(4)], atol=3)


def test_kth_subsets_and_the_datamodule_official_split(kth_root, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = KTH(kth_root, subset="test", **SMALL)
        assert set(test.groups.tolist()) == {p for p, r in KTH_ROLES.items() if r == "test"}
        dm = VideoDataModule("kth", str(kth_root), split="official", num_frames=4, size=[16, 12],
                             dataset_options={"progress": False})
        dm.setup()
    persons = {name: sorted(set(ds.groups.tolist())) for name, ds in dm._splits.items()}
    for name in ("train", "val", "test"):
        assert persons[name] == [p for p, r in KTH_ROLES.items() if r == name], name
    assert dm.validation.startswith("the official validation split")
    with pytest.raises(ValueError, match="subset='validation': expected one of 'train', 'val', 'test', 'all'"):
        KTH(kth_root, subset="validation", **SMALL)


def test_kth_whole_videos_and_the_frame_cache(kth_root, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = KTH(kth_root, sequences=None, **SMALL)
        assert len(whole) == 25 and all(c.frames is None for c in whole.clips)
        # subsequences through the decode-once cache: the same frames as decoding the file
        options = dict(SMALL, scaling="none", sampling="uniform")
        direct = KTH(kth_root, **options)
        cached = KTH(kth_root, cache_dir=tmp_path / "cache", store="raw", **options)
        jpeg = KTH(kth_root, cache_dir=tmp_path / "cache", store="jpeg", **options)
    assert cached.num_frames_per_clip == direct.num_frames_per_clip == jpeg.num_frames_per_clip
    for i in range(3):
        np.testing.assert_array_equal(cached[i][0].numpy(), direct[i][0].numpy())
        # the JPEG store reads the same subsequence (its frames within JPEG tolerance)
        assert np.abs(jpeg[i][0].numpy() - direct[i][0].numpy()).max() <= 40


# --- Weizmann ------------------------------------------------------------------------------------

WEIZMANN_FILES = {
    "bend/daria_bend.avi": ("daria", "bend"), "wave1/daria_wave1.avi": ("daria", "wave1"),
    "run/lena_run1.avi": ("lena", "run"), "run/lena_run2.avi": ("lena", "run"),
    "wave2/ido_wave2.avi": ("ido", "wave2"), "walk/eli_walk.avi": ("eli", "walk"),
    "skip/Lena_Skip2.avi": ("lena", "skip"),
}


@pytest.fixture(scope="module")
def weizmann_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weizmann")
    for i, name in enumerate(WEIZMANN_FILES):
        clip(root / name, 950 + i, num_frames=6)
    clip(root / "notes.avi", 990, num_frames=6)
    clip(root / "run" / "lena_fly.avi", 991, num_frames=6)
    return root


def test_weizmann_names():
    assert parse_weizmann_name("lena_run1") == ("lena", "run")
    assert parse_weizmann_name("ido_wave2") == ("ido", "wave2")  # wave1/wave2 are classes, not takes
    assert parse_weizmann_name("daria_wave") is None and parse_weizmann_name("lena_fly") is None


def test_weizmann_layout_groups_and_leave_one_actor_out(weizmann_root):
    with pytest.warns(UserWarning, match=r"ignored 2 entries"):
        ds = Weizmann(weizmann_root, **SMALL)
    assert ds.classes == list(papers.WEIZMANN_ACTIONS) and ds.group_names == ["daria", "eli", "ido", "lena"]
    for i, c in enumerate(ds.clips):
        actor, action = WEIZMANN_FILES[c.path.relative_to(weizmann_root).as_posix()]
        assert ds.group_names[c.group] == actor and ds.classes[c.target] == action
    assert ds[0][0].shape == (4, 12, 16, 3)
    for fold, actor in enumerate(ds.group_names):
        train, test = make_split(ds, "logo", fold=fold)
        assert {WEIZMANN_FILES[ds.clips[i].path.relative_to(weizmann_root).as_posix()][0] for i in test} == {actor}
        assert len(train) + len(test) == len(ds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(build_dataset("weizmann", weizmann_root, **SMALL), Weizmann)


# --- the shipped configs --------------------------------------------------------------------------


@pytest.mark.parametrize("name, dataset, size, split", [
    ("kth_tt_gru", "kth", papers.KTH_FRAME_SIZE, "official"),
    ("weizmann_tt_gru", "weizmann", papers.WEIZMANN_FRAME_SIZE, "logo"),
])
def test_configs_fit_their_frame_size(name, dataset, size, split):
    config = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    model, data = config["model"], config["data"]
    assert (data["dataset"], data["size"], data["split"]) == (dataset, list(size), split)
    features = size[0] * size[1] * 3
    hidden = int(np.prod(model["hidden_shape"]))
    assert tuple(model["in_shape"]) == suggest_shapes(features, 3 * hidden, len(model["hidden_shape"]), gates=3)[0]
    assert int(np.prod(model["in_shape"])) == features
    assert data["flip"] == 0.5  # no class is a direction: walking left is walking
