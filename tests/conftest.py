"""Shared fixtures: tiny replicas of the public dataset layouts, made of real encoded videos.

All videos are 32x24 px and 8-12 frames, written through PyAV (MPEG-4 in AVI, MPEG-1 for
``.mpg``), so every loader is tested on files FFmpeg really decodes. Replicas are built once
per test session.

- ``counter_avi`` / ``counter_mpg``: 12 flat frames, frame i has the grey value
  ``counter_value(i)``: decoded frames reveal their index (codec error <= 3).
- ``ucf11_root``: UCF11 layout, classes basketball (prefix ``shooting``), biking and walking
  (prefix ``walk_dog``), 3 groups x 2 clips each, plus ``Annotation/`` and ``.xgtf`` files.
- ``ucf11_bad_root``: the same plus a truncated and an empty clip.
- ``hmdb51_root``, ``hollywood2_root``, ``youtube_root``, ``ucf101_root``, ``folder_root``.
- ``demo_root``: :func:`tensorrnn.data.make_demo_videos`, 3 classes x 2 groups x 2 clips.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tensorrnn.data.synthetic import make_demo_videos, render_clip, write_video
from tensorrnn.testing import write_empty, write_truncated

SIZE = (32, 24)  # (width, height)
#: The augmentation the loader tests' training clips draw (crop, lighting and flip all on).
LOADER_AUGMENT = dict(crop_scale=(0.3, 1.0), brightness=0.2, contrast=0.2, flip=0.5)
UCF11_REPLICA = {"basketball": "shooting", "biking": "biking", "walking": "walk_dog"}


@pytest.fixture(scope="session", autouse=True)
def private_cache_home(tmp_path_factory) -> Path:
    """``$XDG_CACHE_HOME`` of the whole session (and of the processes it starts): a temporary
    folder, so the clip stores a ``fit`` writes by default never land in the user's cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    home = tmp_path_factory.mktemp("xdg_cache")
    os.environ["XDG_CACHE_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


def counter_value(i: int) -> int:
    """Grey level of frame i of the counter clips."""
    return 10 + 20 * i


def counter_frames(num_frames: int = 12, size=SIZE) -> np.ndarray:
    width, height = size
    values = np.array([counter_value(i) for i in range(num_frames)], dtype=np.uint8)
    return np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).copy()


def clip(path: Path, seed: int, num_frames: int = 8, motion: str = "left_right") -> Path:
    """Write a small moving-object clip (32x24) to ``path``."""
    return write_video(path, render_clip(motion, SIZE, num_frames, np.random.default_rng(seed)))


@pytest.fixture(scope="session")
def counter_avi(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("counter") / "counter.avi", counter_frames())


@pytest.fixture(scope="session")
def counter_mpg(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("counter") / "counter.mpg", counter_frames())


@pytest.fixture(scope="session")
def long_noisy_avi(tmp_path_factory) -> Path:
    """48 frames of a moving object: big enough that cutting the file in half hits frame data."""
    return clip(tmp_path_factory.mktemp("long") / "long.avi", seed=99, num_frames=48)


def _ucf11(root: Path) -> Path:
    seed = 0
    for cls, prefix in UCF11_REPLICA.items():
        (root / cls / "Annotation").mkdir(parents=True)
        (root / cls / "Annotation" / f"v_{prefix}_01_01.xgtf").write_text("<xml/>")
        for group in (1, 2, 3):
            for c in (1, 2):
                stem = f"v_{prefix}_{group:02d}"
                clip(root / cls / stem / f"{stem}_{c:02d}.avi", seed)
                (root / cls / stem / f"{stem}_{c:02d}.xgtf").write_text("<xml/>")
                seed += 1
    return root


@pytest.fixture(scope="session")
def ucf11_root(tmp_path_factory) -> Path:
    return _ucf11(tmp_path_factory.mktemp("ucf11"))


@pytest.fixture(scope="session")
def ucf11_store(ucf11_root, tmp_path_factory):
    """The UCF11 replica served from a JPEG store as fit's training loaders serve it: uint8
    samples (deferred scaling), augmented with :data:`LOADER_AUGMENT`. Tests change copies."""
    from tensorrnn.data import UCF11

    ds = UCF11(ucf11_root, size=SIZE, num_frames=4, scaling="unit", cache_dir=tmp_path_factory.mktemp("store"),
               progress=False, augment=LOADER_AUGMENT)
    ds.deferred_scaling = True
    return ds


@pytest.fixture(scope="session")
def ucf11_bad_root(tmp_path_factory, long_noisy_avi) -> Path:
    root = _ucf11(tmp_path_factory.mktemp("ucf11_bad"))
    write_truncated(long_noisy_avi, root / "biking" / "v_biking_04" / "v_biking_04_01.avi")
    write_empty(root / "walking" / "v_walk_dog_04" / "v_walk_dog_04_01.avi")
    return root


HMDB51_CLASSES = ("brush_hair", "cartwheel")


@pytest.fixture(scope="session")
def hmdb51_root(tmp_path_factory) -> Path:
    """2 classes x 4 videos; split 1: ids 1,1,2,0 per class; split 2: 2,2,1,1; one listed
    video has no file and one line tries to leave the root."""
    root = tmp_path_factory.mktemp("hmdb51")
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    for k, cls in enumerate(HMDB51_CLASSES):
        names = [f"{cls}_video{i}_f_cm_np1_ri_med_{i}.avi" for i in range(4)]
        for i, name in enumerate(names):
            clip(root / cls / name, 100 + 10 * k + i)
        lines1 = [f"{n} {r}" for n, r in zip(names, (1, 1, 2, 0))]
        if k == 0:
            lines1 += ["not_downloaded.avi 1", "../../outside.avi 1"]
        (splits / f"{cls}_test_split1.txt").write_text("\n".join(lines1) + "\n")
        (splits / f"{cls}_test_split2.txt").write_text("\n".join(f"{n} {r}" for n, r in zip(names, (2, 2, 1, 1))))
    clip(root.parent / "outside.avi", 199)  # a real video the "../../outside.avi" line points at
    return root


#: Hollywood2 replica: clip name -> positive actions.
HOLLYWOOD2_LABELS = {
    "actioncliptrain00001": ("AnswerPhone",),
    "actioncliptrain00002": ("Kiss", "HugPerson"),
    "actioncliptrain00003": ("Run",),
    "actioncliptest00001": ("DriveCar",),
    "actioncliptest00002": ("SitDown", "StandUp"),
    "actionclipautoautotrain00001": ("Eat",),
}


@pytest.fixture(scope="session")
def hollywood2_root(tmp_path_factory) -> Path:
    from tensorrnn.papers import HOLLYWOOD2_ACTIONS

    root = tmp_path_factory.mktemp("hollywood2")
    (root / "ClipSets").mkdir()
    for i, name in enumerate(HOLLYWOOD2_LABELS):
        clip(root / "AVIClips" / f"{name}.avi", 200 + i)
    parts = {"train": "actioncliptrain", "test": "actioncliptest", "autotrain": "actionclipautoautotrain"}
    for action in HOLLYWOOD2_ACTIONS:
        for part, prefix in parts.items():
            names = [n for n in HOLLYWOOD2_LABELS if n.startswith(prefix)]
            lines = [f"{n}  {1 if action in HOLLYWOOD2_LABELS[n] else -1}" for n in names]
            (root / "ClipSets" / f"{action}_{part}.txt").write_text("\n".join(lines) + "\n")
    # scene label files live in the same folder in the release; they must be ignored
    (root / "ClipSets" / "EXT-House_train.txt").write_text("sceneclipautotrain00001 1\n")
    return root


YOUTUBE_FILES = ("0001_01_001_adam_sandler.avi", "0001_02_004_adam_sandler.avi",
                 "0420_01_002_steven_spielberg.avi", "1771_03_013_steven_spielberg.avi",
                 "0977_01_001_al_pacino.avi")


@pytest.fixture(scope="session")
def youtube_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("youtube")
    for i, name in enumerate(YOUTUBE_FILES):
        clip(root / name, 300 + i)
    return root


UCF101_CLASSES = ("ApplyEyeMakeup", "Archery", "HandstandPushups")


@pytest.fixture(scope="session")
def ucf101_root(tmp_path_factory) -> Path:
    """3 classes x groups 1, 2, 8 x 1 clip; split 1: groups 1-7 test, the rest train.
    HandstandPushups files use the release's odd case (v_HandStandPushups_...)."""
    root = tmp_path_factory.mktemp("ucf101")
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    train, test = [], []
    for k, cls in enumerate(UCF101_CLASSES):
        file_cls = "HandStandPushups" if cls == "HandstandPushups" else cls
        for g in (1, 2, 8):
            name = f"v_{file_cls}_g{g:02d}_c01.avi"
            clip(root / "UCF-101" / cls / name, 400 + 10 * k + g)
            (test.append(f"{cls}/{name}") if g <= 7 else train.append(f"{cls}/{name} {k + 1}"))
    (lists / "classInd.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(UCF101_CLASSES)))
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (lists / "testlist01.txt").write_text("\r\n".join(test + ["Archery/v_Archery_g05_c09.avi"]) + "\r\n")
    return root


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    for k, cls in enumerate(("cats", "dogs")):
        for i in range(2):
            clip(root / cls / ("sub" if i else "") / f"clip{i}.mpg", 500 + 10 * k + i)
    (root / "README.txt").write_text("not a class")
    return root


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return make_demo_videos(tmp_path_factory.mktemp("demo"), num_classes=3, groups=2, clips_per_group=2,
                            size=SIZE, num_frames=10, progress=False)


def streamed_step_graph(model, frames, path: Path) -> np.ndarray:
    """The model's step graph exported to ONNX at ``path`` and run in onnxruntime over uint8
    ``frames`` ``(B, T, H, W, 3)`` one frame at a time: the probabilities after the last frame."""
    import onnxruntime
    import torch

    from tensorrnn.deploy.graphs import StepGraph, exportable

    with exportable(model):
        torch.onnx.export(StepGraph(model, "unit"), (frames[:, 0], *model.init_state(frames.shape[0])), str(path),
                          dynamo=True)
    return streamed(onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]), model, frames)


def streamed(stepper, model, frames) -> np.ndarray:
    """An onnxruntime session of ``model``'s step graph run over uint8 ``frames`` ``(B, T, H, W, 3)``
    one frame at a time from ``model.init_state(B)``: the probabilities after the last frame."""
    names = [i.name for i in stepper.get_inputs()]
    values = [s.numpy() for s in model.init_state(frames.shape[0])]
    for t in range(frames.shape[1]):
        probs, *values = stepper.run(None, dict(zip(names, [frames[:, t].numpy(), *values])))
    return probs


def traced_session(model, kind: str, size: tuple[int, int], path: Path):
    """``model``'s clip or step graph as ``tensorrnn export`` traces it (``trace``: dynamic batch,
    and time for a clip; scaling ``unit``), written to ``path`` and opened in onnxruntime."""
    import onnxruntime

    from tensorrnn.deploy.export import trace
    from tensorrnn.deploy.graphs import exportable

    with exportable(model):
        proto = trace(model, "unit", size, kind=kind)
    path.write_bytes(proto.SerializeToString())
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def assert_streamed_equals_clips(model, x, atol: float = 1e-12) -> None:
    """Stream clips ``x`` ``(B, T, ...)`` into ``model.step`` frame by frame: after every frame
    from the second on, the probabilities equal ``forward`` on the clips so far (float64)."""
    import torch

    with torch.no_grad():
        state = model.init_state(x.shape[0])
        for t in range(x.shape[1]):
            probs, state = model.step(x[:, t], state)
            if t >= 1:
                torch.testing.assert_close(probs, model.probabilities(model(x[:, :t + 1])), rtol=0, atol=atol)


def load_bench(name: str):
    """``bench/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
