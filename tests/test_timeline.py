"""``tensorrnn predict --timeline``: a long video classified window by window, with constant memory.

A tiny TT-GRU learns three brightness classes (a few seconds of training); the timeline video is
three clips of those classes one after the other, at twice the model's frame size: three shots,
with cuts at frames 48 and 96, where the windows start again (tests/test_timeline_cuts.py tests
the cuts themselves).
"""
from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tensorrnn.cli import main as cli_main
from tensorrnn.data.sampling import sample_indices, scale_pixels
from tensorrnn.data.synthetic import write_video
from tensorrnn.data.video import read_frames
from tensorrnn.deploy import predict
from tensorrnn.deploy.timeline import FrameBuffer, Stop, WindowSampler, parse_span, run_timeline
from tensorrnn.testing import write_truncated
from tensorrnn.train import cli
from tensorrnn.train.checkpoint import clip_options, load_model

SHADES = {"dark": 40, "mid": 125, "bright": 210}  # the class is the brightness: learnable in a few steps
CLIP = 48      # frames of each clip in the timeline video (1.92 s at 25 fps)
WINDOW, STRIDE = 16, 4


def shade_frames(level: int, rng: np.random.Generator, num_frames: int = 8, size=(16, 12)) -> np.ndarray:
    width, height = size
    return np.clip(level + rng.integers(-20, 21, (num_frames, height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("timeline")
    rng = np.random.default_rng(0)
    for name, level in SHADES.items():  # UCF11 layout: <class>/v_<class>_<GG>/v_<class>_<GG>_<CC>.avi
        for group in (1, 2, 3):
            for c in (1, 2):
                stem = f"v_{name}_{group:02d}"
                write_video(tmp / "videos" / name / stem / f"{stem}_{c:02d}.avi", shade_frames(level, rng))
    config = {
        "seed_everything": 0,
        "model": {"arch": "gru", "factorization": "tt", "in_shape": [4, 4, 4, 9], "hidden_shape": [2, 2, 2, 2],
                  "rank": 2, "lr": 0.03, "frame_diff": False},  # the class is the look, not a motion
        "data": {"dataset": "ucf11", "root": str(tmp / "videos"), "split": "group_kfold", "num_folds": 3,
                 "num_frames": 4, "size": [16, 12], "scaling": "unit", "batch_size": 4, "val_split": "none",
                 "dataset_options": {"progress": False}},
        "trainer": {"max_epochs": 8, "default_root_dir": str(tmp / "runs"), "enable_progress_bar": False,
                    "enable_model_summary": False},
    }
    (tmp / "c.yaml").write_text(yaml.safe_dump(config))
    assert cli.fit_main(["--config", str(tmp / "c.yaml")]) == 0
    ckpt = next((tmp / "runs").rglob("last.ckpt"))
    # the timeline: dark, mid, bright, at twice the model's frame size (resized as in training)
    rng = np.random.default_rng(7)
    frames = np.concatenate([shade_frames(level, rng, CLIP, size=(32, 24)) for level in SHADES.values()])
    video = write_video(tmp / "long.avi", frames)
    return str(ckpt), video, tmp


def shot_windows(frames: int, cuts, closed: bool = True) -> int:
    """Windows of WINDOW frames every STRIDE in each shot of ``frames`` frames split at ``cuts``;
    a shorter shot that a cut ends (or the end of the file, ``closed``) is one window."""
    bounds = [0, *cuts, frames]
    count = 0
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if b - a >= WINDOW:
            count += (b - a - WINDOW) // STRIDE + 1
        elif cuts and (i < len(cuts) or closed):
            count += 1
    return count


def run_json(capsys, *argv) -> tuple[int, dict, str]:
    code = predict.main(list(argv) + ["--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_three_clips_make_three_segments_in_order(trained, capsys):
    ckpt, video, tmp = trained
    plot = tmp / "plots" / "timeline.png"
    code, result, err = run_json(capsys, "--ckpt_path", ckpt, "--timeline", str(video), "--window", str(WINDOW),
                                 "--stride", str(STRIDE), "--plot", str(plot))
    assert code == 0
    segments = result["segments"]
    assert [s["label"] for s in segments] == list(SHADES)
    assert [c["frame"] for c in result["cuts"]] == [CLIP, 2 * CLIP]  # the changes of shade are cuts
    for segment, true_end in zip(segments, (CLIP / 25, 2 * CLIP / 25)):
        assert segment["end"] == pytest.approx(true_end)  # a segment ends at the cut
    assert segments[0]["start"] == 0.0 and segments[-1]["end"] == pytest.approx(3 * CLIP / 25)
    assert [a["end"] for a in segments[:-1]] == [b["start"] for b in segments[1:]]  # they tile the time axis
    rows = result["windows"]
    assert len(rows) == 3 * ((CLIP - WINDOW) // STRIDE + 1) == sum(s["windows"] for s in segments)
    assert [(r["start_frame"], r["end_frame"]) for r in rows[:2]] == [(0, WINDOW), (STRIDE, STRIDE + WINDOW)]
    assert [r["start_frame"] for r in rows if r["start_frame"] % CLIP == 0] == [0, CLIP, 2 * CLIP]  # restarts
    for row in rows:
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["probability"] == max(row["probabilities"].values())
    assert result["stopped"]["reason"] == "end" and result["stopped"]["frames"] == 3 * CLIP
    assert err.count("resized to the model's 16x12") == 1  # said once
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(plot.parent.glob(".*tmp"))  # written atomically: no temporary file left
    # --no-cuts: windows every stride from frame 0, across the changes of shade
    code, plain, _ = run_json(capsys, "--ckpt_path", ckpt, "--timeline", str(video), "--window", str(WINDOW),
                              "--stride", str(STRIDE), "--no-cuts")
    assert code == 0 and plain["cuts"] is None
    assert [r["start_frame"] for r in plain["windows"]] == list(range(0, 3 * CLIP - WINDOW + 1, STRIDE))


def test_each_window_is_scored_like_a_clip_of_its_frames(trained, capsys):
    """Reference built from the public pieces: the window's frames decoded by read_frames (as
    decoded, though the model trained on the JPEG store), the checkpoint's sampling (3 views of 4
    segments), pixel scaling and the model's multi-view mean."""
    ckpt, video, _ = trained
    model, data = load_model(ckpt)
    assert (data["eval_sampling"], data["eval_views"], data["scaling"]) == ("segments", 3, "unit")
    assert data["store"] == "jpeg" and data["cache_dir"] == "auto"   # trained on the JPEG store
    _, result, _ = run_json(capsys, "--ckpt_path", ckpt, "--timeline", str(video), "--window", str(WINDOW),
                            "--stride", str(STRIDE))
    rows = result["windows"]
    for row in (rows[0], rows[7], rows[-1]):
        frames = read_frames(video, np.arange(row["start_frame"], row["end_frame"]), size=(16, 12))
        views = torch.stack([scale_pixels(frames[sample_indices(WINDOW, 4, "segments", view=v, views=3)], "unit")
                             for v in range(3)])
        with torch.no_grad():
            expected = model.forward_views(views[None])[0][0].double()
        got = torch.tensor([row["probabilities"][c] for c in model.hparams.class_names], dtype=torch.float64)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_a_truncated_file_keeps_its_earlier_windows(trained, capsys):
    ckpt, video, tmp = trained
    cut = write_truncated(video, tmp / "cut.avi", keep=0.6)
    args = ["--ckpt_path", ckpt, "--window", str(WINDOW), "--stride", str(STRIDE)]
    _, full, _ = run_json(capsys, *args, "--timeline", str(video))
    code, part, err = run_json(capsys, *args, "--timeline", str(cut))
    assert code == 0
    stop = part["stopped"]
    assert stop["reason"] == "truncated" and 0 < stop["frames"] < 3 * CLIP
    kept = part["windows"]
    assert len(kept) == shot_windows(stop["frames"], [c["frame"] for c in part["cuts"]], closed=False) >= 2
    assert kept == full["windows"][:len(kept)]  # the windows before the cut are exactly those of the whole file
    assert f"stopped at {stop['frames'] / 25:.2f} s (frame {stop['frames']})" in err
    # the table says it too, after the segments so far
    assert predict.main(args + ["--timeline", str(cut)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"stopped at {stop['frames'] / 25:.2f} s") and "truncated" in lines[-1]
    assert lines[2].split()[2] == "dark"


def test_ctrl_c_keeps_the_windows_so_far(trained):
    _, video, _ = trained
    calls = []

    def classify(views):  # a stand-in model: the mean pixel decides; Ctrl-C during the third window
        calls.append(views.shape)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return torch.tensor([0.25, 0.75]) if views.mean() > 0 else torch.tensor([0.75, 0.25])

    options = clip_options({"num_frames": 4, "size": [16, 12], "eval_sampling": "segments", "eval_views": 2,
                                    "scaling": "unit"})
    result = run_timeline(video, classify, options, ["dark", "bright"], parse_span("--window", "1s"),
                          parse_span("--stride", "0.5s"), notify=lambda line: None)
    assert calls[0] == (2, 4, 12, 16, 3)  # K views of T frames at the model's size
    assert [w.index for w in result.windows] == [0, 1] and result.windows[1].start_frame == 12
    assert isinstance(result.stop, Stop) and result.stop.reason == "interrupted"
    # window [24, 49) would straddle the cut at 48: the third window is the second shot's first, [48, 73)
    assert [c.frame for c in result.cuts] == [48]
    assert result.stop.frames == 48 + 25
    assert "interrupted (Ctrl-C)" in result.stop.message
    assert [s.label for s in result.segments()] == ["dark"]


def test_the_frame_buffer_is_bounded():
    """The buffer holds only frames a pending window reads: never more than its capacity, which
    is reached, and which is a fraction of the window for the default 6 frames x 3 views."""
    options = clip_options({"num_frames": 6, "size": [8, 6], "eval_sampling": "segments", "eval_views": 3})
    for length, stride in ((50, 25), (50, 7), (64, 32), (16, 4), (10, 30)):
        sampler = WindowSampler(options, length)
        buffer = FrameBuffer(length, stride, sampler.offsets)
        frame, held, classified = np.zeros((6, 8, 3), np.uint8), 0, []
        for n in range(3000):
            if buffer.wants(n):
                buffer.add(n, frame)
                held += 1
            w = buffer.completed(n)
            if w is not None:
                sampler(lambda idx: buffer.read(w, idx))  # every frame a window reads is there
                buffer.release(w)
                classified.append(w)
            assert len(buffer) <= buffer.capacity
        assert buffer.peak == buffer.capacity <= length
        assert classified == list(range((3000 - length) // stride + 1))
        read = {w * stride + o for w in range(2999 // stride + 1) for o in sampler.offsets.tolist()}
        assert held == len(read & set(range(3000)))  # only the frames some window reads are converted
    # a 2 s window at 25 fps reads 18 frames (6 segments x 3 views); with a 1 s stride the next
    # window reads the same frames of the second second: 18 held, of 50
    assert FrameBuffer(50, 25, WindowSampler(options, 50).offsets).capacity == 18
    # by hand: windows of 8 frames every 4 read their odd frames; window w + 1 reads w's last two
    buffer = FrameBuffer(8, 4, [1, 3, 5, 7])
    assert [n for n in range(16) if buffer.wants(n)] == [1, 3, 5, 7, 9, 11, 13, 15] and buffer.capacity == 4


@pytest.mark.parametrize("text, frames", [("2s", 50), ("0.5s", 12), ("64", 64), ("64f", 64), (" 3 s", 75)])
def test_spans_in_seconds_or_frames(text, frames):
    assert parse_span("--window", text).frames(25.0) == frames


@pytest.mark.parametrize("text", ["abc", "0", "0s", "-2s", "1.5", "2m", ""])
def test_bad_spans_name_the_argument(text):
    with pytest.raises(ValueError, match=f"^--stride '{text}': expected a duration in seconds"):
        parse_span("--stride", text)


def test_seconds_need_a_frame_rate():
    with pytest.raises(ValueError, match=r"^--window 2s: the stream declares no frame rate.*--fps"):
        parse_span("--window", "2s").frames(None)
    assert parse_span("--window", "64").frames(None) == 64


def test_cli_errors_are_one_line(trained, capsys, tmp_path):
    ckpt, video, _ = trained
    one_shot = write_video(tmp_path / "one_shot.avi", shade_frames(SHADES["dark"], np.random.default_rng(1), CLIP))
    cases = {
        ("--timeline", str(video), "--stride", "x"): "--stride 'x': expected a duration",
        # one shot shorter than the window (a shot that a cut bounds would be one window)
        ("--timeline", str(one_shot), "--window", "10s"): "--window 10s: the video holds 48 frames (1.92 s)",
        ("--timeline", str(tmp_path / "none.avi")): "no such file",
        ("--timeline", str(video), str(video)): "--timeline takes one source",
        ("--window", "2s", str(video)): "--window 2s: only with --timeline",
        ("--no-cuts", str(video)): "--no-cuts: only with --timeline",
        ("--timeline", str(video), "--plot", str(Path(video) / "x.png")): "is a file, not a folder",
        (): "expected video files, or --timeline VIDEO",
    }
    for argv, message in cases.items():
        assert cli_main(["predict", "--ckpt_path", ckpt, *argv]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if not line.endswith("as in training")]
        assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], (argv, errors)


@contextlib.contextmanager
def stalling_server(video: Path, silence: float):
    """An HTTP server whose one file is ``video``: it sends 60% of it, then stays silent."""
    data = Path(video).read_bytes()

    class Stalling(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:int(len(data) * 0.6)])
            self.wfile.flush()
            time.sleep(silence)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/long.avi"
    finally:
        server.shutdown()


def test_a_stalled_stream_keeps_its_windows_and_says_where_it_stopped(trained):
    """An HTTP source that sends 60% of the file and then goes silent: the windows of the part
    received are kept, and the run stops after ``timeout`` seconds without data."""
    _, video, _ = trained
    options = clip_options({"num_frames": 4, "size": [16, 12], "eval_sampling": "segments", "eval_views": 1,
                                    "scaling": "unit"})
    with stalling_server(video, silence=4) as url:
        start = time.perf_counter()
        result = run_timeline(url, lambda views: torch.ones(2) / 2, options, ["a", "b"],
                              parse_span("--window", str(WINDOW)), parse_span("--stride", str(STRIDE)),
                              timeout=1.0, notify=lambda line: None)
        elapsed = time.perf_counter() - start
    stop = result.stop
    assert stop.reason == "error" and "no data for 1 s: the stream stalled" in stop.message and elapsed < 3.5
    assert 0 < stop.frames < 3 * CLIP and f"stopped at {stop.frames / 25:.2f} s (frame {stop.frames})" in stop.message
    assert len(result.windows) == shot_windows(stop.frames, [c.frame for c in result.cuts], closed=False) >= 2


def test_ctrl_c_on_a_silent_stream_stops_at_once_and_prints_the_segments(trained):
    """The real command on a stream that went silent (``--timeout 30``): SIGINT stops it within
    seconds (decoding runs in its own thread, so FFmpeg's wait does not hold it), the segments
    so far and the stop line are printed, the exit code is 130."""
    ckpt, video, _ = trained
    with stalling_server(video, silence=40) as url:
        process = subprocess.Popen([sys.executable, "-m", "tensorrnn", "predict", "--ckpt_path", ckpt, "--timeline", url,
                                    "--window", str(WINDOW), "--stride", str(STRIDE), "--timeout", "30"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                   # a runner started in the background (`cmd &` without job control)
                                   # ignores SIGINT and its children inherit that: give the command
                                   # the default a terminal gives it
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            title = process.stdout.readline()  # printed when the first segment closes: decoding is under way
            time.sleep(0.5)
            sent = time.perf_counter()
            process.send_signal(signal.SIGINT)
            rest, _ = process.communicate(timeout=25)
            waited = time.perf_counter() - sent
        finally:
            process.kill()
    lines = (title + rest).decode().splitlines()
    assert process.returncode == 130 and waited < 10
    assert lines[0].startswith("timeline of http://") and lines[2].split()[2] == "dark"
    assert lines[-1].startswith("stopped at ") and "interrupted (Ctrl-C)" in lines[-1]


def test_the_table_prints_segments_as_they_close_and_a_status_line_on_a_terminal():
    import io

    from tensorrnn.deploy.timeline import SegmentTable, Window

    def window(i, label):
        return Window(i, 25 * i, 25 * i + 50, float(i), i + 2.0, label, 0.9, (0.9, 0.1))

    out = io.StringIO()
    table = SegmentTable(["walk", "run"], "timeline of x", file=out, live=True)
    table.add(window(0, "walk"))
    assert out.getvalue().startswith("timeline of x\n")
    assert out.getvalue().endswith("  ... window 0.00s-2.00s: walk 0.900")  # no segment closed yet
    table.add(window(1, "walk"))
    table.add(window(2, "run"))  # closes walk at the midpoint of the centres 2.0 and 3.0
    assert "\r\033[K     0.00s      2.50s  walk         0.900        2\n" in out.getvalue()
    table.finish(None)
    plain = io.StringIO()
    table = SegmentTable(["walk", "run"], "timeline of x", file=plain, live=False)
    for i, label in enumerate(["walk", "walk", "run"]):
        table.add(window(i, label))
    table.finish(None)
    assert plain.getvalue().splitlines() == ["timeline of x",
                                             "     start        end  class  probability  windows",
                                             "     0.00s      2.50s  walk         0.900        2",
                                             "     2.50s      4.00s  run          0.900        1"]
