"""Fixes for third-party packages that must run before they are imported; ``import tensorrnn``
applies them (cheaply: nothing here imports the packages it fixes)."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import torch

_libraries: list = []   # the definitions below live as long as their library objects


def torchvision_beside_cpu_torch() -> bool:
    """Let a CUDA build of torchvision import beside a CPU build of torch; True if needed.

    torchvision's wheels on PyPI are built against CUDA torch. Beside the CPU torch wheel their
    compiled operators cannot load, and ``import torchvision`` then fails while registering fake
    kernels for two of them (``torchvision::nms``, ``qnms``); torchmetrics imports torchvision
    when it is installed, so Lightning would fail to import too. Their schemas are defined here
    first (without kernels: the classification models never call them), so torchvision imports
    with its pure-PyTorch models intact. Nothing is done for a CUDA torch, a CPU torchvision, or
    a torchvision already imported.
    """
    if torch.version.cuda is not None or "torchvision" in sys.modules or _libraries:
        return False
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return False
    try:
        version = (Path(spec.origin).parent / "version.py").read_text()
    except OSError:
        return False
    if not re.search(r"__version__ = ['\"][^'\"]*\+cu\d+", version):
        return False
    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _libraries.append(library)
    return True
