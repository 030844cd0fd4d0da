"""Synthetic demo videos: the UCF11 layout, real files, and motion (not looks) as the class."""
from __future__ import annotations

import numpy as np
import pytest

from tensorrnn.data import UCF11, make_demo_videos, probe, read_frames
from tensorrnn.data.synthetic import MOTIONS, render_clip


def test_layout_and_loading(demo_root):
    files = sorted(p.relative_to(demo_root).as_posix() for p in demo_root.rglob("*.avi"))
    assert len(files) == 3 * 2 * 2
    assert files[0] == "diagonal/v_diagonal_01/v_diagonal_01_01.avi"
    ds = UCF11(demo_root, size=(16, 12), progress=False)
    assert ds.classes == sorted(MOTIONS[:3]) and len(ds) == 12
    assert ds.groups.tolist() == [1, 1, 2, 2] * 3
    info = probe(demo_root / files[0])
    assert (info.num_frames, info.width, info.height, info.codec) == (10, 32, 24, "mpeg4")


def object_track(motion: str, seed: int, size=(48, 36), num_frames: int = 12) -> tuple[np.ndarray, ...]:
    """Centroid x, y (pixels) and area (pixels) of the object per frame, on a black scene
    with a white object, so the object is exactly the pixels above mid-grey."""
    width, height = size
    black, white = np.zeros((height, width, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    frames = render_clip(motion, size, num_frames, np.random.default_rng(seed), black, white)
    mask = frames[..., 0] > 128                                        # (T, H, W)
    area = mask.sum(axis=(1, 2))
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    return (mask * cols).sum(axis=(1, 2)) / area, (mask * rows).sum(axis=(1, 2)) / area, area


# motion -> expected sign of the change of (x, y, area) between any two frames, 0 = constant
DIRECTIONS = {"left_right": (1, 0, 0), "right_left": (-1, 0, 0), "up_down": (0, 1, 0), "down_up": (0, -1, 0),
              "diagonal": (1, 1, 0), "zoom_in": (0, 0, 1), "zoom_out": (0, 0, -1), "static": (0, 0, 0)}


@pytest.mark.parametrize("motion", MOTIONS)
def test_every_motion_is_one_monotone_sweep(motion):
    # Any ascending choice of frames (the papers sample 6 of a clip) shows the direction.
    assert set(DIRECTIONS) == set(MOTIONS)
    for seed in range(5):
        track = object_track(motion, seed)
        for values, sign in zip(track, DIRECTIONS[motion]):
            step = np.diff(values)
            if sign == 0:  # constant up to the centroid's rounding when a zoom step is odd
                assert np.abs(values - values[0]).max() <= 0.5, (motion, seed, values)
            else:
                assert (sign * step >= 0).all(), (motion, seed, values)
                assert sign * (values[-1] - values[0]) > (8 if values is track[2] else 0.25 * 36), (motion, values)


def test_where_the_object_is_does_not_give_the_direction_away():
    # Over all frames of many clips, the object's position has the same distribution for
    # opposite directions: only the order of the frames tells them apart.
    x_lr = np.concatenate([object_track("left_right", s)[0] for s in range(60)])
    x_rl = np.concatenate([object_track("right_left", s)[0] for s in range(60)])
    assert abs(x_lr.mean() - x_rl.mean()) < 0.15 * x_lr.std()
    assert abs(x_lr.std() - x_rl.std()) < 0.15 * x_lr.std()
    # and the position across the sweep is spread over the frame, as wide as along it
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
    ({"num_classes": 9}, "num_classes=9"),
    ({"groups": 0}, "groups=0"),
    ({"size": (33, 24)}, r"size=\(33, 24\)"),
    ({"ext": ".gif"}, "ext='.gif'"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_demo_videos(tmp_path, progress=False, **kwargs)
