"""``tensorrnn export --ckpt_path CKPT --out model.onnx [--format pt2] [--step] [--quantize int8]``.

The whole classifier, from uint8 frames ``(B, T, H, W, 3)`` to class probabilities, with the
pixel scaling, frame differences and input normalisation it was trained with, and dynamic
batch and time (:class:`~tensorrnn.deploy.graphs.ClipGraph`), exported with the current
exporter (``torch.onnx.export(..., dynamo=True)``; ``--format pt2``: a ``torch.export``
program). ``--step`` adds the per-frame graph (:class:`~tensorrnn.deploy.graphs.StepGraph`,
``NAME.step.onnx``): one frame and the state in, probabilities and the new state out.
``--quantize int8`` quantises the ONNX weights (``MatMul`` / ``Gemm`` initialisers, the
factorised map's cores included) with onnxruntime's dynamic quantisation.

Every file is verified before it is reported done: the graph is run (onnxruntime, or the
loaded ``pt2`` program) on a batch of real clips and compared with the PyTorch model; the
maximum absolute difference of the probabilities and the top-1 agreement are printed. An fp32
graph must agree within ``--atol`` (default 1e-4) with the same top-1 class on every clip, or
the export is an error and no file is left. The clips are the held-out (test) clips of the
checkpoint's dataset when its folder is reachable, else the files given with ``--clips``
(``--clips`` wins when both are there); they are decoded, sampled and resized like the
evaluation clips (one view), as uint8.

A model of per-frame CNN features (``tensorrnn features``, then ``fit`` on its folder) is
exported with the backbone its checkpoint names in front (:class:`~tensorrnn.data.features.FrameFeatures`):
the graph still reads uint8 frames, of one size (``--frame-size``, default the first verified
clip's), and holds both; it is verified against the backbone and the model run in PyTorch on
the videos the features came from (the checkpoint's record names them) or ``--clips``.

ONNX metadata (``metadata_props``; ``pt2``: the extra file ``tensorrnn.json``): ``class_names``
(JSON), ``frame_size`` (``[width, height]``), ``num_frames``, ``sampling`` and ``views`` (of
evaluation: the graph scores one view, an application averages the views' probabilities), ``scaling``,
``frame_diff``, ``multilabel``, ``graph`` (``clip`` or ``step``), ``state`` (the step graph's
state names, JSON), ``tensorrnn_version``, ``model``; a feature model's also ``backbone`` (its
features' record, JSON).
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tensorrnn.errors import ArgumentParser, UsageError
from tensorrnn.files import atomic_write_bytes

__all__ = ["ExportError", "export", "trace", "quantize_int8", "verification_clips", "main"]

FORMATS = ("onnx", "pt2")
QUANTIZE = ("none", "int8")
#: Clips verified by default.
NUM_CLIPS = 8


class ExportError(UsageError):
    """The exporter could not handle the model, or the exported graph failed its check."""


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="tensorrnn export",
                            description="export a trained classifier (uint8 frames -> class probabilities) to "
                                        "ONNX or a torch.export program, verified on real clips")
    parser.add_argument("--ckpt_path", "--ckpt-path", required=True, help="checkpoint written by tensorrnn fit")
    parser.add_argument("--out", required=True, help="output file (model.onnx, or model.pt2 with --format pt2)")
    parser.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default) or pt2 (torch.export)")
    parser.add_argument("--step", action="store_true",
                        help="also write the per-frame step graph, NAME.step.onnx (or .pt2)")
    parser.add_argument("--quantize", choices=QUANTIZE, default="none",
                        help="int8: onnxruntime dynamic quantisation of the weights (onnx only)")
    parser.add_argument("--clips", nargs="+", metavar="VIDEO", default=None,
                        help="videos to verify on (default: the held-out clips of the checkpoint's dataset)")
    parser.add_argument("--num-clips", "--num_clips", dest="num_clips", type=int, default=NUM_CLIPS,
                        help=f"clips of the dataset to verify on (default {NUM_CLIPS})")
    parser.add_argument("--atol", type=float, default=1e-4,
                        help="largest difference of the fp32 probabilities from PyTorch (default 1e-4)")
    parser.add_argument("--frame-size", "--frame_size", dest="frame_size", type=int, nargs=2, metavar=("W", "H"),
                        default=None, help="a feature model's input frame size (default: the first verified clip's)")
    return parser


# --- checks before any work ------------------------------------------------------------------

def check_writable(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Fail now, not after the export, if ``path`` cannot be written: its folder is created and
    a file is made and removed there."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {str(path)!r}: is a folder; expected a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"{flag} {str(path)!r}: a file is in the way of its folder") from None
    except OSError as err:
        raise PermissionError(f"{flag} {str(path)!r}: cannot write there ({err.strerror or err}); "
                              "expected a writable location") from None
    return path


def step_path(out: Path) -> Path:
    """Where ``--step`` writes the step graph: ``model.onnx`` -> ``model.step.onnx``."""
    return out.with_name(f"{out.stem}.step{out.suffix or '.onnx'}")


def _load(path: str):
    from tensorrnn.train.checkpoint import load_model

    from tensorrnn.train.module import FEATURE_RECORD

    model, data = load_model(path)
    if data.get("features") and data.get(FEATURE_RECORD) is None:
        raise ValueError(f"--ckpt_path {path!r}: a model of precomputed features whose checkpoint names no backbone "
                         "(its features folder had no features.json of tensorrnn features); export expected a model "
                         "whose features tensorrnn features made, or one of video frames")
    if model.hparams.arch == "mlp":
        raise ValueError(f"--ckpt_path {path!r}: model.arch='mlp'; export supports the recurrent classifiers "
                         "(rnn, gru, lstm)")
    return model.float().eval(), data


# --- the clips the export is checked on ------------------------------------------------------

def _uint8(frames: torch.Tensor) -> torch.Tensor:
    return frames.round().clamp(0, 255).to(torch.uint8)


def verification_clips(data: dict[str, Any], classes: list[str], clips: list[str] | None = None,
                       count: int = NUM_CLIPS) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """uint8 clips ``(N, T, H, W, 3)`` sampled like the evaluation clips (one view), their
    labels (the dataset's clips; None for ``clips`` files) and where they came from: the
    ``clips`` files if given, else up to ``count`` held-out clips of the checkpoint's dataset
    (evenly spread over its test split)."""
    from tensorrnn.train.module import FEATURE_RECORD

    options = {k: v for k, v in data.items() if not k.startswith("_") and k != FEATURE_RECORD}
    options["scaling"] = "none"    # pixel values as floats: exactly the uint8 frames
    if clips:
        from tensorrnn.deploy.predict import clip_loader

        load = clip_loader(dict(options, eval_views=1), classes)
        frames = [load(Path(p))[0] for p in clips]                     # each (T, H, W, 3)
        return _uint8(torch.stack(frames)), None, f"{len(frames)} clips given with --clips"
    root = data.get("root")
    if not root or not Path(root).is_dir():
        raise FileNotFoundError(f"no clips to verify the export on: the checkpoint's data.root {root!r} is not "
                                "reachable here; pass --clips VIDEO [VIDEO ...]")
    from tensorrnn.train.datamodule import VideoDataModule

    module = VideoDataModule(**options)
    try:
        test = list(module._indices()[1]) or list(range(len(module.full)))
        where = "held-out"
    except ValueError:       # a split that cannot be made from what is on disk now: any clips
        test, where = list(range(len(module.full))), "dataset"
    picks = sorted({test[round(i)] for i in np.linspace(0, len(test) - 1, min(count, len(test)))})
    evaluation = module.eval_dataset(module.full, views=0)
    items = [evaluation[i] for i in picks]
    frames, targets = torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])
    return _uint8(frames), targets, f"{len(picks)} {where} clips of {data.get('dataset')} at {root}"


# --- export ---------------------------------------------------------------------------------

def _layer_of(err: BaseException, root: torch.nn.Module) -> str:
    """The deepest submodule of ``root`` whose code was running when ``err`` (or its causes)
    was raised: the layer the exporter failed in."""
    names = {id(m): name for name, m in root.named_modules()}
    found = None
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        for frame, _ in traceback.walk_tb(err.__traceback__):
            module = frame.f_locals.get("self")
            if isinstance(module, torch.nn.Module) and id(module) in names:
                found = names[id(module)]
        err = err.__cause__ or err.__context__
    return (found or "the model").removeprefix("model.") or "the model"


def _reason(err: BaseException) -> str:
    cause = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = " ".join(str(cause).split())
    return f"{type(cause).__name__}: {text[:200]}"


def clip_dims(model) -> tuple:
    """The dynamic dimensions of a clip graph: batch (1 or more) and time (2 or more frames with
    ``frame_diff``), both bounded by :data:`~tensorrnn.deploy.graphs.MAX_SIZE`."""
    from tensorrnn.deploy.graphs import MAX_SIZE

    return (torch.export.Dim("batch", min=1, max=MAX_SIZE),
            torch.export.Dim("time", min=2 if model.hparams.frame_diff else 1, max=MAX_SIZE))


def _trace(graph: torch.nn.Module, example: tuple, dynamic_shapes, fmt: str, names: tuple[list, list]):
    """Export ``graph``: an ONNX ``ModelProto`` or an ``ExportedProgram``; a one-line
    :class:`ExportError` naming the layer when the exporter fails."""
    import logging
    import warnings

    # the exporter logs a warning per torchvision op it cannot register (torchvision is not needed)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "pt2":   # the settings the ONNX exporter traces with (0/1-sized dims stay dynamic)
                with torch.fx.experimental._config.patch(backed_size_oblivious=True):
                    return torch.export.export(graph, example, dynamic_shapes=dynamic_shapes, strict=False)
            program = torch.onnx.export(graph, example, dynamo=True, dynamic_shapes=dynamic_shapes,
                                        input_names=names[0], output_names=names[1], verbose=False)
            return program.model_proto
    except Exception as err:  # noqa: BLE001 - the exporters raise many types
        raise ExportError(f"export of {type(graph).__name__} failed in layer {_layer_of(err, graph)}: "
                          f"{_reason(err)} (--verbose for the exporter's full report)") from err


def trace(model, scaling: str, size: tuple[int, int], fmt: str = "onnx", kind: str = "clip", num_frames: int = 6,
          frontend: torch.nn.Module | None = None):
    """Export one graph of ``model`` (in :func:`~tensorrnn.deploy.graphs.exportable` state):
    ``kind="clip"`` (:class:`ClipGraph`, dynamic batch and time) or ``"step"``
    (:class:`StepGraph`, dynamic batch), for frames of ``size = (width, height)`` (``frontend``:
    a feature model's backbone on them). Returns an ONNX ``ModelProto`` (no metadata yet) or an
    ``ExportedProgram``."""
    from tensorrnn.deploy.graphs import ClipGraph, StepGraph, state_names

    width, height = size
    batch, time_ = clip_dims(model)
    example = torch.zeros(2, max(3, num_frames), height, width, 3, dtype=torch.uint8)
    if kind == "clip":
        return _trace(ClipGraph(model, scaling, frontend), (example,), ({0: batch, 1: time_},), fmt,
                      (["frames"], ["probabilities"]))
    names = state_names(model)
    dims = ({0: batch}, tuple({0: batch} if n in ("previous_frame", "seen") else {1: batch} for n in names))
    return _trace(StepGraph(model, scaling, frontend), (example[:, 0], *model.init_state(2)), dims, fmt,
                  (["frame", *names], ["probabilities", *[f"{n}_out" for n in names]]))


def _metadata(model, data: dict[str, Any], graph: str) -> dict[str, str]:
    from tensorrnn import __version__
    from tensorrnn.deploy.graphs import state_names
    from tensorrnn.train.checkpoint import describe
    from tensorrnn.train.module import FEATURE_RECORD

    hp = model.hparams
    classes = list(hp.class_names or [str(i) for i in range(hp.num_classes)])
    return {"class_names": json.dumps(classes), "frame_size": json.dumps(list(data.get("size", []))),
            "num_frames": str(data.get("num_frames")), "sampling": str(data.get("eval_sampling")),
            "views": str(data.get("eval_views", 1)),
            "scaling": str(data.get("scaling")), "frame_diff": json.dumps(bool(hp.frame_diff)),
            "multilabel": json.dumps(bool(hp.multilabel)), "graph": graph,
            "state": json.dumps(state_names(model) if graph == "step" else []),
            "tensorrnn_version": __version__, "model": describe(dict(hp)),
            **({"backbone": json.dumps(data[FEATURE_RECORD])} if data.get(FEATURE_RECORD) else {})}


def _serialise(exported, fmt: str, metadata: dict[str, str]) -> bytes:
    if fmt == "pt2":
        buffer = io.BytesIO()
        torch.export.save(exported, buffer, extra_files={"tensorrnn.json": json.dumps(metadata)})
        return buffer.getvalue()
    import onnx

    del exported.metadata_props[:]
    onnx.helper.set_model_props(exported, metadata)
    return exported.SerializeToString()


def quantize_int8(model_bytes: bytes) -> bytes:
    """onnxruntime's dynamic int8 quantisation of every ``MatMul`` / ``Gemm`` weight."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    import logging

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(model_bytes)
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)   # its "consider pre-processing" notice
        try:
            # EnableSubgraph: also the recurrent weights, used inside the ONNX Scan of the clip graph
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True})
        finally:
            logging.getLogger().setLevel(level)
        return dst.read_bytes()


class _Runner:
    """Runs a serialised graph: onnxruntime, or the loaded ``torch.export`` program."""

    def __init__(self, blob: bytes, fmt: str) -> None:
        self.fmt = fmt
        if fmt == "pt2":
            self.module = torch.export.load(io.BytesIO(blob)).module()
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            self.session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, *args: torch.Tensor) -> list[torch.Tensor]:
        if self.fmt == "pt2":
            with torch.no_grad():
                out = self.module(*args)
            return list(out) if isinstance(out, (tuple, list)) else [out]
        feeds = {name: a.numpy() for name, a in zip(self.inputs, args)}
        return [torch.from_numpy(o) for o in self.session.run(None, feeds)]


def _run_steps(run: _Runner, model, clips: torch.Tensor) -> torch.Tensor:
    """Probabilities after the last frame of each clip, one frame at a time through a step graph."""
    state = tuple(model.init_state(clips.shape[0]))
    probs = None
    for t in range(clips.shape[1]):
        probs, *state = run(clips[:, t], *state)
    return probs


def _compare(got: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    got, ref = got.to(torch.float64), ref.to(torch.float64)
    finite = bool(torch.isfinite(got).all())
    return {"max_abs_diff": float((got - ref).abs().max()) if finite else float("inf"),
            "top1_agreement": float((got.argmax(-1) == ref.argmax(-1)).double().mean()), "finite": finite}


def _feature_inputs(data: dict[str, Any], classes: list[str], clips: list[str] | None, count: int,
                    frame_size: tuple[int, int] | None):
    """A feature model's verification: uint8 frames of the videos its features came from (the
    record's dataset and root, or ``clips``) at one frame size, their labels, where they came
    from, the frame size and the backbone on frames of it (:class:`FrameFeatures`)."""
    from tensorrnn.data.features import FrameFeatures, backbone_from_record
    from tensorrnn.data.video import probe
    from tensorrnn.train.module import FEATURE_RECORD

    record = data[FEATURE_RECORD]
    videos = dict(data, features=False)
    if not clips:
        videos.update(dataset=record.get("dataset", data.get("dataset")), root=record.get("root"),
                      dataset_options={k: v for k, v in (data.get("dataset_options") or {}).items()
                                       if k not in ("splits_dir",)})
    if frame_size is None:  # the first clip's own size
        first = clips[0] if clips else None
        if first is None:
            from tensorrnn.data import build_dataset

            root = videos.get("root")
            if not root or not Path(root).is_dir():
                raise FileNotFoundError(f"no clips to verify the export on: the videos of the model's features "
                                        f"({root!r}) are not reachable here; pass --clips VIDEO [VIDEO ...]")
            first = build_dataset(videos["dataset"], root, size=None, validate=False, progress=False).clips[0].path
        info = probe(first)
        frame_size = (info.width, info.height)
    if any(not isinstance(v, int) or v < 8 for v in frame_size):
        raise ValueError(f"--frame-size {frame_size[0]} {frame_size[1]}: expected a width and a height >= 8")
    videos["size"] = list(frame_size)
    frames, targets, source = verification_clips(videos, classes, clips, count)
    frontend = FrameFeatures(backbone_from_record(record), frame_size[1], frame_size[0]).eval()
    return frames, targets, source, tuple(frame_size), frontend


def export(ckpt_path: str, out: str | os.PathLike, fmt: str = "onnx", step: bool = False, quantize: str = "none",
           clips: list[str] | None = None, num_clips: int = NUM_CLIPS, atol: float = 1e-4,
           log=print, frame_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Export, verify and write; returns a report (paths, sizes, differences, agreement).

    Raises :class:`ExportError` (one line) when the exporter fails or a check fails; no file
    of this call is then left behind.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZE:
        raise ValueError(f"--quantize {quantize!r}: expected one of {', '.join(QUANTIZE)}")
    if quantize == "int8" and fmt != "onnx":
        raise ValueError(f"--quantize int8 with --format {fmt}: int8 quantisation is onnxruntime's; "
                         "expected --format onnx")
    if num_clips < 1:
        raise ValueError(f"--num-clips {num_clips}: expected a positive integer")
    if not atol > 0:
        raise ValueError(f"--atol {atol}: expected a positive number")
    out = check_writable(out)
    step_out = check_writable(step_path(out)) if step else None
    model, data = _load(ckpt_path)
    from tensorrnn.deploy.graphs import exportable, scale_frames

    classes = list(model.hparams.class_names or [str(i) for i in range(model.hparams.num_classes)])
    frontend = None
    if data.get("features"):   # the backbone in front: the graph reads uint8 frames of one size
        frames, targets, source, (width, height), frontend = _feature_inputs(data, classes, clips, num_clips,
                                                                               frame_size)
        data = dict(data, size=[width, height])
    else:
        frames, targets, source = verification_clips(data, classes, clips, num_clips)   # (N, T, H, W, 3) uint8
        width, height = data.get("size", (frames.shape[3], frames.shape[2]))
    scaling = data.get("scaling", "center")
    report: dict[str, Any] = {"format": fmt, "quantize": quantize, "clips": source, "files": {}}
    written: list[Path] = []
    try:
        with exportable(model):
            with torch.no_grad():   # the library's own forward, not the wrapper that is exported
                x = scale_frames(frames, scaling) if frontend is None else frontend(frames)
                reference = model.probabilities(model(x))   # (N, C)
            t0 = time.perf_counter()
            graphs = [("clip", out, trace(model, scaling, (width, height), fmt, "clip", frames.shape[1], frontend))]
            if step:
                graphs.append(("step", step_out, trace(model, scaling, (width, height), fmt, "step",
                                                       frontend=frontend)))
            report["export_seconds"] = round(time.perf_counter() - t0, 2)
        for kind, path, exported in graphs:
            blob = _serialise(exported, fmt, _metadata(model, data, kind))
            fp32 = _Runner(blob, fmt)
            got = fp32(frames)[0] if kind == "clip" else _run_steps(fp32, model, frames)
            check = _compare(got, reference)
            entry = {"path": str(path), "bytes": len(blob), **check}
            log(f"{kind} graph ({fmt}, fp32, {len(blob) / 1e6:.3f} MB): max |p - p_torch| = "
                f"{check['max_abs_diff']:.2e}, top-1 agreement {check['top1_agreement']:.1%} on {source}")
            if not (check["max_abs_diff"] <= atol and check["top1_agreement"] == 1.0):
                raise ExportError(f"{kind} graph check failed: max |p - p_torch| = {check['max_abs_diff']:.3g} "
                                  f"(expected <= {atol:g}), top-1 agreement {check['top1_agreement']:.1%} "
                                  f"(expected 100%) on {source}; nothing written")
            if quantize == "int8":
                blob_q = quantize_int8(blob)
                quantized = _Runner(blob_q, fmt)
                got = quantized(frames)[0] if kind == "clip" else _run_steps(quantized, model, frames)
                check_q = _compare(got, reference)
                if not check_q["finite"]:
                    raise ExportError(f"{kind} graph after int8 quantisation gives non-finite probabilities; "
                                      "nothing written")
                if targets is not None and targets.dim() == 1:   # single-label clips: the accuracy change
                    check_q["accuracy_fp32"] = float((reference.argmax(-1) == targets).double().mean())
                    check_q["accuracy_int8"] = float((got.argmax(-1) == targets).double().mean())
                entry.update(fp32_bytes=len(blob), bytes=len(blob_q), int8=check_q)
                log(f"{kind} graph int8: {len(blob) / 1e6:.3f} MB -> {len(blob_q) / 1e6:.3f} MB "
                    f"({len(blob_q) / len(blob):.0%}); max |p - p_torch| = {check_q['max_abs_diff']:.2e}, "
                    f"top-1 agreement {check_q['top1_agreement']:.1%} (fp32: {check['top1_agreement']:.1%}) "
                    f"on {source}")
                if "accuracy_int8" in check_q:
                    log(f"{kind} graph accuracy on {len(targets)} labelled clips: fp32 {check_q['accuracy_fp32']:.1%}, "
                        f"int8 {check_q['accuracy_int8']:.1%}")
                blob = blob_q
            atomic_write_bytes(path, blob)
            written.append(path)
            report["files"][kind] = entry
    except BaseException:
        for path in written:      # all or nothing: a failed step graph takes the clip graph with it
            path.unlink(missing_ok=True)
        raise
    return report


def main(argv: list[str]) -> int:
    args = _parser().parse_or_help(argv)
    if args is None:  # --help
        return 0
    report = export(args.ckpt_path, args.out, args.format, args.step, args.quantize, args.clips, args.num_clips,
                    args.atol, frame_size=None if args.frame_size is None else tuple(args.frame_size))
    for kind, entry in report["files"].items():
        print(f"wrote {entry['path']} ({kind} graph, {entry['bytes'] / 1e6:.3f} MB)")
    return 0
