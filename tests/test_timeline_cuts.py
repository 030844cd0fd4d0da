"""Cuts in ``tensorrnn predict --timeline``: found at the right frames, no window straddles one,
windows start again at each, a shot shorter than a window is one window, segments end at cuts.

The videos are shots of generated clips (``render_clip``) joined one after another: each its own
scene with a panning camera and a moving distractor, or (the case of clips of one class cut
together) one scene whose object jumps at every cut.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tensorrnn.data.sampling import sample_indices, scale_pixels
from tensorrnn.data.synthetic import render_clip, write_video
from tensorrnn.data.video import read_frames, to_rgb
from tensorrnn.deploy.timeline import (CUT_LEVEL, CUT_SIZE, RGB, CutDetector, FrameBuffer, Segmenter, Window,
                                       WindowSampler, change, detect_cuts, parse_span, run_timeline)
from tensorrnn.train.checkpoint import clip_options

SIZE = (96, 72)
OPTIONS = {"num_frames": 4, "size": [16, 12], "eval_sampling": "segments", "eval_views": 2, "scaling": "unit"}


def shots_video(path, lengths, seed: int, size=SIZE, motions=None, look=None, camera="pan", distractors=1):
    """Shots of ``lengths`` frames joined (each its own dim scene unless ``look`` = (background,
    texture) is shared); returns the file and the cut frames."""
    rng = np.random.default_rng(seed)
    shots = []
    for k, length in enumerate(lengths):
        motion = motions[k] if motions else ("left_right", "up_down", "zoom_in", "diagonal")[k % 4]
        shots.append(render_clip(motion, size, length, rng, *(look or (None, None)), distractors=distractors,
                                 camera=camera))
    return write_video(path, np.concatenate(shots)), np.cumsum(lengths)[:-1].tolist()


def changes(video) -> tuple[list[int], np.ndarray]:
    """The cuts :class:`CutDetector` finds in ``video`` decoded at its size, and every pair's change."""
    detector, cuts, scores = CutDetector(), [], []
    for n, frame in enumerate(read_frames(video, size=CUT_SIZE)):
        if detector(frame):  # the verdict on the previous frame
            cuts.append(n - 1)
        scores.append(detector.score)
    return cuts + ([len(scores) - 1] if detector.finish() else []), np.asarray(scores)


def constant(views: torch.Tensor) -> torch.Tensor:
    return torch.tensor([0.7, 0.3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_detector_finds_exactly_the_cuts_with_a_margin(tmp_path, seed):
    """Four shots of 20-40 frames, each its own scene, a panning camera and a moving distractor:
    the cut frames and no other, the change within a shot under half the level, at a cut over twice."""
    video, cuts = shots_video(tmp_path / "shots.avi", (31, 22, 40, 27), seed)
    found, scores = changes(video)
    assert found == cuts == [31, 53, 93]
    assert detect_cuts(read_frames(video, size=CUT_SIZE)) == cuts
    within = np.delete(scores, cuts)
    assert within.max() < CUT_LEVEL / 2 and scores[cuts].min() > 2 * CUT_LEVEL, (within.max(), scores[cuts])


def test_cuts_within_one_scene_are_found(tmp_path):
    """Clips of one class cut together (the user's case): the same background and object, only the
    object jumps back at every cut; a still camera, no distractor, the demo's 24-frame clips."""
    rng = np.random.default_rng(5)
    background = (50 + 10 * rng.random((60, 80, 1)) + np.zeros(3)).astype(np.uint8)   # dim, low contrast
    texture = np.where(np.indices((32, 32)).sum(0)[..., None] // 8 % 2, 220, 30).astype(np.uint8) * np.ones(3, np.uint8)
    video, cuts = shots_video(tmp_path / "one_scene.avi", (24,) * 5, 3, size=(80, 60), motions=["left_right"] * 5,
                              look=(background, texture), camera=None, distractors=0)
    found, scores = changes(video)
    assert found == cuts == [24, 48, 72, 96]
    assert np.delete(scores, cuts).max() < CUT_LEVEL / 2


def test_a_pan_and_noise_are_no_cut():
    """The change of a textured scene under a pan of up to the radius, with fresh sensor noise in
    every frame, is near 0; another scene's is far above the level."""
    rng = np.random.default_rng(0)
    scene = rng.integers(40, 200, (8, 14, 3)).repeat(8, 0).repeat(8, 1)  # (64, 112, 3)

    def view(x):
        return np.clip(scene[8:56, x:x + 64] + rng.integers(-12, 13, (48, 64, 3)), 0, 255).astype(np.uint8)

    frames = [view(x) for x in (0, 3, 6, 10, 14, 17)]  # 3-4 pixels a frame
    assert detect_cuts(frames) == []
    assert max(change(a, b) for a, b in zip(frames, frames[1:])) < 1.5
    assert change(frames[0], np.ascontiguousarray(frames[0][::-1])) > 4 * CUT_LEVEL


def test_fast_motion_is_no_cut_but_a_pair_that_stands_out_is():
    """A bright square crossing a dim frame 7 pixels a frame (beyond the radius: every pair's change
    is above the level, yet the next pair's is as large): no cut. A new scene is a cut, the last
    frame too (the end decides its candidacy)."""
    rng = np.random.default_rng(1)

    def frame(x, level=60):
        image = np.full((48, 64, 3), level) + rng.integers(-6, 7, (48, 64, 3))
        image[14:34, x:x + 20] = (230, 200, 40)
        return np.clip(image, 0, 255).astype(np.uint8)

    crossing = [frame(x) for x in range(0, 44, 7)]
    scores = [change(a, b) for a, b in zip(crossing, crossing[1:])]
    assert min(scores) > CUT_LEVEL
    assert detect_cuts(crossing) == []
    other = [frame(40, level=140), frame(40, level=140)]
    assert detect_cuts(crossing + other) == [len(crossing)]
    assert detect_cuts(crossing + other[:1]) == [len(crossing)]  # a cut before the last frame


@pytest.fixture(scope="module")
def short_shots(tmp_path_factory):
    """Shots of 34, 12, 40 and 13 frames (cuts at 34, 46, 86; 99 frames), at 64x48."""
    return shots_video(tmp_path_factory.mktemp("cuts") / "short.avi", (34, 12, 40, 13), 4, size=(64, 48))


def test_no_window_straddles_a_cut_and_windows_restart_at_each(tmp_path):
    video, cuts = shots_video(tmp_path / "shots.avi", (31, 22, 40, 27), 0)
    options = clip_options(OPTIONS)
    result = run_timeline(video, constant, options, ["a", "b"], parse_span("--window", "16"),
                          parse_span("--stride", "5"), notify=lambda line: None)
    assert [c.frame for c in result.cuts] == cuts and result.cuts[0].time == pytest.approx(31 / 25)
    spans = [(w.start_frame, w.end_frame) for w in result.windows]
    assert not [(s, c) for s in spans for c in cuts if s[0] < c < s[1]]  # none straddles a cut
    expected = [(s, s + 16) for a, b in zip([0, *cuts], [*cuts, 120]) for s in range(a, b - 15, 5)]
    assert spans == expected  # every 5 frames from each shot's first frame: 31, 53 and 93 start windows
    assert [w.shot for w in result.windows] == [sum(c <= s for c in cuts) for s, _ in spans]
    assert [w.index for w in result.windows] == list(range(len(spans)))
    # one label throughout, yet a segment per shot, each ending at its cut
    segments = result.segments()
    assert [(s.label, s.start, s.end) for s in segments] == [
        ("a", 0.0, 31 / 25), ("a", 31 / 25, 53 / 25), ("a", 53 / 25, 93 / 25), ("a", 93 / 25, 119 / 25)]
    assert sum(s.windows for s in segments) == len(spans)
    row = result.to_json()
    assert [c["frame"] for c in row["cuts"]] == cuts and row["cuts"][0]["change"] > CUT_LEVEL
    assert row["stopped"]["reason"] == "end" and row["skipped_shots"] == 0
    assert result.buffer_peak <= result.buffer_capacity == 16  # a young shot keeps its frames: at most a window


def test_a_shot_shorter_than_a_window_is_one_window_of_its_frames(short_shots):
    """Window 20, stride 8: the 12-frame shot (cut before and after) and the 13-frame shot at the
    end of the file are one window each, sampled, padded and scaled as a file that long would be."""
    video, cuts = short_shots
    seen: dict[int, torch.Tensor] = {}

    def classify(views):
        seen[len(seen)] = views
        return torch.tensor([0.2, 0.8])

    options = clip_options(OPTIONS)
    result = run_timeline(video, classify, options, ["a", "b"], parse_span("--window", "20"),
                          parse_span("--stride", "8"), notify=lambda line: None)
    assert [c.frame for c in result.cuts] == cuts == [34, 46, 86]
    spans = [(w.start_frame, w.end_frame) for w in result.windows]
    assert spans == [(0, 20), (8, 28), (34, 46), (46, 66), (54, 74), (62, 82), (86, 99)]
    assert result.stop.reason == "end" and result.stop.unclassified == 0
    for index, (start, end) in ((2, (34, 46)), (6, (86, 99)), (3, (46, 66))):
        frames = read_frames(video, np.arange(start, end), size=(16, 12))
        views = torch.stack([scale_pixels(frames[sample_indices(end - start, 4, "segments", view=v, views=2)], "unit")
                             for v in range(2)])
        torch.testing.assert_close(seen[index], views, rtol=0, atol=0)
    assert [s.end for s in result.segments()] == pytest.approx([34 / 25, 46 / 25, 86 / 25, 99 / 25])
    assert result.buffer_peak <= 20


@pytest.mark.parametrize("pad", ["front", "reject"])
def test_a_shot_shorter_than_the_frames_the_model_reads_is_skipped(short_shots, pad):
    """16 frames a clip: the 12- and 13-frame shots have no window (padding would put zero frames
    before them), and the result says so."""
    video, _ = short_shots
    options = clip_options({**OPTIONS, "num_frames": 16, "pad": pad})
    result = run_timeline(video, constant, options, ["a", "b"], parse_span("--window", "20"),
                          parse_span("--stride", "8"), notify=lambda line: None)
    assert [(w.start_frame, w.end_frame) for w in result.windows] == [(0, 20), (8, 28), (46, 66), (54, 74), (62, 82)]
    assert result.skipped_shots == 2 and result.to_json()["skipped_shots"] == 2


def test_without_cuts_the_windows_run_on_across_them(short_shots):
    video, _ = short_shots
    result = run_timeline(video, constant, clip_options(OPTIONS), ["a", "b"], parse_span("--window", "20"),
                          parse_span("--stride", "8"), notify=lambda line: None, cuts=False)
    assert [w.start_frame for w in result.windows] == list(range(0, 80, 8)) and result.cuts == []
    assert result.to_json()["cuts"] is None and len(result.segments()) == 1
    grid = FrameBuffer(20, 8, WindowSampler(clip_options(OPTIONS), 20).offsets)
    assert result.buffer_capacity == grid.capacity < 20  # no young shot to keep whole


def test_the_frame_buffer_restarts_at_a_cut_and_keeps_a_young_shot_whole():
    buffer = FrameBuffer(length=8, stride=4, offsets=[1, 3, 5, 7], short_shots=True)
    assert buffer.capacity == 8 and [n for n in range(12) if buffer.wants(n)] == list(range(8)) + [9, 11]
    frame = np.zeros((2, 2, 3), np.uint8)
    for n in range(6):
        buffer.add(n, frame)
    buffer.restart(6)  # a cut before frame 6: the 6 frames go, windows start at 6
    assert len(buffer) == 0 and buffer.completed(7) is None and buffer.completed(13) == 0 and buffer.start(1) == 10
    assert buffer.reads(20, 0, 14) and not buffer.reads(12, 1, 6)  # the decoder's view of a shot from 14, from 6


def test_segments_never_merge_across_a_cut():
    def window(i, shot, start):
        return Window(i, start, start + 50, start / 25, (start + 50) / 25, "walk", 0.9, (0.9, 0.1), shot)

    segmenter = Segmenter()
    assert segmenter.add(window(0, 0, 0)) is None and segmenter.add(window(1, 0, 25)) is None
    closed = segmenter.add(window(2, 1, 90))  # the same label after a cut at frame 90 (3.6 s)
    assert (closed.start, closed.end, closed.windows) == (0.0, 3.6, 2)
    assert segmenter.finish().start == 3.6


def test_the_kept_conversion_gives_to_rgbs_pixels(short_shots):
    """The decoder converts through :class:`RGB` (one swscale context for all frames): the very
    pixels of ``to_rgb``, at the detector's size, a model's and the stored one."""
    import av

    video, _ = short_shots
    converters = [RGB(*CUT_SIZE), RGB(16, 12), RGB(None, None)]
    with av.open(str(video)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            for rgb in converters:
                assert np.array_equal(rgb(frame), to_rgb(frame, rgb.width, rgb.height))
            if n == 5:
                break
