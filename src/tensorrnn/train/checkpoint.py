"""Checkpoints: atomic writes, safe loads, and one-line errors for bad or foreign files.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp directory; when that is another filesystem the final move is a copy,
so a ``kill -9`` during it leaves a truncated ``last.ckpt``. :class:`AtomicCheckpointIO`
writes next to the target, fsyncs, then ``os.replace``\\ s: the file is either the old or the
new checkpoint, never half of one.
"""
from __future__ import annotations

import errno
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tensorrnn.files import atomic_write_bytes

#: Hyper-parameters that define the network's weights; a checkpoint must agree on all of them.
MODEL_KEYS = ("arch", "factorization", "in_shape", "hidden_shape", "rank", "blocks", "shared_gates",
              "recurrent_factorization", "recurrent_shape", "recurrent_rank", "num_classes", "multilabel")


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


def find_last_checkpoint(root: str | os.PathLike, name: str) -> Path | None:
    """The newest ``last.ckpt`` under ``root/name/version_*/checkpoints`` (for ``--ckpt_path last``)."""
    candidates = list(Path(root, name).glob("version_*/checkpoints/last*.ckpt"))
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
