"""``tensorrnn predict --ckpt_path CKPT VIDEO [VIDEO ...] [--top-k 5] [--json]``, and
``tensorrnn predict --ckpt_path CKPT --timeline VIDEO [--window 2s] [--stride 1s] [--json] [--plot PNG]``.

The checkpoint holds everything needed: the model's hyper-parameters (to rebuild the network),
its input normalisation statistics, and the data module's options (frame size, number of
frames, sampling policy and number of views for evaluation, padding, pixel scaling, feature
mode), so a file is decoded, sampled and scored as the test clips were: the class
probabilities of ``eval_views`` views averaged. A model of per-frame CNN features (``tensorrnn
features``, then ``fit`` on its folder) takes ``.npy`` files, or videos: its checkpoint keeps
the features' record, and the backbone it names makes a video's features as it made the
training ones. The frames are those the decoder gives, whatever clip store the model trained
on (no JPEG round trip): ``predict``, ``--timeline``, the graphs of
``tensorrnn export`` and ``model.step`` read the same frames the same way. ``--timeline``
classifies one video of any length, or a stream, window by window with constant memory
(:mod:`tensorrnn.deploy.timeline`); every window is treated as a file of the window's length
would be. The checkpoint is read by :func:`~tensorrnn.train.checkpoint.load_model` and
:func:`~tensorrnn.train.checkpoint.clip_options`, which ``tensorrnn export`` reads it with too.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from tensorrnn.errors import ArgumentParser
from tensorrnn.train.checkpoint import clip_options, load_model
from tensorrnn.train.module import VideoClassifier


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="tensorrnn predict", description="classify video files (or .npy feature arrays) with a trained checkpoint")
    parser.add_argument("--ckpt_path", "--ckpt-path", required=True, help="checkpoint written by tensorrnn fit")
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="video files (or .npy arrays for feature models)")
    parser.add_argument("--top-k", "--top_k", dest="top_k", type=int, default=5, help="classes shown per file (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    timeline = parser.add_argument_group("timeline (one long video or a stream, window by window)")
    timeline.add_argument("--timeline", metavar="VIDEO", help="a video file of any length, a URL FFmpeg reads "
                          "(rtsp://, http://) or a device (/dev/video0)")
    timeline.add_argument("--window", help="window length: seconds (2s) or frames (64); default 2s")
    timeline.add_argument("--stride", help="step between windows: seconds (1s) or frames (32); default half the window")
    timeline.add_argument("--plot", metavar="PNG", help="write the class probabilities against time to this PNG")
    timeline.add_argument("--fps", type=float, help="frame rate to assume (default: the stream's)")
    timeline.add_argument("--timeout", type=float,
                          help="seconds a URL or device may stay silent before the run stops (default 10)")
    timeline.add_argument("--input-format", "--input_format", dest="input_format",
                          help="FFmpeg input format of the source (default: guessed; v4l2 for /dev/video*)")
    timeline.add_argument("--no-cuts", "--no_cuts", dest="cuts", action="store_false",
                          help="do not detect cuts (by default windows start again at every cut, so none "
                          "straddles one, and a shot shorter than a window is one window)")
    return parser


def _device(name: str) -> torch.device:
    """``--device`` as a torch device that exists on this machine (checked before any work)."""
    expected = "expected cpu or an available device (cuda, cuda:N, mps)"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: not a torch device; {expected}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r}: not available on this machine (torch.cuda.is_available() is False); "
                         "expected cpu or an available device")
    try:  # a missing backend or device index fails here with its own exception type
        torch.empty(0, device=device)
    except Exception as err:  # noqa: BLE001 - AssertionError, RuntimeError, NotImplementedError
        reason = " ".join(str(err).split())[:120]
        raise ValueError(f"--device {name!r}: not usable on this machine ({reason}); {expected}") from None
    return device


def clip_loader(data: dict[str, Any], classes: list[str], device: str | torch.device = "cpu"):
    """A function ``path -> views (K, T, ...)`` that decodes and samples like the test clips.

    A model of per-frame features reads ``.npy`` files as it trained on them, and videos through
    the backbone its checkpoint names (``feature_record``, kept by ``fit`` from the features
    folder's record), on ``device``: every ``every``-th frame's features, then sampled as the
    test clips' features were."""
    from tensorrnn.data.datasets import ClipRecord, VideoClipDataset
    from tensorrnn.data.video import VideoError
    from tensorrnn.train.module import FEATURE_RECORD

    options = clip_options(data)
    record = data.get(FEATURE_RECORD) if options["features"] else None
    backbone = []  # built on the first video: .npy files need none

    def features_of(path: Path, one: VideoClipDataset) -> torch.Tensor:
        from tensorrnn.data.features import backbone_from_record, video_features

        if record is None:
            raise ValueError(f"VIDEO {str(path)!r}: the model reads per-frame features (.npy) and its checkpoint "
                             "names no backbone (its features folder had no features.json of tensorrnn features); "
                             "expected the .npy features of the video, made as its training features were")
        if not backbone:
            backbone.append(backbone_from_record(record, device))
        try:
            features = video_features(backbone[0], path, int(record["every"]))  # (T, F)
        except (VideoError, OSError) as err:
            raise ValueError(f"VIDEO {str(path)!r}: cannot be read as a clip: {str(err).split(': ', 1)[-1]}") from None
        views = range(one.views) if one.views else (None,)
        samples = one.sample_frames(0, len(features), lambda idx: features[idx], views)
        return torch.stack(samples) if one.views else samples[0]

    def load(path: Path) -> torch.Tensor:
        if path.is_dir():
            raise IsADirectoryError(f"VIDEO {str(path)!r}: is a directory; expected a video file")
        if not path.is_file():
            raise FileNotFoundError(f"VIDEO {str(path)!r}: no such file")
        one = VideoClipDataset(path.parent, [ClipRecord(path, 0)], classes, **options)
        if options["features"] and path.suffix.lower() != ".npy":
            return features_of(path, one)
        try:
            frames = one[0][0]  # (K, T, ...) views
        except (VideoError, ValueError, OSError) as err:
            reason = str(err).split(": ", 2)[-1]
            raise ValueError(f"VIDEO {str(path)!r}: cannot be read as a clip: {reason}") from None
        return frames

    return load


def predict(model: VideoClassifier, data: dict[str, Any], paths: list[str | Path], top_k: int = 5) -> list[dict]:
    """Top-k ``{"class", "index", "probability"}`` per file, highest first."""
    classes = model.hparams.class_names or [str(i) for i in range(model.hparams.num_classes)]
    device = next(model.parameters()).device
    load = clip_loader(data, classes, device)
    clips = [load(Path(p)) for p in paths]  # decode all first: a bad file fails before any work
    results = []
    with torch.no_grad():
        for path, frames in zip(paths, clips):
            probs = model.forward_views(frames.unsqueeze(0).to(device))[0][0]  # mean of the views: (C,)
            k = min(top_k, len(probs))
            values, indices = probs.topk(k)
            results.append({"file": str(path), "predictions": [
                {"class": classes[i], "index": int(i), "probability": float(v)}
                for v, i in zip(values.tolist(), indices.tolist())]})
    return results


def _print_table(results: list[dict], multilabel: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="predictions" + (" (independent sigmoid scores)" if multilabel else ""))
    table.add_column("file", overflow="fold")
    for name, justify in (("rank", "right"), ("class", "left"), ("probability", "right")):
        table.add_column(name, justify=justify)
    for result in results:
        for rank, pred in enumerate(result["predictions"], 1):
            table.add_row(result["file"] if rank == 1 else "", str(rank), pred["class"], f"{pred['probability']:.3f}",
                          end_section=rank == len(result["predictions"]))
    Console().print(table)


def main(argv: list[str]) -> int:
    args = _parser().parse_or_help(argv)
    if args is None:  # --help
        return 0
    if args.timeline is not None or not args.videos:
        return _timeline(args)
    given = [name for name in ("window", "stride", "plot", "fps", "timeout", "input_format")
             if getattr(args, name) is not None] + ([] if args.cuts else ["no_cuts"])
    if given:
        value = "" if given[0] == "no_cuts" else f" {getattr(args, given[0])}"
        raise ValueError(f"--{given[0].replace('_', '-')}{value}: only with --timeline VIDEO")
    if args.top_k < 1:
        raise ValueError(f"--top-k {args.top_k}: expected a positive integer")
    model, data = load_model(args.ckpt_path, _device(args.device))
    results = predict(model, data, args.videos, args.top_k)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        _print_table(results, model.hparams.multilabel)
    return 0


def _frame_features(data: dict[str, Any], device: torch.device):
    """For a model of per-frame features: ``frame (H, W, 3) -> features (F,)`` by the backbone its
    checkpoint names (the timeline keeps a window's frames as their features); else None."""
    from tensorrnn.train.module import FEATURE_RECORD

    if not data.get("features"):
        return None
    record = data.get(FEATURE_RECORD)
    if record is None:
        raise ValueError("--ckpt_path: the model reads per-frame features (.npy) and its checkpoint names no backbone "
                         "(its features folder had no features.json of tensorrnn features); --timeline expected a "
                         "model whose features tensorrnn features made")
    if int(record["every"]) != 1:
        raise ValueError(f"--ckpt_path: the model's features are of every {record['every']}th frame (tensorrnn "
                         "features --every); --timeline reads every frame: expected features made with --every 1")
    from tensorrnn.data.features import backbone_from_record

    backbone = backbone_from_record(record, device)
    return lambda frame: backbone(frame[None])[0]


def _timeline(args: argparse.Namespace) -> int:
    """``--timeline VIDEO``: segments printed as they close, then where decoding stopped; exit code
    0 at the end of the stream, 1 when decoding failed, 130 after Ctrl-C (results printed)."""
    from tensorrnn.deploy import timeline as tl

    if args.timeline is None:
        raise ValueError("VIDEO: expected video files, or --timeline VIDEO for one long video or a stream")
    if args.videos:
        raise ValueError(f"VIDEO {args.videos[0]!r}: --timeline takes one source; expected no other VIDEO")
    window = tl.parse_span("--window", args.window or "2s")
    stride = None if args.stride is None else tl.parse_span("--stride", args.stride)
    for name in ("fps", "timeout"):
        value = getattr(args, name)
        if value is not None and not 0 < value < float("inf"):
            unit = "frames per second" if name == "fps" else "seconds"
            raise ValueError(f"--{name} {value}: expected a number of {unit} > 0")
    if args.plot is not None:
        tl.check_output_path("--plot", args.plot)
    model, data = load_model(args.ckpt_path, _device(args.device))
    classes = model.hparams.class_names or [str(i) for i in range(model.hparams.num_classes)]
    device = next(model.parameters()).device

    def classify(views: torch.Tensor) -> torch.Tensor:  # (K, T, H, W, 3) -> (C,)
        with torch.no_grad():
            return model.forward_views(views.unsqueeze(0).to(device))[0][0]

    title = f"timeline of {args.timeline} (window {window.text}, stride {args.stride or 'half the window'})"
    table = None if args.json else tl.SegmentTable(classes, title)
    result = tl.run_timeline(args.timeline, classify, clip_options(data), classes, window, stride, fps=args.fps,
                             input_format=args.input_format, timeout=args.timeout or tl.DEFAULT_TIMEOUT,
                             on_window=table.add if table else None, cuts=args.cuts,
                             frame_features=_frame_features(data, device))
    if table is not None:
        table.finish(result.stop)
    else:
        json.dump(result.to_json(), sys.stdout, indent=2)
        print()
        if result.stop.reason != "end":
            print(result.stop.message, file=sys.stderr)
    if args.plot is not None:
        tl.plot_timeline(result, args.plot)
    return {"error": 1, "interrupted": 130}.get(result.stop.reason, 0)
