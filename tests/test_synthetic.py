"""Synthetic action videos: the UCF11 layout, real files, motion (not looks) as the class, and
the graded-difficulty sets (distractors, camera, clutter, clip lengths)."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest

from tensorrnn.data import UCF11, ActionSetSpec, make_action_set, make_demo_videos, probe, read_frames
from tensorrnn.data import synthetic
from tensorrnn.data.synthetic import ACTION_SETS, MOTIONS, render_clip, scene_size


def test_layout_and_loading(demo_root):
    files = sorted(p.relative_to(demo_root).as_posix() for p in demo_root.rglob("*.avi"))
    assert len(files) == 3 * 2 * 2
    assert files[0] == "diagonal/v_diagonal_01/v_diagonal_01_01.avi"
    ds = UCF11(demo_root, size=(16, 12), progress=False)
    assert ds.classes == sorted(MOTIONS[:3]) and len(ds) == 12
    assert ds.groups.tolist() == [1, 1, 2, 2] * 3
    info = probe(demo_root / files[0])
    assert (info.num_frames, info.width, info.height, info.codec) == (10, 32, 24, "mpeg4")


def object_track(motion: str, seed: int, size=(48, 36), num_frames: int = 12, **options) -> tuple[np.ndarray, ...]:
    """Centroid x, y (pixels) and area (pixels) of the object per frame, on a black scene
    with a white object, so the object is exactly the pixels above mid-grey. ``options``
    go to render_clip (noise stays below mid-grey)."""
    width, height = size
    black, white = np.zeros((height, width, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    frames = render_clip(motion, size, num_frames, np.random.default_rng(seed), black, white, **options)
    mask = frames[..., 0] > 128                                        # (T, H, W)
    return centroid(mask)


def centroid(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """x, y and area per frame of the True pixels of ``mask`` (T, H, W)."""
    area = mask.sum(axis=(1, 2))
    rows, cols = np.arange(mask.shape[1])[:, None], np.arange(mask.shape[2])[None, :]
    return (mask * cols).sum(axis=(1, 2)) / area, (mask * rows).sum(axis=(1, 2)) / area, area


# motion -> expected sign of the change of (x, y, area) between any two frames, 0 = constant
DIRECTIONS = {"left_right": (1, 0, 0), "right_left": (-1, 0, 0), "up_down": (0, 1, 0), "down_up": (0, -1, 0),
              "diagonal": (1, 1, 0), "anti_diagonal": (-1, 1, 0), "diagonal_up": (1, -1, 0),
              "zoom_in": (0, 0, 1), "zoom_out": (0, 0, -1), "static": (0, 0, 0)}
# circle -> sense of its turn on screen (rows grow downwards): +1 clockwise
TURNS = {"circle_cw": 1, "circle_ccw": -1}


def test_every_motion_has_a_direction_test():
    assert set(DIRECTIONS) | set(TURNS) == set(MOTIONS) and len(MOTIONS) == len(set(MOTIONS)) >= 12
    assert MOTIONS[:8] == ("left_right", "up_down", "diagonal", "right_left", "down_up", "zoom_in", "zoom_out",
                           "static")  # the demo's classes, in the demo's order


@pytest.mark.parametrize("motion", DIRECTIONS)
def test_every_motion_is_one_monotone_sweep(motion):
    # Any ascending choice of frames (the papers sample 6 of a clip) shows the direction.
    for seed in range(5):
        track = object_track(motion, seed)
        for values, sign in zip(track, DIRECTIONS[motion]):
            step = np.diff(values)
            if sign == 0:  # constant up to the centroid's rounding when a zoom step is odd
                assert np.abs(values - values[0]).max() <= 0.5, (motion, seed, values)
            else:
                assert (sign * step >= 0).all(), (motion, seed, values)
                assert sign * (values[-1] - values[0]) > (8 if values is track[2] else 0.25 * 36), (motion, values)


@pytest.mark.parametrize("motion", TURNS)
def test_circles_turn_one_way(motion):
    # Any three frames in order (4+ frames apart, >= 1 rad of the arc) turn in the circle's
    # sense: the cross product of their two steps has its sign, for arcs of up to a turn.
    for seed in range(5):
        x, y, area = object_track(motion, seed, size=(96, 72), num_frames=16, object_size=(0.08, 0.12))
        assert (area == area[0]).all() and np.ptp(x) > 10 and np.ptp(y) > 10, (seed, x, y)
        for i, j, k in itertools.combinations(range(16), 3):
            if j - i >= 4 and k - j >= 4:
                cross = (x[j] - x[i]) * (y[k] - y[j]) - (y[j] - y[i]) * (x[k] - x[j])
                assert TURNS[motion] * cross > 4, (motion, seed, i, j, k, cross)


@pytest.mark.parametrize("motion, opposite", [("left_right", "right_left"), ("anti_diagonal", "diagonal_up"),
                                              ("circle_cw", "circle_ccw"), ("zoom_in", "zoom_out")])
def test_where_the_object_is_does_not_give_the_direction_away(motion, opposite):
    # Over all frames of many clips, the object's position has the same distribution for
    # opposite directions: only the order of the frames tells them apart.
    for axis in (0, 1):
        a = np.concatenate([object_track(motion, s)[axis] for s in range(60)])
        b = np.concatenate([object_track(opposite, s)[axis] for s in range(60)])
        assert abs(a.mean() - b.mean()) < 0.15 * a.std(), (axis, a.mean(), b.mean())
        assert abs(a.std() - b.std()) < 0.15 * a.std(), (axis, a.std(), b.std())


def test_the_position_across_a_sweep_spreads_over_the_frame():
    # as wide across the sweep as along it
    y_lr = np.concatenate([object_track("left_right", s)[1] for s in range(60)])
    assert y_lr.std() > 0.5 * np.concatenate([object_track("up_down", s)[1] for s in range(60)]).std()


def test_a_single_frame_does_not_give_the_class_away():
    # The mean colour of a frame varies more within a class than between two classes.
    rng = np.random.default_rng(1)
    means = {m: [render_clip(m, (32, 24), 4, rng)[0].mean() for _ in range(20)] for m in ("left_right", "static")}
    within = np.mean([np.std(v) for v in means.values()])
    between = abs(np.mean(means["left_right"]) - np.mean(means["static"]))
    assert between < within


def test_mpg_output_and_seed_determinism(tmp_path):
    a = make_demo_videos(tmp_path / "a", num_classes=2, groups=1, clips_per_group=1, size=(16, 12),
                         num_frames=6, ext=".mpg", progress=False)
    b = make_demo_videos(tmp_path / "b", num_classes=2, groups=1, clips_per_group=1, size=(16, 12),
                         num_frames=6, ext=".mpg", progress=False)
    path = "up_down/v_up_down_01/v_up_down_01_01.mpg"
    assert probe(a / path).codec == "mpeg1video"
    np.testing.assert_array_equal(read_frames(a / path), read_frames(b / path))


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": len(MOTIONS) + 1}, f"num_classes={len(MOTIONS) + 1}"),
    ({"groups": 0}, "groups=0"),
    ({"size": (33, 24)}, r"size=\(33, 24\)"),
    ({"ext": ".gif"}, "ext='.gif'"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_demo_videos(tmp_path, progress=False, **kwargs)


def clip_digest(monkeypatch, root: Path, make, *args, **kwargs) -> str:
    """sha256 over every clip's path and frames, as ``make`` hands them to write_video: the
    files' content before encoding, so no encoder version enters the hash."""
    digest = hashlib.sha256()

    def capture(path, frames):
        digest.update(Path(path).relative_to(root).as_posix().encode())
        digest.update(np.ascontiguousarray(frames).tobytes())

    monkeypatch.setattr(synthetic, "write_video", capture)
    make(root, *args, progress=False, **kwargs)
    return digest.hexdigest()


# Hashes of the clips of the code before the graded sets existed (tensorrnn f16282d); the
# demo's measured accuracies depend on these very clips.
DEMO = {"num_classes": 6, "groups": 15, "clips_per_group": 4, "size": (80, 60), "num_frames": 24, "seed": 0}
DEMO_DIGEST = "70e6c92ce54e44bc31961f7be5e9c622834c07af5636d3f1ecfda4e503489cc5"


@pytest.mark.parametrize("kwargs, expected", [
    (DEMO, DEMO_DIGEST),
    ({"num_classes": 8, "groups": 3, "clips_per_group": 2, "size": (32, 24), "num_frames": 10, "seed": 3},
     "33c0efe1c97f660123562a84035ed25e5d7dfbfd642e4187d765985e95d34007"),
])
def test_demo_videos_are_unchanged(monkeypatch, tmp_path, kwargs, expected):
    assert clip_digest(monkeypatch, tmp_path, make_demo_videos, **kwargs) == expected


def test_the_easy_preset_is_the_demo(monkeypatch, tmp_path):
    assert ACTION_SETS["easy"] == ActionSetSpec(**DEMO)
    assert clip_digest(monkeypatch, tmp_path, make_action_set, "easy") == DEMO_DIGEST


# Per preset, the hashes of its first clip and of the whole set shrunk to 2 groups of 2 clips
# at 32x24, from the code before the camera and scene-evidence presets existed (tensorrnn
# b7f361d): a new option must not draw from the random stream while it is off.
PRESET_DIGESTS = {
    "easy": ("ec3c57b9b40e1e01dbde37da54700deaa3d74b4a2b0a607569ec7d563553ad38",
             "f59fd9e24e53af8914d6daf7bc0d7571c302a3a207aba97a066debe4fe2e93ff"),
    "medium": ("1b4dd00b03a4bd8b9792a42c27a4f93488f1c5c57d62d33e8c86e430562ec750",
               "309879118ab568134700253bff316108c0d259014ed4872cc25491603f6dc0f2"),
    "hard": ("8ab4a408ce12beb9a8ad1c3d936a5d61016cdee0641ad4fb55461b4545d13abd",
             "bb6f17b143b0d376757789f810608ba1daa1f2c8e87feeb6a6aeec98f702baed"),
    "varied": ("5aebd30ee1629a3ed0ea46d915e4015b598b95f89e0492d350a72266ffff81f2",
               "eaeac9626ce3264a34b9db061dfb8c8ecc6e828824b3d2a57ef9ed8070a9063b"),
    "cluttered": ("d4a28f884336f29d12f95d74e0f9b56ac30326776745a495f1c7a1aa3d8151ad",
                  "a2eaea630ee12bd3b38f0c7b1d83093bc041011bbdb680f8f017dc3ad57b94c6"),
}


class _FirstClip(Exception):
    pass


@pytest.mark.parametrize("name", PRESET_DIGESTS)
def test_existing_presets_are_unchanged(monkeypatch, tmp_path, name):
    first, small = PRESET_DIGESTS[name]
    digest = hashlib.sha256()

    def capture_first(path, frames):
        digest.update(Path(path).relative_to(tmp_path).as_posix().encode())
        digest.update(np.ascontiguousarray(frames).tobytes())
        raise _FirstClip

    monkeypatch.setattr(synthetic, "write_video", capture_first)
    with pytest.raises(_FirstClip):
        make_action_set(tmp_path, name, progress=False)
    assert digest.hexdigest() == first
    shrunk = dataclasses.replace(ACTION_SETS[name], groups=2, clips_per_group=2, size=(32, 24))
    assert clip_digest(monkeypatch, tmp_path, make_action_set, shrunk) == small


def test_presets():
    assert list(ACTION_SETS) == ["easy", "medium", "hard", "varied", "cluttered", "still", "pan", "pan_zoom",
                                 "still_distractor", "pan_distractor", "pan_zoom_distractor", "scene", "scene_hard"]
    varied = dataclasses.replace(ACTION_SETS["hard"], object_size=(0.08, 0.3), speed=(0.8, 1.8), noise=24)
    assert ACTION_SETS["varied"] == varied
    assert ACTION_SETS["cluttered"] == dataclasses.replace(varied, clutter=True)
    medium, hard = ACTION_SETS["medium"], ACTION_SETS["hard"]
    assert 8 <= medium.num_classes <= 12 and medium.distractors == 1 and medium.frame_range == (40, 160)
    assert (hard.num_classes, hard.distractors, hard.camera, hard.clutter, hard.num_clips) == (12, 1, "pan", False, 384)
    big = dataclasses.replace(hard, size=[160, 120])  # lists (from JSON) become tuples
    assert big.size == (160, 120) and len({big, hard}) == 2 and big.camera == "pan"
    # the camera's axis, on hard's classes, groups and clips; nothing else changed
    for camera in (None, "pan", "pan_zoom"):
        for distractors in (0, 1):
            name = (camera or "still") + ("_distractor" if distractors else "")
            assert ACTION_SETS[name] == dataclasses.replace(hard, camera=camera, distractors=distractors), name
    assert ACTION_SETS["pan_distractor"] == hard
    # the scene as evidence, beside its reference
    assert ACTION_SETS["scene"] == dataclasses.replace(ACTION_SETS["easy"], scene_evidence=True)
    assert ACTION_SETS["scene_hard"] == dataclasses.replace(hard, scene_evidence=True)
    assert not any(spec.scene_evidence for name, spec in ACTION_SETS.items() if not name.startswith("scene"))


@pytest.mark.parametrize("name", ["still", "pan", "pan_zoom", "still_distractor", "pan_distractor",
                                  "pan_zoom_distractor"])
def test_the_camera_presets_film_with_their_camera(monkeypatch, tmp_path, name):
    # Every clip of the preset is filmed by the camera its name says: the views the
    # renderer computes are None (still), a pan at zoom 1, or a pan with a zoom.
    spec = dataclasses.replace(ACTION_SETS[name], num_classes=3, groups=2, clips_per_group=2, size=(32, 24),
                               num_frames=(6, 10))
    cameras, views, distractors = [], [], []
    camera_path, place = synthetic._camera_path, synthetic._distractors

    def spy_camera(camera, *args):
        cameras.append(camera)
        views.append(camera_path(camera, *args))
        return views[-1]

    def spy_distractors(count, *args):
        distractors.append(count)
        return place(count, *args)

    monkeypatch.setattr(synthetic, "_camera_path", spy_camera)
    monkeypatch.setattr(synthetic, "_distractors", spy_distractors)
    monkeypatch.setattr(synthetic, "write_video", lambda path, frames: None)
    make_action_set(tmp_path, spec, progress=False)
    camera = {"still": None, "pan": "pan", "pan_zoom": "pan_zoom"}[name.removesuffix("_distractor")]
    assert cameras == [camera] * 12 and distractors == [int(name.endswith("_distractor"))] * 12
    for view in views:
        if camera is None:
            assert view is None
            continue
        shift_x, shift_y, zoom = view
        assert np.hypot(np.ptp(shift_x), np.ptp(shift_y)) > 0.5           # the view travels
        if camera == "pan":
            assert (zoom == 1).all()
        else:
            assert max(zoom[-1] / zoom[0], zoom[0] / zoom[-1]) > 1.1     # and zooms


def group_backgrounds(clutter: bool, scene_evidence: bool, classes: int = 4, groups: int = 4) -> np.ndarray:
    """The first frame of every group's first clip, (classes, groups, H, W, 3) float: no noise
    and a tiny object, so a frame is its group's scene."""
    spec = ActionSetSpec(num_classes=classes, groups=groups, clips_per_group=1, size=(48, 36), num_frames=1,
                         noise=0, object_size=(0.05, 0.05), clutter=clutter, scene_evidence=scene_evidence)
    frames = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(synthetic, "write_video", lambda path, f: frames.append(f[0].astype(float)))
        make_action_set("unused", spec, progress=False)
    return np.array(frames).reshape(classes, groups, 36, 48, 3)


@pytest.mark.parametrize("clutter", [False, True])
def test_scene_evidence_makes_a_class_s_scenes_alike(clutter):
    # Distance of the mean colours of two groups' scenes: within a class and between classes.
    # With scene evidence the groups of a class are much closer than two classes; without
    # it a class's groups are as far apart as any two. Either way every group is its own scene.
    ratios = {}
    for evidence in (False, True):
        scenes = group_backgrounds(clutter, evidence)
        means = scenes.mean(axis=(2, 3))                                  # (classes, groups, 3)
        classes, groups = means.shape[:2]
        within = [np.linalg.norm(means[c, a] - means[c, b]) for c in range(classes)
                  for a, b in itertools.combinations(range(groups), 2)]
        between = [np.linalg.norm(means[c, a] - means[d, b]) for c, d in itertools.combinations(range(classes), 2)
                   for a in range(groups) for b in range(groups)]
        ratios[evidence] = np.mean(within) / np.mean(between)
        for c in range(classes):
            for a, b in itertools.combinations(range(groups), 2):
                assert np.abs(scenes[c, a] - scenes[c, b]).mean() > 3, (evidence, c, a, b)
    assert ratios[True] < 0.5 and ratios[False] > 0.75, ratios


TINY = ActionSetSpec(num_classes=2, groups=2, clips_per_group=2, size=(32, 24), num_frames=(3, 8), distractors=2,
                     camera="pan_zoom", clutter=True, object_size=(0.1, 0.4), speed=(0.5, 2.0), noise=30)


def test_make_action_set_layout_counts_and_loading(tmp_path):
    spec = dataclasses.replace(ACTION_SETS["hard"], groups=2, clips_per_group=2, num_frames=(3, 5))
    root = make_action_set(tmp_path, spec, size=(32, 24), progress=False)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.avi"))
    assert len(files) == 12 * 2 * 2 and files[0] == "anti_diagonal/v_anti_diagonal_01/v_anti_diagonal_01_01.avi"
    ds = UCF11(root, size=(16, 12), progress=False)
    assert ds.classes == sorted(MOTIONS) and len(ds) == 48 and ds.groups.tolist() == [1, 1, 2, 2] * 12
    assert (probe(root / files[0]).width, probe(root / files[0]).height) == (32, 24)


def test_clip_lengths_are_drawn_from_the_range(tmp_path):
    root = make_action_set(tmp_path, dataclasses.replace(TINY, num_frames=(4, 9), groups=3), progress=False)
    lengths = [probe(p).num_frames for p in sorted(root.rglob("*.avi"))]
    assert len(lengths) == 12 and min(lengths) >= 4 and max(lengths) <= 9 and len(set(lengths)) >= 3, lengths


def test_same_seed_same_files_another_seed_other_files(tmp_path):
    runs = [make_action_set(tmp_path / name, TINY, seed=seed, progress=False)
            for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    contents = [[p.read_bytes() for p in sorted(root.rglob("*.avi"))] for root in runs]
    assert len(contents[0]) == 8 and contents[0] == contents[1]
    assert all(a != c for a, c in zip(contents[0], contents[2]))


def test_distractors_add_objects_of_their_own_look():
    # On a black scene with a white object, the distractors are the other lit pixels: none
    # without distractors; with two, most frames show them, and they move.
    size, black, white = (48, 36), np.zeros((36, 48, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    for seed in range(4):
        plain = render_clip("static", size, 12, np.random.default_rng(seed), black, white, noise=0)
        busy = render_clip("static", size, 12, np.random.default_rng(seed), black, white, noise=0, distractors=2)
        assert not (plain.max(axis=-1) > 0)[plain.min(axis=-1) < 255].any()
        other = (busy.max(axis=-1) > 0) & (busy.min(axis=-1) < 255)   # (T, H, W): lit, not white
        area = other.sum(axis=(1, 2))
        assert (area > 20).mean() >= 0.75, (seed, area)
        assert (other[0] != other[-1]).sum() > 20, seed               # not a still scene


def test_render_clip_wants_a_background_of_the_scene_size():
    # a panning camera films a scene larger than the frame
    assert scene_size((32, 24), "pan") > scene_size((32, 24)) == (32, 24)
    with pytest.raises(ValueError, match="background of 32x24: expected the scene size 42x32"):
        render_clip("static", (32, 24), 4, np.random.default_rng(0), np.zeros((24, 32, 3), np.uint8), camera="pan")


def ramp_scene(size, camera) -> np.ndarray:
    """A scene whose red is its column and green its row: a frame pixel tells where it looks."""
    width, height = scene_size(size, camera)
    rows, cols = np.mgrid[:height, :width]
    return np.stack([cols, rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def seen(frames: np.ndarray, obj: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (offset, step) of the ramp scene's coordinate along ``axis`` (0: x, 1: y)
    seen at frame pixel p: ``offset + step * p``, fitted over the pixels not of the object."""
    pixel = np.indices(frames.shape[1:3])[1 - axis]                  # (H, W): column or row index
    fits = np.array([np.polyfit(pixel[~o], f[..., axis][~o], 1) for f, o in zip(frames, obj)])
    return fits[:, 1], fits[:, 0]


@pytest.mark.parametrize("camera", ["pan", "pan_zoom"])
def test_the_camera_moves_the_whole_scene(camera):
    # A static white (blue 255) object over the ramp: the scene point under the object stays
    # the same while the camera's view moves (and zooms) over the scene.
    size, white = (96, 72), np.full((8, 8, 3), 255, np.uint8)
    tested = 0
    for seed in range(12):
        frames = render_clip("static", size, 10, np.random.default_rng(seed), ramp_scene(size, camera), white,
                             noise=0, camera=camera, object_size=(0.14, 0.14)).astype(float)
        obj = frames[..., 2] > 128                                     # (T, H, W)
        whole = ~(obj[:, [0, -1], :].any(axis=(1, 2)) | obj[:, :, [0, -1]].any(axis=(1, 2)))  # off the borders
        if whole.sum() < 5:  # a static object near a border leaves the view: its centroid is off
            continue
        tested += 1
        frames, obj = frames[whole], obj[whole]
        centre, steps = [], []
        for axis, position in zip((0, 1), centroid(obj)):
            offset, step = seen(frames, obj, axis)
            under_object = offset + step * position
            assert np.ptp(under_object) < 1.5, (seed, axis, under_object)
            centre.append(offset + step * size[axis] / 2)
            steps.append(step)
        assert np.hypot(np.ptp(centre[0]), np.ptp(centre[1])) > 3, (seed, centre)  # the camera moved
        np.testing.assert_allclose(steps[0], steps[1], atol=0.03)      # one zoom for both axes
        zoom, area = steps[0][0] / steps[0], centroid(obj)[2]          # zoom relative to the first frame
        if camera == "pan":
            np.testing.assert_allclose(steps[0], 1, atol=0.03)
            assert (area == area[0]).all()
        else:  # the object grows or shrinks with the view
            assert max(zoom[-1], 1 / zoom[-1]) > 1.08 and (np.diff(zoom) * (zoom[-1] - 1) > -0.01).all(), zoom
            np.testing.assert_allclose(np.sqrt(area / area[0]), zoom, rtol=0.1)  # sides of 20 px: +-5 % each
    assert tested >= 5, tested


def test_clutter_raises_the_background_contrast(monkeypatch, tmp_path):
    # With a tiny object and no noise a frame's contrast is the background's.
    spec = ActionSetSpec(num_classes=1, groups=6, clips_per_group=1, size=(32, 24), num_frames=2, noise=0,
                         object_size=(0.05, 0.05))
    contrast = {}
    for clutter in (False, True):
        stds = []
        monkeypatch.setattr(synthetic, "write_video", lambda path, frames: stds.append(frames.std()))
        make_action_set(tmp_path, dataclasses.replace(spec, clutter=clutter), progress=False)
        contrast[clutter] = np.median(stds)
    assert contrast[True] > 4 * contrast[False], contrast


@pytest.mark.parametrize("kwargs, match", [
    ({"num_classes": 0}, "num_classes=0: expected an integer in 1..12"),
    ({"num_classes": 13}, "num_classes=13"),
    ({"groups": 100}, "groups=100"),
    ({"clips_per_group": 2.0}, r"clips_per_group=2\.0"),
    ({"size": (33, 24)}, r"size=\(33, 24\)"),
    ({"num_frames": 0}, "num_frames=0"),
    ({"num_frames": (0, 5)}, r"num_frames=\(0, 5\): expected .*1 <= min <= max"),
    ({"num_frames": (9, 5)}, r"num_frames=\(9, 5\)"),
    ({"num_frames": "40-160"}, "num_frames='40-160'"),
    ({"distractors": -1}, "distractors=-1"),
    ({"camera": "zoom"}, "camera='zoom': expected one of None, 'pan', 'pan_zoom'"),
    ({"clutter": "yes"}, "clutter=.yes.: expected one of False, True"),
    ({"scene_evidence": "yes"}, "scene_evidence=.yes.: expected one of False, True"),
    ({"object_size": (0.3, 0.1)}, r"object_size=\(0.3, 0.1\)"),
    ({"speed": (0, 1)}, r"speed=\(0, 1\)"),
    ({"speed": (1, 3)}, r"speed=\(1, 3\)"),
    ({"noise": -1}, "noise=-1"),
])
def test_bad_spec_values(kwargs, match):
    with pytest.raises(ValueError, match=match) as error:
        ActionSetSpec(**kwargs)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=match):  # replace validates too
        dataclasses.replace(ActionSetSpec(), **kwargs)


@pytest.mark.parametrize("args, kwargs, match", [
    (("nightmare",), {}, "spec='nightmare': expected an ActionSetSpec or a preset of easy, medium, hard"),
    ((None,), {}, "spec=None"),
    (("easy",), {"size": (30, 25)}, r"size=\(30, 25\)"),
    (("easy",), {"seed": -1}, "seed=-1"),
    (("easy",), {"ext": ".gif"}, "ext='.gif'"),
])
def test_make_action_set_bad_arguments(tmp_path, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_action_set(tmp_path, *args, progress=False, **kwargs)
    assert not any(tmp_path.iterdir())  # nothing written
