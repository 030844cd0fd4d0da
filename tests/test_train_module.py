"""The LightningModule and the checkpoint helpers, in-process (no Trainer, no video)."""
from __future__ import annotations

import io
import math
import os

import pytest
import torch

from tensorrnn.train.checkpoint import (AtomicCheckpointIO, atomic_write_bytes, check_compatible,
                                        load_checkpoint)
from tensorrnn.train.module import NonFiniteLossError, VideoClassifier


def tiny(**kw) -> VideoClassifier:
    options = dict(arch="gru", factorization="tt", in_shape=[2, 3, 4], hidden_shape=[2, 2, 2], rank=2,
                   num_classes=3, lr=1e-2)
    options.update(kw)
    return VideoClassifier(**options)


def test_forward_shape_and_plain_hparams():
    model = tiny()
    assert model(torch.randn(5, 4, 24)).shape == (5, 3)
    assert model(torch.randn(2, 4, 2, 4, 3)).shape == (2, 3)  # frames are flattened
    # only plain types: the checkpoint must load with weights_only=True
    buffer = io.BytesIO()
    torch.save({"hyper_parameters": dict(model.hparams)}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["hyper_parameters"]["in_shape"] == [2, 3, 4]


@pytest.mark.parametrize("kwargs, match", [
    ({"arch": "transformer"}, "model.arch='transformer'"),
    ({"factorization": "cp"}, "model.factorization='cp'"),
    ({"in_shape": [2, 0, 4]}, "model.in_shape"),
    ({"num_classes": 1}, "model.num_classes=1"),
    ({"lr": -1.0}, "model.lr=-1.0"),
    ({"class_names": ["a", "b"]}, "2 names: expected num_classes=3"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match.replace("[", r"\[").replace("(", r"\(")):
        tiny(**kwargs)


def test_output_l2_is_the_keras_penalty_on_the_head_only():
    torch.manual_seed(0)
    model = tiny(output_l2=1e-2, label_smoothing=0.0).double().eval()  # eval: no dropout
    x, y = torch.randn(4, 3, 24, dtype=torch.float64), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        plain = torch.nn.functional.cross_entropy(model(x), y)
        penalty = 1e-2 * model.net.head.weight.pow(2).sum()
    model.log = lambda *a, **k: None  # no Trainer attached
    loss = model.training_step((x, y), 0)
    torch.testing.assert_close(loss.detach(), plain + penalty)
    assert model.output_layer() is model.net.head


def test_multilabel_loss_is_bce_with_logits():
    model = tiny(multilabel=True).double()
    x = torch.randn(3, 2, 24, dtype=torch.float64)
    y = torch.tensor([[1, 0, 1], [0, 0, 1], [1, 1, 1]], dtype=torch.float64)
    logits = model(x)
    expected = -(y * torch.log(torch.sigmoid(logits)) + (1 - y) * torch.log(1 - torch.sigmoid(logits))).mean()
    torch.testing.assert_close(model.loss(logits, y), expected)


def test_nan_loss_stops_with_the_step_and_nan_state_is_never_saved():
    model = tiny()
    model.log = lambda *a, **k: None
    x = torch.full((2, 3, 24), float("nan"))
    model.net.rnn.check_finite = False  # let the NaN reach the loss
    with pytest.raises(NonFiniteLossError, match="global step 0"):
        model.training_step((x, torch.tensor([0, 1])), 7)
    with torch.no_grad():
        model.net.head.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="net.head.weight"):
        model.on_save_checkpoint({})


def test_eval_metrics_match_hand_counts():
    model = tiny(num_classes=3, class_names=["a", "b", "c"])
    model.log = lambda *a, **k: None
    logits = torch.tensor([[3.0, 0, 0], [0, 3.0, 0], [0, 3.0, 0], [0, 0, 3.0], [3.0, 0, 0]])
    target = torch.tensor([0, 1, 0, 2, 2])
    model.forward = lambda x: logits
    model._eval_step("test", (torch.zeros(5, 1, 24), target))
    model._eval_epoch_end("test")
    result = model.results["test"]
    assert result["accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.5}
    assert result["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_multilabel_map_matches_hand_computed_average_precision():
    model = tiny(num_classes=3, multilabel=True)
    logged = {}
    model.log = lambda name, value, **k: logged.__setitem__(name, float(value))
    scores = torch.tensor([[0.9, 0.1, 0.8], [0.7, 0.6, 0.2], [0.2, 0.9, 0.4], [0.4, 0.3, 0.6]])
    target = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    model.forward = lambda x: torch.logit(scores)
    model._eval_step("val", (torch.zeros(4, 1, 24), target.float()))
    model._eval_epoch_end("val")

    def average_precision(s, t):  # mean precision at the rank of each positive
        order = torch.argsort(s, descending=True)
        hits = t[order].double()
        precision = hits.cumsum(0) / torch.arange(1, len(t) + 1)
        return float((precision * hits).sum() / hits.sum())

    per_class = [average_precision(scores[:, c], target[:, c]) for c in range(3)]
    assert per_class == pytest.approx([(1 + 2 / 4) / 2, 1.0, 1.0])  # class 0: positives at ranks 1 and 4
    assert logged["val/map"] == pytest.approx(sum(per_class) / 3)
    assert list(model.results["val"]["ap"].values()) == pytest.approx(per_class)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_write_bytes(target, b"old checkpoint")

    def killed(*args):
        raise KeyboardInterrupt  # the process dies between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_checkpoint_io_roundtrip_and_one_line_errors(tmp_path):
    model = tiny()
    path = tmp_path / "m.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": model.state_dict(),
                                          "hyper_parameters": dict(model.hparams)}, path)
    loaded = load_checkpoint(path)
    check_compatible(loaded, model, path)  # same model: no error
    (tmp_path / "cut.ckpt").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as err:
        load_checkpoint(tmp_path / "cut.ckpt")
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "absent.ckpt")
    with pytest.raises(ValueError, match=r"different model .*arch 'gru' != 'lstm'"):
        check_compatible(loaded, tiny(arch="lstm"), path)
    with pytest.raises(ValueError, match="rank 2 != 3"):
        check_compatible(loaded, tiny(rank=3), path)


def test_in_features_is_the_product_of_in_shape():
    assert tiny().in_features == math.prod([2, 3, 4])
