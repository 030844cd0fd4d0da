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


def motion_energy(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames."""
    return float(np.abs(np.diff(frames.astype(float), axis=0)).mean())


def test_motion_is_the_class():
    rng = np.random.default_rng(0)
    energy = {m: np.mean([motion_energy(render_clip(m, (48, 36), 12, rng)) for _ in range(4)]) for m in MOTIONS}
    moving = [energy[m] for m in ("left_right", "up_down", "diagonal", "circle", "zoom")]
    assert min(moving) > 3 * energy["static"]  # static differs only by per-frame sensor noise
    # horizontal motion moves the column profile, vertical motion the row profile
    lr = render_clip("left_right", (48, 36), 12, rng).astype(float)
    ud = render_clip("up_down", (48, 36), 12, rng).astype(float)
    assert np.diff(lr.mean(axis=1), axis=0).std() > np.diff(lr.mean(axis=2), axis=0).std()
    assert np.diff(ud.mean(axis=2), axis=0).std() > np.diff(ud.mean(axis=1), axis=0).std()


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
