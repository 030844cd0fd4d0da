"""``tensorrnn features``: per-frame features of a dataset's clips from a pretrained image
backbone, written where ``tensorrnn fit`` reads them.

    tensorrnn features ucf11 UCF11_updated_mpg --backbone inception_v3 --out UCF11_features
    tensorrnn fit --config configs/ucf11_cnn_tr_lstm.yaml --data.root UCF11_features

Every video of the dataset (any layout ``fit`` reads) is decoded, its frames (every frame, or
every ``--every``-th) go through a torchvision classification backbone without its last layer
(``inception_v3``: 2,048 features a frame, as the TR-LSTM paper; ``resnet18``: 512;
``mobilenet_v3_small``: 576), preprocessed as its weights expect (``weights.transforms()``), in
batches on ``--device``, and the features of each video are written as one ``.npy`` array
``(T, F)`` at the video's path under ``--out`` (the root of ``data.features: true``).

Weights: ``default`` is the backbone's weights enum's ``DEFAULT`` (torchvision downloads it
once), ``none`` a random initialisation, seeded so that it is the same on every call (for
tests: the features mean nothing), or the path of a local state dict of the whole torchvision
model. ``--out/features.json`` records the backbone, its weights and the frame policy; a rerun
with the same ones resumes (videos whose ``.npy`` exists are skipped; every file is written
atomically), another backbone into the same folder is refused. A video that cannot be decoded is named in a warning and skipped.

A model trained on such a folder keeps its record in its checkpoint (``fit``), so ``tensorrnn
predict`` on it takes videos: :func:`backbone_from_record` rebuilds the backbone and
:func:`video_features` makes a video's features as this command made the training ones.
"""
from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tensorrnn.data.datasets.registry import DATASETS
from tensorrnn.data.video import VideoError, read_frames
from tensorrnn.errors import ArgumentParser, UsageError
from tensorrnn.files import atomic_write_bytes, atomic_write_text

#: Backbones named in the help (any torchvision classification model works).
BACKBONES = ("inception_v3", "resnet18", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")
#: The record of how a features folder was made.
RECORD = "features.json"


def import_torchvision():
    """``torchvision`` (imported on first use: ``tensorrnn[features]``). Beside a CPU torch, a
    CUDA build of it imports thanks to :func:`tensorrnn.compat.torchvision_beside_cpu_torch`."""
    try:
        import torchvision
    except ImportError as err:
        raise UsageError(f"tensorrnn features needs torchvision ({err}); "
                         "expected: pip install 'tensorrnn[features]'") from None
    return torchvision


@dataclass
class Backbone:
    """A torchvision backbone without its last layer, with the preprocessing of its weights.

    Attributes:
        name: the torchvision model name (``"inception_v3"``).
        weights: ``"none"``, the weights enum's name (``"Inception_V3_Weights.IMAGENET1K_V1"``) or a
            state dict's path.
        module: the model, its last layer an ``nn.Identity``, in eval mode on its device.
        transform: uint8 frames ``(N, 3, H, W)`` -> the float input the model expects.
        feature_size: features a frame.
    """

    name: str
    weights: str
    module: nn.Module
    transform: nn.Module
    feature_size: int

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def __call__(self, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Features ``(T, F)`` float32 of uint8 RGB frames ``(T, H, W, 3)``, ``batch_size`` at a time."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(frames), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(frames[start:start + batch_size])).permute(0, 3, 1, 2)
                x = self.transform(x.to(self.device)).to(self.dtype)
                out.append(self.module(x).float().cpu())
        return torch.cat(out).numpy()


class FramePreprocess(nn.Module):
    """A backbone's preprocessing (torchvision's ``ImageClassification`` preset: bilinear
    antialiased resize of the shorter side, the result rounded to grey levels, centre crop,
    scaling to [0, 1] and normalisation) for frames of one ``height x width``, written with plain
    tensor operations whose sizes are fixed here, so that ``torch.export`` and ONNX take it (the
    preset computes them from the input at every call, which the exporter cannot follow). Gives
    what the preset gives (``tests/test_features.py``).

    Shape:
        uint8 ``(N, 3, height, width)`` -> float32 ``(N, 3, crop, crop)``.
    """

    def __init__(self, transform: nn.Module, height: int, width: int) -> None:
        super().__init__()
        names = ("resize_size", "crop_size", "mean", "std", "antialias")
        if not all(hasattr(transform, name) for name in names) or "BILINEAR" not in str(transform.interpolation):
            raise ValueError(f"transform {transform!r}: expected torchvision's ImageClassification preset "
                             "(bilinear resize, centre crop, normalisation)")
        short = transform.resize_size[0]
        # torchvision's rule: the shorter side becomes `short`, the longer int(short * long / short side)
        self.size = ((short, int(short * width / height)) if height <= width else (int(short * height / width), short))
        crop = transform.crop_size
        self.crop = (crop[0], crop[-1])
        self.top = int(round((self.size[0] - self.crop[0]) / 2.0))
        self.left = int(round((self.size[1] - self.crop[1]) / 2.0))
        self.antialias = bool(transform.antialias)
        self.register_buffer("mean", torch.tensor(transform.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(transform.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.interpolate(x.float(), size=self.size, mode="bilinear", align_corners=False,
                                            antialias=self.antialias)
        y = y.round().clamp(0, 255)  # as the preset resizes uint8 frames: back to grey levels
        y = y[:, :, self.top:self.top + self.crop[0], self.left:self.left + self.crop[1]] / 255.0
        return (y - self.mean) / self.std


class FrameFeatures(nn.Module):
    """A backbone as a module on uint8 frames of one size: ``(..., H, W, 3)`` -> ``(..., F)``,
    what :class:`Backbone` gives, in a form ``torch.export`` and ONNX take (the exported graph
    of a feature model holds it in front of the recurrent model)."""

    def __init__(self, backbone: Backbone, height: int, width: int) -> None:
        super().__init__()
        self.preprocess = FramePreprocess(backbone.transform, height, width)
        self.module = backbone.module
        self.feature_size = backbone.feature_size

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2)  # (N, 3, H, W)
        return self.module(self.preprocess(x)).reshape(*lead, self.feature_size)


def _strip_head(model: nn.Module, name: str) -> nn.Module:
    """The model with its last layer (the classifier) replaced by ``nn.Identity``: its output is
    the pooled features the classifier read."""
    for attr in ("fc", "classifier", "heads", "head"):
        if isinstance(getattr(model, attr, None), nn.Module):
            setattr(model, attr, nn.Identity())
            return model
    raise ValueError(f"--backbone={name!r}: found no classifier layer (fc, classifier, heads or head) to remove; "
                     "expected a torchvision classification model such as resnet18")


def load_backbone(name: str, weights: str = "default", device: str | torch.device = "cpu") -> Backbone:
    """The torchvision classification model ``name`` as a per-frame feature extractor.

    ``weights``: ``"default"`` (the weights enum's ``DEFAULT``, downloaded once by torchvision),
    ``"none"`` (a random initialisation) or the path of a local state dict of the whole model.
    The preprocessing is the weights enum's ``transforms()`` (for ``none`` and a file: its
    ``DEFAULT``'s, which a state dict of the same architecture was trained with).
    """
    torchvision = import_torchvision()
    from torchvision.models import get_model, get_model_weights, list_models

    classification = list_models(module=torchvision.models)
    if name not in classification:
        close = [m for m in classification if name.split("_")[0] in m][:6]
        raise ValueError(f"--backbone={name!r}: not a torchvision classification model; expected e.g. "
                         f"{', '.join(close or BACKBONES)}")
    enum = get_model_weights(name)
    options = {"aux_logits": False, "init_weights": False} if name in ("inception_v3", "googlenet") else {}
    named = weights.split(".", 1)[1] if weights.startswith(f"{enum.__name__}.") else None  # as a record names them
    if weights == "default" or named is not None:
        if named is not None and named not in enum.__members__:
            raise ValueError(f"--weights {weights!r}: not one of {enum.__name__}'s "
                             f"({', '.join(enum.__members__)})")
        chosen = enum.DEFAULT if named is None else enum[named]
        model = get_model(name, weights=chosen)
        label = f"{type(chosen).__name__}.{chosen.name}"
    else:
        with torch.random.fork_rng(devices=[]):  # "none": the same random backbone on every call
            torch.manual_seed(0)
            model = get_model(name, weights=None, **options)
        label = "none"
        if weights != "none":
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"--weights {str(path)!r}: no such file; expected 'default', 'none' or the "
                                        f"path of a state dict of torchvision's {name}")
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
            missing, unexpected = model.load_state_dict(state, strict=False)
            wanted = [k for k in missing if not k.startswith("AuxLogits.")]
            if wanted or unexpected:
                raise ValueError(f"--weights {str(path)!r}: not a state dict of torchvision's {name} "
                                 f"({len(wanted)} missing keys, e.g. {wanted[:2]}; {len(unexpected)} unexpected, "
                                 f"e.g. {unexpected[:2]})")
            label = str(path.resolve())
        chosen = enum.DEFAULT
    if hasattr(model, "aux_logits"):
        model.aux_logits, model.AuxLogits = False, None
    module = _strip_head(model, name).eval().to(device)
    transform = chosen.transforms()
    crop = list(transform.crop_size)
    with torch.inference_mode():
        probe = torch.zeros(1, 3, crop[0], crop[-1], device=device)
        feature_size = int(module(probe).shape[-1])
    return Backbone(name, label, module, transform, feature_size)


def video_features(backbone: Backbone, path: str | os.PathLike, every: int = 1, batch_size: int = 32) -> np.ndarray:
    """The features ``(T, F)`` of every ``every``-th frame of the video at ``path``: what
    ``tensorrnn features`` writes for it (and ``predict`` computes for a feature model)."""
    return backbone(read_frames(path, every=every), batch_size)


def read_record(folder: str | os.PathLike) -> dict | None:
    """The record of the features folder ``folder`` (``features.json``), or None without one
    (features made by other tools)."""
    path = Path(folder) / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({err}); expected the record of a tensorrnn features run") from None
    missing = [key for key in ("backbone", "weights", "feature_size", "every") if key not in record]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)}; expected the record of a tensorrnn features run")
    return record


def backbone_from_record(record: dict, device: str | torch.device = "cpu") -> Backbone:
    """The backbone a features record names, as it made the features (its weights' identity:
    an enum member, ``none``'s seeded initialisation, or the state dict file, which must exist)."""
    import re

    weights = record["weights"]
    enum_member = re.fullmatch(r"\w+_Weights\.\w+", weights) is not None  # e.g. ResNet18_Weights.IMAGENET1K_V1
    if weights != "none" and not enum_member and not Path(weights).is_file():
        raise FileNotFoundError(f"the model's features were made by {record['backbone']} with the weights "
                                f"{weights!r}, which are not on this machine; expected that file")
    backbone = load_backbone(record["backbone"], weights, device)
    if backbone.feature_size != int(record["feature_size"]):
        raise ValueError(f"backbone {record['backbone']} ({weights}) gives {backbone.feature_size} features a frame; "
                         f"the model was trained on {record['feature_size']}")
    return backbone


def _videos(dataset) -> list[Path]:
    """The dataset's distinct video files, in its order."""
    return list(dict.fromkeys(clip.path for clip in dataset.clips))


def _save(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def _check_record(out: Path, record: dict) -> None:
    """Refuse to add features of another backbone, weights or frame policy to ``out``."""
    path = out / RECORD
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({err}); expected the record of an earlier tensorrnn features run, "
                         "or an empty --out folder") from None
    differ = {k: (old.get(k), v) for k, v in record.items() if k in ("backbone", "weights", "every") and old.get(k) != v}
    if differ:
        shown = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differ.items())
        raise UsageError(f"--out {str(out)!r} holds features made otherwise ({shown}); expected the same backbone, "
                         "weights and --every to resume, or another --out folder")


def extract(dataset: str, root: str | os.PathLike, out: str | os.PathLike, backbone: Backbone, every: int = 1,
            batch_size: int = 32, progress: bool = True, **options) -> dict:
    """Write the per-frame features of every video of ``dataset`` at ``root`` under ``out`` (see
    the module). Returns ``{"videos", "written", "skipped", "bad": [(path, reason)], "frames"}``."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"--every={every!r}: expected an integer >= 1 (1: every frame)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--batch-size={batch_size!r}: expected an integer >= 1")
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}: expected one of {', '.join(DATASETS)}")
    if dataset == "kth" and every != 1:
        raise ValueError(f"--every={every}: KTH's clips are frame ranges of its videos, which the features must "
                         "keep; expected --every 1 for kth")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*ignored \d+ entries")
        ds = DATASETS[dataset](root, size=None, progress=progress, max_bad_fraction=1.0, **options)
    root, out = Path(ds.root), Path(out)
    record = {"backbone": backbone.name, "weights": backbone.weights, "feature_size": backbone.feature_size,
              "every": every, "dataset": dataset, "root": str(root.resolve()),
              "transform": repr(backbone.transform), "torchvision": import_torchvision().__version__}
    _check_record(out, record)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RECORD, json.dumps(record, indent=2) + "\n")
    bad = [(Path(p), reason) for p, reason in ds.bad_clips]
    for path, reason in bad:
        warnings.warn(f"{path}: skipped ({reason})", stacklevel=2)
    videos = _videos(ds)
    written = skipped = frames_done = 0
    from tqdm import tqdm

    for path in tqdm(videos, desc=f"features ({backbone.name})", unit="video", disable=not progress):
        target = (out / path.relative_to(root)).with_suffix(".npy")
        if target.exists():
            skipped += 1
            continue
        try:
            features = video_features(backbone, path, every, batch_size)
        except (VideoError, OSError) as err:
            warnings.warn(f"{path}: skipped ({err})", stacklevel=2)
            bad.append((path, str(err)))
            continue
        _save(target, features)
        written += 1
        frames_done += len(features)
    return {"videos": len(videos), "written": written, "skipped": skipped, "bad": bad, "frames": frames_done,
            "feature_size": backbone.feature_size, "out": out}


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="tensorrnn features", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS), help="dataset layout")
    parser.add_argument("root", help="dataset folder (its videos)")
    parser.add_argument("--out", required=True, help="folder of the features: the data.root of data.features: true")
    parser.add_argument("--backbone", default="resnet18",
                        help=f"torchvision classification model, e.g. {', '.join(BACKBONES)} (default: %(default)s; "
                             "inception_v3 is the TR-LSTM paper's)")
    parser.add_argument("--weights", default="default",
                        help="default: the backbone's DEFAULT weights (downloaded once by torchvision); none: random "
                             "(for tests); or a local state dict file (default: %(default)s)")
    parser.add_argument("--every", type=int, default=1, help="every K-th frame of each video (default: 1, all)")
    parser.add_argument("--batch-size", "--batch_size", type=int, default=32,
                        help="frames a forward pass (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ... "
                                                          "(default: %(default)s)")
    parser.add_argument("--split", type=int, default=1, help="official split, for hmdb51/ucf101 (default: 1)")
    parser.add_argument("--no-progress", "--no_progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device={args.device!r}: expected auto, cpu, cuda or cuda:N") from None
    options = ({"split": args.split, "subset": "all"} if args.dataset in ("hmdb51", "ucf101")
               else {"subset": "all"} if args.dataset == "hollywood2" else {})
    backbone = load_backbone(args.backbone, args.weights, device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = extract(args.dataset, args.root, args.out, backbone, args.every, args.batch_size,
                          progress=not args.no_progress, **options)
    print(f"{args.dataset}: {summary['videos']} videos, {summary['written']} written, {summary['skipped']} already "
          f"there, {len(summary['bad'])} bad; {summary['frames']:,} frames x {summary['feature_size']} features "
          f"({backbone.name}, weights {backbone.weights}) in {summary['out']}")
    for path, reason in summary["bad"]:
        print(f"  bad: {path}: {reason}")
    for warning in caught:
        if "skipped" not in str(warning.message):
            print(f"  warning: {warning.message}")
    return 0
