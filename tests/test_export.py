"""``tensorrnn export`` and the step API: the exported graphs compute what the PyTorch model
computes (onnxruntime, fp32), for every factorisation, at batch and time sizes other than the
traced ones; the per-frame step equals the whole sequence; int8 reaches the factorised map's
weights; ``predict``, the timeline, the ONNX graph and the step read a file one way; bad input
is one line."""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tensorrnn import cli
from tensorrnn.data.sampling import sample_indices, scale_frames, scale_pixels
from tensorrnn.data.synthetic import write_video
from tensorrnn.data.video import probe, read_frames
from tensorrnn.deploy import export as ex
from tensorrnn.deploy import predict
from tensorrnn.deploy.graphs import ClipGraph, exportable
from tensorrnn.train.checkpoint import load_model
from tensorrnn.train.module import VideoClassifier

CLASSES = ["a", "b", "c"]
SIZE = (16, 12)                     # width, height
IN_SHAPE = [4, 4, 4, 9]             # 12 * 16 * 3
FORMATS = ("tt", "tr", "bt", "dense")


def build(arch: str, factorization: str, seed: int = 0, **kwargs) -> VideoClassifier:
    """A tiny classifier with random weights and fitted input statistics (0 training epochs)."""
    torch.manual_seed(seed)
    options = dict(rank=2, num_classes=3, class_names=CLASSES, input_dropout=0.0, dropout=0.0)
    model = VideoClassifier(arch, factorization, IN_SHAPE, [2, 2, 2, 2], **{**options, **kwargs})
    clips = scale_pixels(torch.randint(0, 256, (4 * 4, 12, 16, 3), dtype=torch.uint8).numpy(), "unit")
    model.input_norm.fit([model.steps(clips.view(4, 4, 12, 16, 3))])
    with torch.no_grad():   # larger weights than the init: probabilities far from uniform
        model.net.head.weight.mul_(20.0)
    return model.eval()


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A UCF11-layout folder: 3 classes x 3 groups, 8 frames of 16x12."""
    root = tmp_path_factory.mktemp("export") / "videos"
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        for group in (1, 2, 3):
            stem = f"v_{name}_{group:02d}"
            frames = rng.integers(0, 256, (8, 12, 16, 3)).astype(np.uint8) // (k + 1)
            write_video(root / name / stem / f"{stem}_01.avi", frames)
    return root


def save_checkpoint(model: VideoClassifier, root: Path, path: Path, **data_options) -> Path:
    """A checkpoint as tensorrnn fit writes it: weights, the model's and the data's options."""
    from tensorrnn.train.datamodule import VideoDataModule

    data = VideoDataModule(dataset="ucf11", root=str(root), split="group_kfold", num_folds=3, num_frames=4,
                           size=list(SIZE), scaling="unit", eval_views=2, dataset_options={"progress": False},
                           **data_options)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "datamodule_hyper_parameters": dict(data.hparams)}, path)
    return path


def reference(model: VideoClassifier, frames: torch.Tensor) -> torch.Tensor:
    """The library's own path: pixel scaling as in training, then ``forward``."""
    x = torch.stack([scale_pixels(clip.numpy(), "unit") for clip in frames])
    with torch.no_grad():
        return model.probabilities(model(x))


# --- the step API ---------------------------------------------------------------------------

@pytest.mark.parametrize("factorization", FORMATS)
@pytest.mark.parametrize("arch", ["gru", "lstm"])
@pytest.mark.parametrize("frame_diff", [True, False])
def test_step_equals_the_whole_sequence_in_float64(arch, factorization, frame_diff):
    model = build(arch, factorization, frame_diff=frame_diff).double()
    x = torch.randn(3, 5, 12, 16, 3, dtype=torch.float64)
    state = model.init_state(3)
    first = 1 if frame_diff else 0
    with torch.no_grad():
        for t in range(5):
            probs, state = model.step(x[:, t], state)
            if t >= first:
                expected = model.probabilities(model(x[:, : t + 1]))
                torch.testing.assert_close(probs, expected, rtol=0, atol=1e-12)
            else:   # one frame, no difference yet: the initial state's reading
                h0 = model.net.init_state(3)[0][-1]
                torch.testing.assert_close(probs, model.probabilities(model.net.head(h0)), rtol=0, atol=0)
    assert probs.std() > 1e-3     # not a constant that any graph would match


def test_sequence_classifier_step_matches_torch_gru_baseline():
    """The step API rides on forward(input, hx): a torch.nn.LSTM baseline steps too."""
    from tensorrnn.nn import SequenceClassifier

    torch.manual_seed(0)
    model = SequenceClassifier(torch.nn.LSTM(12, 5, num_layers=2, batch_first=True), 4).double().eval()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64)
    state = model.init_state(2)
    assert [tuple(s.shape) for s in state] == [(2, 2, 5), (2, 2, 5)]
    for t in range(6):
        probs, state = model.step(x[:, t], state)
    torch.testing.assert_close(probs, model(x).softmax(-1), rtol=0, atol=1e-12)


def test_models_without_a_step_say_so():
    from tensorrnn.nn import TTGRU, SequenceClassifier

    with pytest.raises(ValueError, match="arch='mlp'"):
        VideoClassifier("mlp", "tt", IN_SHAPE, [2, 2, 2, 2], rank=2, num_classes=3).init_state(1)
    bi = SequenceClassifier(TTGRU((4, 3), (2, 2), rank=2, bidirectional=True), 3)
    with pytest.raises(ValueError, match="bidirectional"):
        bi.init_state(1)


# --- ONNX round trip ------------------------------------------------------------------------

class _Several(torch.nn.Module):
    """Several clip graphs traced as one: one export covers every format (a test of the
    graphs, cheaper than one export each)."""

    def __init__(self, graphs):
        super().__init__()
        self.graphs = torch.nn.ModuleList(graphs)

    def forward(self, frames):
        return tuple(g(frames) for g in self.graphs)


def test_onnx_round_trip_every_format_dynamic_batch_and_time():
    configs = [(arch, f) for arch in ("gru", "lstm") for f in FORMATS]
    models = [build(arch, f, seed=i) for i, (arch, f) in enumerate(configs)]
    # and the recurrence's other paths: stacked layers without frame differences, both directions
    configs += [("lstm-2-layers", "tr"), ("gru-bidirectional", "tt")]
    models += [build("lstm", "tr", seed=8, frame_diff=False, rnn_options={"num_layers": 2}),
               build("gru", "tt", seed=9, rnn_options={"bidirectional": True, "reset_after": False})]
    with contextlib.ExitStack() as stack:
        for m in models:
            stack.enter_context(exportable(m))
        several = _Several([ClipGraph(m, "unit") for m in models])
        example = torch.zeros(2, 4, 12, 16, 3, dtype=torch.uint8)
        batch, time = ex.clip_dims(models[0])
        dims = ({0: batch, 1: time},)
        proto = ex._trace(several, (example,), dims, "onnx", (["frames"], [f"p{i}" for i in range(len(models))]))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for B, T in ((1, 2), (3, 7)):                    # neither is the traced (2, 4)
        frames = torch.from_numpy(rng.integers(0, 256, (B, T, 12, 16, 3)).astype(np.uint8))
        outputs = session.run(None, {"frames": frames.numpy()})
        for (arch, f), model, got in zip(configs, models, outputs):
            expected = reference(model, frames)
            assert got.shape == (B, 3), (arch, f)
            np.testing.assert_allclose(got, expected.numpy(), rtol=0, atol=1e-4, err_msg=f"{f}-{arch} B={B} T={T}")
            assert (got.argmax(-1) == expected.argmax(-1).numpy()).all(), (arch, f)
    assert float(expected.max() - expected.min()) > 0.05   # the outputs differ between clips and classes


def _nodes(graph):
    """Every node, those of subgraphs (the recurrence's Scan body) included."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attribute.g)


def test_cli_export_step_graph_int8_and_metadata(videos, tmp_path, capsys):
    model = build("gru", "tt")
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt")
    out = tmp_path / "deploy" / "m.onnx"
    assert cli.main(["export", "--ckpt_path", str(ckpt), "--out", str(out), "--step", "--quantize", "int8",
                     "--num-clips", "3"]) == 0
    printed = capsys.readouterr().out
    assert "top-1 agreement 100.0%" in printed and "max |p - p_torch|" in printed and "int8" in printed
    # the dataset's held-out clips are labelled: the accuracy before and after quantisation
    data = torch.load(ckpt, weights_only=True)["datamodule_hyper_parameters"]
    frames, targets, source = ex.verification_clips(data, CLASSES, count=3)
    assert source.startswith("3 held-out clips of ucf11") and len(targets) == 3
    accuracy = float((reference(model, frames).argmax(-1) == targets).double().mean())
    assert f"clip graph accuracy on 3 labelled clips: fp32 {accuracy:.1%}, int8 " in printed
    step_out = tmp_path / "deploy" / "m.step.onnx"
    assert out.is_file() and step_out.is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]     # no temp files left

    proto = onnx.load(str(out))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["class_names"]) == CLASSES and json.loads(meta["frame_size"]) == list(SIZE)
    assert meta["num_frames"] == "4" and meta["sampling"] == "segments" and meta["scaling"] == "unit"
    assert meta["graph"] == "clip" and meta["tensorrnn_version"]
    # int8: every MatMul weight, the TT cores and the recurrent matrix in the Scan body included,
    # is quantised (no float MatMul / Gemm reads an initializer)
    nodes = list(_nodes(proto.graph))
    assert sum(n.op_type == "MatMulInteger" for n in nodes) >= 3 and any(n.op_type == "Scan" for n in nodes)
    floats = {i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    assert not [n.name for n in nodes if n.op_type in ("MatMul", "Gemm") and set(n.input[:2]) & floats]
    int8 = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    core_elements = sum(c.numel() for c in model.net.rnn.input_proj.cores)
    assert sum(math.prod(i.dims) for i in int8) >= core_elements // 2

    # the step graph, one frame at a time, against the whole clip in PyTorch (int8: close, not equal)
    step = ort.InferenceSession(str(step_out), providers=["CPUExecutionProvider"])
    step_meta = {p.key: p.value for p in onnx.load(str(step_out)).metadata_props}
    assert step_meta["graph"] == "step" and json.loads(step_meta["state"]) == ["previous_frame", "seen", "h"]
    frames = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 6, 12, 16, 3)).astype(np.uint8))
    state = [s.numpy() for s in model.init_state(2)]
    names = [i.name for i in step.get_inputs()]
    for t in range(6):
        probs, *state = step.run(None, dict(zip(names, [frames[:, t].numpy(), *state])))
    np.testing.assert_allclose(probs, reference(model, frames).numpy(), atol=0.05)


def test_fp32_step_graph_equals_the_whole_clip(videos, tmp_path):
    model = build("lstm", "bt", seed=3)
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt")
    clips = sorted(str(p) for p in videos.rglob("*.avi"))[::3]      # --clips: files instead of the dataset
    report = ex.export(str(ckpt), tmp_path / "m.onnx", step=True, clips=clips, log=lambda *_: None)
    assert report["files"]["clip"]["top1_agreement"] == 1.0 and report["files"]["step"]["max_abs_diff"] <= 1e-4
    assert report["clips"] == "3 clips given with --clips"
    step = ort.InferenceSession(str(tmp_path / "m.step.onnx"), providers=["CPUExecutionProvider"])
    frames = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (1, 5, 12, 16, 3)).astype(np.uint8))
    state = [s.numpy() for s in model.init_state(1)]
    names = [i.name for i in step.get_inputs()]
    for t in range(5):
        probs, *state = step.run(None, dict(zip(names, [frames[:, t].numpy(), *state])))
    np.testing.assert_allclose(probs, reference(model, frames).numpy(), rtol=0, atol=1e-5)


def test_pt2_program_runs_at_other_sizes(videos, tmp_path):
    model = build("gru", "tr", seed=4)
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt")
    ex.export(str(ckpt), tmp_path / "m.pt2", fmt="pt2", num_clips=2, log=lambda *_: None)
    extra = {"tensorrnn.json": ""}
    program = torch.export.load(str(tmp_path / "m.pt2"), extra_files=extra)
    assert json.loads(json.loads(extra["tensorrnn.json"])["class_names"]) == CLASSES
    frames = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (1, 6, 12, 16, 3)).astype(np.uint8))
    torch.testing.assert_close(program.module()(frames), reference(model, frames), rtol=0, atol=1e-5)


# --- one path from frames to probabilities --------------------------------------------------

def test_predict_timeline_onnx_and_step_read_a_file_one_way(videos, tmp_path, capsys):
    """One clip file, four readers: ``tensorrnn predict``, the timeline's one window spanning the
    whole clip, the exported ONNX graph (fp32, onnxruntime) on the decoded uint8 frames sampled
    as the checkpoint says (2 views of 4 segments, probabilities averaged) and ``model.step``
    frame by frame on the same frames give the same probabilities. The model trained on the
    JPEG clip store (``data.store: jpeg`` with a cache dir); no reader imitates the store's
    pixels (a JPEG round trip moves these probabilities by far more than 1e-4)."""
    model = build("gru", "tt", seed=5)
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt", store="jpeg", cache_dir=str(tmp_path / "store"))
    data = torch.load(ckpt, weights_only=True)["datamodule_hyper_parameters"]
    assert (data["store"], data["cache_dir"], data["eval_sampling"], data["eval_views"]) == \
        ("jpeg", str(tmp_path / "store"), "segments", 2)
    clip = videos / "a" / "v_a_01" / "v_a_01_01.avi"
    length = probe(clip).num_frames
    assert length == 8

    assert predict.main(["--ckpt_path", str(ckpt), str(clip), "--json", "--top-k", "3"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    by_class = {p["class"]: p["probability"] for p in result["predictions"]}
    predicted = np.array([by_class[c] for c in CLASSES])
    assert predict.main(["--ckpt_path", str(ckpt), "--timeline", str(clip), "--window", str(length), "--json"]) == 0
    (window,) = json.loads(capsys.readouterr().out)["windows"]
    assert (window["start_frame"], window["end_frame"]) == (0, length)
    timeline = np.array([window["probabilities"][c] for c in CLASSES])

    ex.export(str(ckpt), tmp_path / "m.onnx", clips=[str(clip)], log=lambda *_: None)
    frames = read_frames(clip, size=SIZE)                              # (8, 12, 16, 3) uint8, as decoded
    views = np.stack([frames[sample_indices(length, 4, "segments", view=v, views=2)] for v in range(2)])
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    onnx_probs = session.run(None, {"frames": views})[0].mean(0)       # (K, C) -> (C,)

    loaded, _ = load_model(ckpt)
    x = scale_frames(torch.from_numpy(views), "unit")                  # (K, T, H, W, 3)
    state = loaded.init_state(len(views))
    with torch.no_grad():
        for t in range(x.shape[1]):
            probs, state = loaded.step(x[:, t], state)
    stepped = probs.mean(0).numpy()

    for name, got in (("timeline", timeline), ("onnx", onnx_probs), ("step", stepped)):
        np.testing.assert_allclose(got, predicted, rtol=0, atol=1e-4, err_msg=f"{name} against predict")
    assert predicted.max() - predicted.min() > 0.05                    # not a flat answer any reader would give


# --- bad input: one line --------------------------------------------------------------------

def _error(capsys, *argv) -> str:
    assert cli.main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_corrupt_and_foreign_checkpoints_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    assert "not a readable checkpoint" in _error(capsys, "--ckpt_path", str(bad), "--out", str(tmp_path / "m.onnx"))
    other = tmp_path / "other.ckpt"   # another version's hyper-parameters
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "gru", "tt_rank_v0": 3}}, other)
    assert "not a tensorrnn classifier checkpoint" in _error(capsys, "--ckpt_path", str(other), "--out",
                                                            str(tmp_path / "m.onnx"))
    assert not (tmp_path / "m.onnx").exists()


def test_unwritable_out_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # the checkpoint does not exist either: --out is checked first
    err = _error(capsys, "--ckpt_path", str(tmp_path / "missing.ckpt"), "--out", str(blocker / "m.onnx"))
    assert "--out" in err and "missing.ckpt" not in err
    assert "is a folder" in _error(capsys, "--ckpt_path", "x", "--out", str(tmp_path))


def test_no_clips_to_verify_on(videos, tmp_path, capsys):
    model = build("gru", "tt")
    ckpt = tmp_path / "m.ckpt"
    save_checkpoint(model, videos, ckpt)
    state = torch.load(ckpt, weights_only=True)
    state["datamodule_hyper_parameters"]["root"] = str(tmp_path / "gone")
    torch.save(state, ckpt)
    assert "--clips" in _error(capsys, "--ckpt_path", str(ckpt), "--out", str(tmp_path / "m.onnx"))


def test_a_failing_check_removes_the_file(videos, tmp_path, monkeypatch):
    model = build("gru", "dense")
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt")
    run = ex._Runner.__call__
    monkeypatch.setattr(ex._Runner, "__call__", lambda self, *a: [o.flip(-1) for o in run(self, *a)])
    with pytest.raises(ex.ExportError, match="check failed.*nothing written"):
        ex.export(str(ckpt), tmp_path / "m.onnx", num_clips=3, log=lambda *_: None)
    assert list(tmp_path.iterdir()) == [ckpt]


def test_exporter_failure_names_the_layer(videos, tmp_path, monkeypatch):
    class DataDependent(torch.nn.Module):   # a Python branch on a value: no graph can hold it
        def __init__(self, head):
            super().__init__()
            self.head = head

        def forward(self, x):
            return self.head(x) if float(x.sum()) > 0 else -self.head(x)

    model = build("gru", "tt")
    ckpt = save_checkpoint(model, videos, tmp_path / "m.ckpt")
    load = ex._load

    def patched(path):
        m, data = load(path)
        m.net.head = DataDependent(m.net.head)
        return m, data

    monkeypatch.setattr(ex, "_load", patched)
    with pytest.raises(ex.ExportError) as info:
        ex.export(str(ckpt), tmp_path / "m.onnx", num_clips=2, log=lambda *_: None)
    message = str(info.value)
    assert "in layer net.head" in message and "--verbose" in message and "\n" not in message
    assert not (tmp_path / "m.onnx").exists()

