"""PyAV decoding: probe, frame selection and order, resizing, broken files, safety limits."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import counter_frames, counter_value

from tensorrnn.data.synthetic import write_video
from tensorrnn.data.video import VideoError, probe, read_frames
from tensorrnn.testing import write_corrupt, write_empty, write_truncated


def frame_values(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), -1).mean(axis=1)


@pytest.mark.parametrize("fixture, codec, declared", [("counter_avi", "mpeg4", 12), ("counter_mpg", "mpeg1video", 0)])
def test_probe_counts_frames_even_without_metadata(request, fixture, codec, declared):
    info = probe(request.getfixturevalue(fixture))
    assert (info.num_frames, info.width, info.height, info.codec) == (12, 32, 24, codec)
    assert info.fps == pytest.approx(25.0)
    assert info.declared_frames == declared  # MPEG-PS declares nothing: counting is needed
    assert not info.truncated


@pytest.mark.parametrize("fixture", ["counter_avi", "counter_mpg"])
def test_read_all_frames_in_order(request, fixture):
    frames = read_frames(request.getfixturevalue(fixture))
    assert frames.shape == (12, 24, 32, 3) and frames.dtype == np.uint8
    expected = [counter_value(i) for i in range(12)]
    np.testing.assert_allclose(frame_values(frames), expected, atol=3)


@pytest.mark.parametrize("every", [1, 2, 5, 12, 40])
def test_every_kth_frame_is_the_whole_clip_strided(counter_avi, every):
    frames = read_frames(counter_avi, every=every)
    np.testing.assert_array_equal(frames, read_frames(counter_avi)[::every])
    np.testing.assert_allclose(frame_values(frames), [counter_value(i) for i in range(0, 12, every)], atol=3)


def test_read_selected_indices_in_requested_order_with_repeats(counter_avi):
    indices = [7, 2, 2, 11, 0]
    frames = read_frames(counter_avi, indices)
    assert frames.shape == (5, 24, 32, 3)
    np.testing.assert_allclose(frame_values(frames), [counter_value(i) for i in indices], atol=3)


def test_resize_in_decoder_matches_block_average(tmp_path):
    # left half dark, right half bright, a horizontal ramp in green: smooth enough for 4:2:0
    width, height = 64, 48
    image = np.zeros((height, width, 3), np.uint8)
    image[:, width // 2:, 0] = 200
    image[..., 1] = np.linspace(0, 255, width).astype(np.uint8)[None, :]
    path = write_video(tmp_path / "ramp.avi", np.stack([image] * 3))
    native = read_frames(path, [1]).astype(float)[0]  # (48, 64, 3)
    small = read_frames(path, [1], size=(32, 24))
    assert small.shape == (1, 24, 32, 3)
    blocks = native.reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))  # 2x2 area average
    assert np.abs(small[0].astype(float) - blocks).mean() < 3.0


def test_upscale_and_non_proportional_size(counter_avi):
    frames = read_frames(counter_avi, [3], size=(50, 10))
    assert frames.shape == (1, 10, 50, 3)
    assert frame_values(frames)[0] == pytest.approx(counter_value(3), abs=3)


def test_index_past_end_is_clamped_with_warning(counter_avi):
    with pytest.warns(UserWarning, match="counter.avi.*clamped to frame 11"):
        frames = read_frames(counter_avi, [1, 20])
    np.testing.assert_allclose(frame_values(frames), [counter_value(1), counter_value(11)], atol=3)


def test_truncated_file_is_detected_by_probe(long_noisy_avi, tmp_path):
    assert probe(long_noisy_avi).num_frames == 48
    cut = write_truncated(long_noisy_avi, tmp_path / "cut.avi", keep=0.5)
    info = probe(cut)
    assert info.truncated and info.declared_frames == 48 and 0 < info.num_frames < 48


@pytest.mark.parametrize("maker, reason", [
    (lambda p: write_empty(p), "empty file"),
    (lambda p: write_corrupt(p), "cannot open container"),
])
def test_broken_files_raise_video_error_naming_file(tmp_path, maker, reason):
    path = maker(tmp_path / "broken.avi")
    for call in (probe, read_frames):
        with pytest.raises(VideoError, match=rf"broken\.avi: {reason}"):
            call(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.avi"):
        read_frames(tmp_path / "nope.avi")


def test_safety_limits(counter_avi):
    with pytest.raises(VideoError, match="32x24 exceeds max_pixels=100"):
        probe(counter_avi, max_pixels=100)
    with pytest.raises(VideoError, match="more than max_frames=5"):
        probe(counter_avi, max_frames=5)
    with pytest.raises(VideoError, match="more than max_frames=5"):
        read_frames(counter_avi, max_frames=5)
    with pytest.raises(VideoError, match="beyond max_frames=5"):
        read_frames(counter_avi, [7], max_frames=5)
    assert read_frames(counter_avi, [4], max_frames=5).shape == (1, 24, 32, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"indices": [-1]}, "indices contain -1"),
    ({"indices": [0.5]}, "indices="),
    ({"indices": []}, "indices="),
    ({"size": (0, 10)}, r"size=\(0, 10\)"),
    ({"size": "big"}, "size='big'"),
    ({"every": 0}, "every=0: expected an integer >= 1"),
    ({"every": 2, "indices": [0, 1]}, "every=2 with indices"),
])
def test_bad_arguments_name_the_argument(counter_avi, kwargs, match):
    with pytest.raises(ValueError, match=match):
        read_frames(counter_avi, **kwargs)


def test_write_video_rejects_odd_sizes_and_unknown_extensions(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        write_video(tmp_path / "odd.avi", counter_frames(2, size=(31, 24)))
    with pytest.raises(ValueError, match="extension"):
        write_video(tmp_path / "clip.gif", counter_frames(2))
    assert not list(tmp_path.glob("*.tmp"))
