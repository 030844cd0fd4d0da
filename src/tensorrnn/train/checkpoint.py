"""Checkpoints: atomic writes, safe loads, and one-line errors for bad or foreign files.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp directory; when that is another filesystem the final move is a copy,
so a ``kill -9`` during it leaves a truncated ``last.ckpt``. :class:`AtomicCheckpointIO`
writes next to the target, fsyncs, then ``os.replace``\\ s: the file is either the old or the
new checkpoint, never half of one.

:func:`load_model` rebuilds a checkpoint's classifier and :func:`clip_options` reads how its test
clips were read: how ``tensorrnn predict`` and ``tensorrnn export`` (``deploy``) read a
checkpoint, from the layer below them.
"""
from __future__ import annotations

import errno
import inspect
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tensorrnn.files import atomic_write_bytes
from tensorrnn.train.module import FEATURE_RECORD, VideoClassifier

#: Hyper-parameters that define the network's weights; a checkpoint must agree on all of them.
MODEL_KEYS = ("arch", "factorization", "in_shape", "hidden_shape", "rank", "blocks", "shared_gates",
              "recurrent_factorization", "recurrent_shape", "recurrent_rank", "num_classes", "multilabel", "stem",
              "appearance", "stem_depth", "context")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose ``save_checkpoint`` is atomic on local filesystems."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location or "cpu")


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one-line errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--ckpt_path {str(path)!r}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # unpickling arbitrary bytes can fail with almost any exception type
        raise ValueError(f"--ckpt_path {str(path)!r}: not a readable checkpoint: {_reason(err)}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"--ckpt_path {str(path)!r}: not a Lightning checkpoint (no 'state_dict')")
    return checkpoint


def load_model(path: str | Path, device: str = "cpu") -> tuple[VideoClassifier, dict[str, Any]]:
    """Rebuild the classifier of a checkpoint; returns it (eval mode) and the data options (with,
    for a model of per-frame features, the record of how they were made under ``feature_record``)."""
    checkpoint = load_checkpoint(path)
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    accepted = set(inspect.signature(VideoClassifier.__init__).parameters) - {"self"}
    unknown = sorted(k for k in hparams if k not in accepted and not k.startswith("_"))
    if not hparams or unknown:
        raise ValueError(f"--ckpt_path {str(path)!r}: not a tensorrnn classifier checkpoint "
                         f"(hyper-parameters {unknown[:3] or 'missing'})")
    model = VideoClassifier(**{k: v for k, v in hparams.items() if k in accepted})
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"--ckpt_path {str(path)!r}: weights do not fit the model in its hyper-parameters: "
                         f"{str(err).splitlines()[0]}") from None
    data = dict(checkpoint.get("datamodule_hyper_parameters", {}))
    if not data:
        raise ValueError(f"--ckpt_path {str(path)!r}: no data options in the checkpoint "
                         "(expected one written by tensorrnn fit)")
    if FEATURE_RECORD in checkpoint:  # a features model: how its features were made
        data[FEATURE_RECORD] = checkpoint[FEATURE_RECORD]
    return model.to(device).eval(), data


def clip_options(data: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``VideoClipDataset`` that read a file as the test clips are read:
    frame size, sampling, views, padding, scaling, from the frames as decoded. The clip store
    the model trained on (``data.store``) is not imitated: at inference the frames are what the
    decoder gives, as the exported graphs and ``model.step`` take them."""
    return dict(num_frames=data.get("num_frames", 6), size=tuple(data.get("size", (160, 120))),
                sampling=data.get("eval_sampling", "random"), stride=data.get("stride", 1),
                pad=data.get("pad", "front"), scaling=data.get("scaling", "center"),
                features=bool(data.get("features", False)), seed=data.get("eval_seed", 0),
                views=int(data.get("eval_views", 1)), validate=False, progress=False)


def _reason(err: Exception) -> str:
    text = " ".join(str(err).split())
    if ("central directory" in text or "zip archive" in text or isinstance(err, (EOFError, zipfile.BadZipFile))
            or (isinstance(err, OSError) and err.errno == errno.EINVAL)):  # torch on a cut-short archive
        return "truncated or corrupt (not a complete PyTorch zip archive)"
    if "Weights only load failed" in text:
        return ("refused by weights_only=True loading: not a PyTorch checkpoint, or it holds objects "
                "other than tensors and plain types")
    return text[:160] or type(err).__name__


def describe(hparams: dict[str, Any]) -> str:
    """A short description of a model's hyper-parameters, e.g. ``tt-gru 8x20x20x18->4x4x4x4 rank 4``."""
    shape = "x".join(map(str, hparams.get("in_shape", ()))) + "->" + "x".join(map(str, hparams.get("hidden_shape", ())))
    text = f"{hparams.get('factorization')}-{hparams.get('arch')} {shape} rank {hparams.get('rank')}"
    if hparams.get("recurrent_factorization", "dense") != "dense":
        text += f", recurrent {hparams['recurrent_factorization']} rank {hparams.get('recurrent_rank')}"
    if hparams.get("stem"):
        text += ", stem"
    return text


def check_compatible(checkpoint: dict[str, Any], model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Raise a one-line ``ValueError`` unless ``checkpoint`` holds weights of ``model``'s kind."""
    saved = checkpoint.get("hyper_parameters", {})
    current = dict(model.hparams)
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    diffs = [f"{key} {norm(saved.get(key))!r} != {norm(current.get(key))!r}"
             for key in MODEL_KEYS if key in saved and norm(saved.get(key)) != norm(current.get(key))]
    # the same number of classes in another order (or another data set) means other outputs
    names = saved.get("class_names"), current.get("class_names")
    if None not in names and len(names[0]) == len(names[1]) and list(names[0]) != list(names[1]):
        i = next(i for i, (a, b) in enumerate(zip(*names)) if a != b)  # other lengths: num_classes differs
        diffs.append(f"class_names[{i}] {names[0][i]!r} != {names[1][i]!r}")
    if diffs:
        raise ValueError(f"--ckpt_path {str(path)!r}: checkpoint is from a different model "
                         f"({describe(saved)}) than the config ({describe(current)}): {'; '.join(diffs)}")
    state = checkpoint["state_dict"]
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    # statistics estimated from data (input normalisation) are sized by the data: any shape loads
    sized_by_data = {k for k in expected if k.startswith("input_norm.")}
    wrong = [k for k in expected if k in state and k not in sized_by_data and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, expected {tuple(expected[wrong[0]].shape)}")
        raise ValueError(f"--ckpt_path {str(path)!r}: checkpoint does not fit the configured model "
                         f"({describe(current)}): {detail}")


#: Keys of the model's and the data module's hyper-parameters that are not the recipe, so a fit
#: may resume a checkpoint whose values differ (:func:`check_recipe`); dotted, as in the config.
NOT_RECIPE = frozenset({
    # where the data lives: the same clips may sit elsewhere on the machine that resumes
    "data.root", "data.cache_dir", "data.annotations", "data.classes_file", "data.dataset_options.splits_dir",
    # how fast the clips are read, and console output: the samples do not depend on them
    "data.num_workers", "data.load_threads", "data.dataset_options.build_workers", "data.dataset_options.progress",
    # where the augmentation and the decoding run: the same draws of the same transforms and frames
    # (rounded to grey levels or not; nvjpeg within a grey level or two of libjpeg-turbo)
    "data.augment_on", "data.decode_on",
    # linked from the data by the CLI: the classes (and their order) are compared by
    # check_compatible, frame_features follows data.size / data.features, which count
    "model.num_classes", "model.multilabel", "model.class_names", "model.frame_features",
})
#: Hyper-parameters that are dicts of options: compared key by key (``model.rnn_options.gate_activation``).
_OPTION_DICTS = ("model.rnn_options", "data.dataset_options")
_UNSET = "(not set)"


def _plain(value: Any) -> Any:
    """Tuples as lists, at any depth, so a default tuple equals the same list read from YAML."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _recipe(section: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """``{"model.lr": 0.001, "model.rnn_options.gate_activation": ..., ...}``: the recipe keys of
    one section's hyper-parameters, in their order (LightningCLI's own ``_instantiator`` and
    other ``_`` keys are not options)."""
    out = {}
    for key, value in hparams.items():
        name = f"{section}.{key}"
        if key.startswith("_") or name in NOT_RECIPE:
            continue
        if name in _OPTION_DICTS and (value is None or isinstance(value, dict)):
            out[name] = {f"{name}.{k}": _plain(v) for k, v in (value or {}).items() if f"{name}.{k}" not in NOT_RECIPE}
        else:
            out[name] = _plain(value)
    return out


def recipe_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, checkpoint's value, run's value)`` for every recipe key that differs, in the
    checkpoint's order. ``saved`` / ``current``: :func:`_recipe` of both. A top-level key that
    one side does not have comes from another version of the code and is not compared; a key of
    an option dict set on one side only differs (the other side has the default)."""
    diffs = []
    for name, value in saved.items():
        if name not in current:
            continue
        other = current[name]
        if name in _OPTION_DICTS and isinstance(value, dict) and isinstance(other, dict):
            for key in [*value, *(k for k in other if k not in value)]:
                a, b = value.get(key, _UNSET), other.get(key, _UNSET)
                if a != b:
                    diffs.append((key, a, b))
        elif value != other:
            diffs.append((name, value, other))
    return diffs


def check_recipe(checkpoint: dict[str, Any], model: torch.nn.Module, datamodule: Any,
                 path: str | os.PathLike) -> None:
    """Raise a one-line ``ValueError`` unless ``checkpoint`` was trained with the recipe of
    ``model`` and ``datamodule``: their hyper-parameters (``hyper_parameters`` and
    ``datamodule_hyper_parameters`` in the checkpoint) but those of :data:`NOT_RECIPE`.

    For a fit that resumes: the gates, input, optimiser, schedule or data of another config
    would otherwise continue the run without a word (:func:`check_compatible` compares only the
    network). The message names the first difference and how to resume or start anew.
    """
    saved = _recipe("model", checkpoint.get("hyper_parameters") or {})
    current = _recipe("model", dict(model.hparams))
    if checkpoint.get("datamodule_hyper_parameters") is not None and datamodule is not None:
        saved.update(_recipe("data", checkpoint["datamodule_hyper_parameters"]))
        current.update(_recipe("data", dict(datamodule.hparams)))
    diffs = recipe_differences(saved, current)
    if not diffs:
        return
    key, was, now = diffs[0]
    more = ""
    if len(diffs) > 1:
        others = [d[0] for d in diffs[1:]]
        more = f" (and {', '.join(others[:3])}{', ...' if len(others) > 3 else ''})"
    show = lambda v: v if v == _UNSET else repr(v)  # noqa: E731
    fix = f"leave {key} unset" if was == _UNSET else f"set {key}: {show(was)}"
    raise ValueError(f"--ckpt_path {str(path)!r}: the checkpoint was trained with another recipe: {key} is "
                     f"{show(was)} in the checkpoint, {show(now)} in this run{more}; to resume it, {fix} as in the "
                     "checkpoint; to train this recipe, start a new run (another --run_name, no --ckpt_path)")


def find_last_checkpoint(root: str | os.PathLike, name: str) -> Path | None:
    """The newest ``last.ckpt`` under ``root/name/version_*/checkpoints`` (for ``--ckpt_path last``)."""
    candidates = list(Path(root, name).glob("version_*/checkpoints/last*.ckpt"))
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
