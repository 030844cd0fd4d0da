"""``tensorrnn predict --timeline`` on long videos: peak memory and speed against real time.

Two generated videos of 25 fps footage at 160x120 (MPEG-4 in AVI, moving objects of the
demo's motions, a new clip every 2 s), 1 minute and 10 minutes long, written chunk by chunk
through PyAV (never held in memory), are classified by ``tensorrnn predict --timeline`` with
the default window (2 s) and stride (1 s) and the UCF11 TT-GRU of the TT-RNN paper
(8x20x20x18 -> 4x4x4x4, rank 4; untrained: the weights change neither the time nor the memory)
with the default recipe (6 frames in 6 segments, 3 views, frame differences, input
normalisation). Each run is a fresh process whose resident set size is sampled every 20 ms
during the run (and its ``ru_maxrss`` read at the end); the target is a flat peak (10 minutes
against 1 minute) and a speed above real time.
References in the same run: decoding the same file with PyAV and nothing else (the floor),
and the memory the whole video would take as uint8 frames at 160x120 (what ``read_frames``
of every frame would hold).

    python bench/bench_timeline.py           # 1-minute and 10-minute videos (about 10 minutes)
    python bench/bench_timeline.py --quick   # 6 s and 30 s videos (smoke run)

Writes ``bench/results/timeline.json`` and ``bench/results/timeline.md``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import blocks
import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
FPS, SIZE = 25, (160, 120)
CHUNK = 2 * FPS  # frames of one generated clip


def write_long_video(path: Path, seconds: int, seed: int = 0) -> Path:
    """A ``seconds``-long 25 fps video of generated clips, encoded as they are rendered."""
    import av

    from tensorrnn.data.synthetic import MOTIONS, render_clip

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=FPS, options={"qmin": "1", "qmax": "3"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        for i in range(0, seconds * FPS, CHUNK):
            frames = render_clip(MOTIONS[(i // CHUNK) % len(MOTIONS)], SIZE, min(CHUNK, seconds * FPS - i), rng)
            for image in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_checkpoint(path: Path) -> Path:
    """A checkpoint of the UCF11 TT-GRU with the default recipe, as ``tensorrnn fit`` writes one."""
    import torch

    from tensorrnn import papers
    from tensorrnn.train.module import VideoClassifier

    torch.manual_seed(0)
    classes = list(papers.UCF11_CLASSES)
    model = VideoClassifier("gru", "tt", list(papers.UCF11_IN_SHAPE), list(papers.UCF11_HIDDEN_SHAPE), rank=4,
                            num_classes=len(classes), class_names=classes)
    data = {"num_frames": papers.FRAMES_PER_CLIP, "size": list(SIZE), "eval_sampling": "segments", "eval_views": 3,
            "scaling": "unit", "pad": "front", "stride": 1, "eval_seed": 0, "features": False}
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": data}, path)
    return path


def rss_kib() -> int:
    """The resident set size of this process now (Linux: /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


class RssSampler(threading.Thread):
    """Samples this process's RSS every 20 ms; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = rss_kib(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_kib())


def child(ckpt: str, video: str, threads: int) -> dict:
    """One timeline run in this process: wall time, RSS before and during it, the result's summary."""
    import torch

    from tensorrnn.deploy import predict

    torch.set_num_threads(threads)
    rss_start = rss_kib()  # after the imports, before the model and the video
    sampler = RssSampler()
    out = io.StringIO()
    sampler.start()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = predict.main(["--ckpt_path", ckpt, "--timeline", video, "--json"])
    seconds = time.perf_counter() - start
    sampler.done.set()
    sampler.join()
    result = json.loads(out.getvalue())
    return {"exit": code, "wall_s": seconds, "rss_before_kib": rss_start,
            "peak_rss_run_kib": max(sampler.peak, rss_kib()),
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # the process's, imports included
            "frames": result["stopped"]["frames"], "windows": len(result["windows"]),
            "segments": len(result["segments"]), "buffer": result["buffer"], "stop": result["stopped"]["reason"]}


def decode_only(video: Path) -> float:
    """Seconds to decode every frame with PyAV and nothing else (the floor of any timeline)."""
    import av

    start = time.perf_counter()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def run(quick: bool, threads: int) -> dict:
    lengths = (6, 30) if quick else (60, 600)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_timeline_") as tmp:
        ckpt = write_checkpoint(Path(tmp) / "ttgru.ckpt")
        for seconds in lengths:
            start = time.perf_counter()
            video = write_long_video(Path(tmp) / f"video_{seconds}s.avi", seconds)
            written = time.perf_counter() - start
            floor = decode_only(video)
            command = [sys.executable, __file__, "--child", str(ckpt), str(video), "--threads", str(threads)]
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"timeline run on {video.name} failed:\n{proc.stderr[-2000:]}")
            measured = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append({"video_s": seconds, "file_mib": video.stat().st_size / 2**20, "write_s": written,
                         "decode_only_s": floor, **measured,
                         "realtime_factor": seconds / measured["wall_s"],
                         "whole_video_uint8_mib": seconds * FPS * SIZE[0] * SIZE[1] * 3 / 2**20})
    import torch

    short, long = rows
    return {
        "quick": quick, "fps": FPS, "size": list(SIZE), "codec": "mpeg4 (AVI)", "window": "2s", "stride": "1s",
        "model": "UCF11 TT-GRU 8x20x20x18 -> 4x4x4x4, rank 4; 6 frames x 3 views; frame differences",
        "runs": rows,
        "peak_rss_ratio_long_vs_short": long["peak_rss_run_kib"] / short["peak_rss_run_kib"],
        "machine": {"cpus": os.cpu_count(), "torch_threads": threads, "load_average": os.getloadavg(),
                    "python": platform.python_version(), "torch": torch.__version__},
    }


def markdown(r: dict) -> str:
    quick = "; --quick smoke run (short videos, not the target measurement)" if r["quick"] else ""
    lines = [
        f"`tensorrnn predict --timeline` (window {r['window']}, stride {r['stride']}; {r['model']}) on generated "
        f"{r['fps']} fps {r['size'][0]}x{r['size'][1]} {r['codec']} videos; one fresh process per video; torch "
        f"threads {r['machine']['torch_threads']}{quick}:",
        "",
        "| video | frames | windows | wall (s) | x real time | PyAV decode alone (s) | RSS before (MiB) "
        "| peak RSS during the run (MiB) | growth (MiB) | process peak RSS (MiB) | buffer peak / bound (frames) "
        "| whole video as uint8 (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["runs"]:
        video = f"{row['video_s'] // 60} min" if row["video_s"] >= 60 else f"{row['video_s']} s"
        lines.append(
            f"| {video} | {row['frames']:,} | {row['windows']:,} | {row['wall_s']:.1f} | {row['realtime_factor']:.1f}x "
            f"| {row['decode_only_s']:.1f} | {row['rss_before_kib'] / 1024:,.0f} "
            f"| {row['peak_rss_run_kib'] / 1024:,.0f} "
            f"| {(row['peak_rss_run_kib'] - row['rss_before_kib']) / 1024:,.1f} | {row['peak_rss_kib'] / 1024:,.0f} "
            f"| {row['buffer']['peak_frames']} / {row['buffer']['capacity_frames']} "
            f"| {row['whole_video_uint8_mib']:,.0f} |")
    lines += [
        "",
        f"Peak RSS during the run, longer video / shorter: {r['peak_rss_ratio_long_vs_short']:.3f} (flat memory: 1.0; "
        "the per-window results are all that grows). RSS sampled every 20 ms from /proc/self/statm; the process "
        "peak (ru_maxrss) includes importing torch and Lightning.",
        f"Machine: {r['machine']['cpus']} CPUs, load average {r['machine']['load_average'][0]:.1f} at the end "
        "(shared with other jobs: wall times are noisy).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (6 s and 30 s videos)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--child", nargs=2, metavar=("CKPT", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.threads)))
        return 0
    result = run(args.quick, args.threads)
    from tensorrnn.files import atomic_write_text

    for name, text in (("timeline.json", json.dumps(result, indent=2)), ("timeline.md", markdown(result))):
        atomic_write_text(RESULTS / name, text)
    blocks.update(RESULTS / "timeline.json")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
