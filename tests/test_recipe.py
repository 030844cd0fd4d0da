"""The default training recipe: input normalisation, segment sampling and multi-view evaluation,
augmentation wiring, and the train / validation / test protocol."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch

from tensorrnn.data import UCF11
from tensorrnn.data.sampling import sample_indices
from tensorrnn.nn.normalization import InputNormalization
from tensorrnn.train.datamodule import VideoDataModule
from tensorrnn.train.module import VideoClassifier, _lr_factor

# --- segment sampling ------------------------------------------------------------------------


@pytest.mark.parametrize("n, k", [(6, 6), (7, 6), (50, 6), (301, 6), (24, 5)])
def test_segments_take_one_frame_of_each_equal_segment(n, k):
    edges = np.round(np.linspace(0, n, k + 1)).astype(int)
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_indices(n, k, "segments", generator=rng)
        assert ((idx >= edges[:-1]) & (idx < edges[1:])).all()          # frame j in segment j
    for views in (1, 3, 4):
        picks = np.stack([sample_indices(n, k, "segments", view=v, views=views) for v in range(views)])
        assert ((picks >= edges[:-1]) & (picks < edges[1:])).all()
        expected = edges[:-1] + np.floor((np.arange(views)[:, None] + 0.5) / views * np.diff(edges)).astype(int)
        np.testing.assert_array_equal(picks, expected)                   # evenly spaced offsets


def test_random_segments_cover_every_frame_of_a_segment_uniformly():
    g = torch.Generator().manual_seed(0)
    counts = np.bincount(np.concatenate([sample_indices(12, 3, "segments", generator=g) for _ in range(3000)]),
                         minlength=12)
    np.testing.assert_allclose(counts, 750, atol=90)                     # 4 frames a segment: p = 1/4


# --- input normalisation -----------------------------------------------------------------------


def test_normalization_statistics_are_the_data_mean_and_std_per_channel():
    x = torch.randn(10, 6, 4, 5, 3, dtype=torch.float64) * torch.tensor([1.0, 10.0, 100.0]) + torch.tensor([5, -3, 128])
    norm = InputNormalization().double()
    norm.fit([x[:4], x[4:]])
    flat = x.reshape(-1, 3)
    torch.testing.assert_close(norm.mean, flat.mean(0))
    torch.testing.assert_close(norm.std, flat.std(0, unbiased=False))
    y = norm(x).reshape(-1, 3)
    torch.testing.assert_close(y.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.std(0, unbiased=False), torch.ones(3, dtype=torch.float64))
    assert int(norm.count) == 10


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 3), (5, 3), (1, 3), (3,), (4, 1, 3), (2, 7, 70)])
def test_normalization_equals_the_per_channel_formula_on_every_layout(shape):
    """Few channels take a tiled path (statistics repeated along the next dimension, for
    onnxruntime's sake): its values are the plain (x - mean) / std, on contiguous input or not."""
    torch.manual_seed(0)
    C = shape[-1]
    norm = InputNormalization().double()
    norm.fit([torch.randn(4, 9, C, dtype=torch.float64) * torch.linspace(0.5, 20, C) + torch.linspace(-3, 128, C)])
    x = torch.randn(*shape, dtype=torch.float64) * 30 + 7
    expected = (x - norm.mean) / norm.std
    assert torch.equal(norm(x), expected)
    y = torch.stack([x, -x], dim=-1)[..., 0]                           # a strided view of the same values
    assert not y.is_contiguous() and torch.equal(norm(y), expected)


def test_an_unfitted_normalization_is_the_identity_and_a_constant_channel_is_only_centred():
    x = torch.randn(2, 3, 4)
    norm = InputNormalization()
    assert norm(x) is x and not norm.fitted
    const = torch.cat([torch.randn(50, 1), torch.full((50, 1), 7.0)], dim=1)
    norm.fit([const])
    assert norm.std[1] == 1.0 and torch.allclose(norm(const)[:, 1], torch.zeros(50))


def test_normalization_state_loads_into_a_fresh_model_of_any_channel_count():
    src = InputNormalization().fit([torch.randn(7, 2048) * 3 + 1])
    dst = InputNormalization()
    dst.load_state_dict(src.state_dict())
    torch.testing.assert_close(dst.mean, src.mean)
    torch.testing.assert_close(dst.std, src.std)
    assert dst.channels == 2048 and int(dst.count) == 7


@pytest.fixture(scope="module")
def clips(demo_root):
    return UCF11(demo_root, size=(16, 12), num_frames=4, progress=False)


@pytest.mark.parametrize("frame_diff", [True, False])
@pytest.mark.parametrize("scaling", ["center", "unit", "standard", "none"])
@pytest.mark.parametrize("factorization, rank", [("tt", 2), ("tr", 2), ("bt", 2), ("ht", 2), ("dense", None)])
def test_gate_preactivations_start_with_a_std_of_order_one_for_every_scaling(clips, scaling, factorization, rank,
                                                                             frame_diff):
    """At init, on real frames of any pixel scaling, the input map's output (the gates'
    pre-activations from the input) has a std of order one once the statistics are fitted."""
    ds = clips.subset(range(len(clips)))
    ds.scaling = scaling
    batch = torch.stack([ds[i][0] for i in range(len(ds))])              # (N, 4, 12, 16, 3)
    raw, gates = [], []
    for seed in range(5):  # one draw of a low-rank init varies in scale: the median over draws
        torch.manual_seed(seed)
        model = VideoClassifier("gru", factorization, [4, 4, 4, 9], [2, 2, 2, 2], rank=rank, num_classes=3,
                                frame_diff=frame_diff)
        proj, steps = model.net.rnn.input_projs[0], model.steps(batch)
        raw.append(proj(steps.flatten(2)).std().item())
        model.fit_input_normalization([batch])
        gates.append(proj(model.input_norm(steps).flatten(2)).std().item())
    assert 0.5 < np.median(gates) < 2.0, (scaling, raw, gates)
    if scaling in ("center", "none"):                                    # pixel-sized inputs: far off
        assert np.median(raw) > (5 if frame_diff else 20)


# --- frame differences -------------------------------------------------------------------------


def test_frame_diff_feeds_consecutive_differences_and_normalises_them(clips):
    torch.manual_seed(0)
    model = VideoClassifier("gru", "tt", [4, 4, 4, 9], [2, 2, 2, 2], rank=2, num_classes=3).double().eval()
    assert model.hparams.frame_diff                                      # the default recipe
    x = torch.stack([clips[i][0] for i in range(len(clips))]).double()   # (N, 4, 12, 16, 3)
    model.fit_input_normalization([x])
    diff = (x[:, 1:] - x[:, :-1]).reshape(-1, 3)                         # statistics of what the net reads
    torch.testing.assert_close(model.input_norm.mean, diff.mean(0))
    torch.testing.assert_close(model.input_norm.std, diff.std(0, unbiased=False))
    with torch.no_grad():
        expected = model.net((x[:, 1:] - x[:, :-1] - model.input_norm.mean) / model.input_norm.std)
        torch.testing.assert_close(model(x), expected)
        # what does not move cancels: a clip whose frames are all one picture is one constant input
        still = x[:1, :1].expand(1, 4, 12, 16, 3)
        torch.testing.assert_close(model(still), model.net(model.input_norm(torch.zeros_like(still[:, 1:]))))
    with pytest.raises(ValueError, match=r"model.frame_diff needs clips of at least 2 frames"):
        model(x[:, :1])
    plain = VideoClassifier("gru", "tt", [4, 4, 4, 9], [2, 2, 2, 2], rank=2, num_classes=3, frame_diff=False)
    assert plain.steps(x) is x


# --- multi-view evaluation ---------------------------------------------------------------------


def test_views_are_the_segment_offsets_and_view_zero_of_random_is_the_single_view(clips):
    ds = clips.subset(range(len(clips)))
    ds.sampling, ds.seed, ds.views = "segments", 0, 3
    frames, target, views = ds[1]
    assert frames.shape == (3, 4, 12, 16, 3) and int(views) == 3 and target == clips[1][1]
    for v in range(3):                                                   # each view is its own sample
        idx, front = ds.frame_indices(1, ds.num_frames_per_clip[1], view=v)
        np.testing.assert_array_equal(idx, sample_indices(ds.num_frames_per_clip[1], 4, "segments", view=v, views=3))
    ds.sampling = "random"
    single = ds.subset(range(len(ds)))
    single.views = 0
    torch.testing.assert_close(ds[1][0][0], single[1][0])


def test_multi_view_evaluation_is_the_mean_of_the_single_views(clips):
    torch.manual_seed(0)
    model = VideoClassifier("gru", "tt", [4, 4, 4, 9], [2, 2, 2, 2], rank=2, num_classes=3).double().eval()
    model.log = lambda *a, **k: None
    ds = clips.subset(range(len(clips)))
    ds.sampling, ds.seed, ds.views = "segments", 0, 3
    items = [ds[i] for i in range(len(ds))]
    views = torch.stack([v for v, _, _ in items]).double()               # (N, 3, T, H, W, 3)
    y = torch.stack([t for _, t, _ in items])
    with torch.no_grad():
        mean, per_view = model.forward_views(views)
        singles = torch.stack([model(views[:, v]).softmax(-1) for v in range(3)], 1)   # (N, 3, C)
    torch.testing.assert_close(per_view, singles)
    torch.testing.assert_close(mean, singles.mean(1))
    model._eval_step("test", (views, y, torch.full((len(y),), 3)))
    acc = model.eval_metrics["test"]["acc"].compute()
    acc_1 = model.eval_metrics["test"]["acc_1view"].compute()
    assert acc.item() == pytest.approx((mean.argmax(1) == y).double().mean().item())
    assert acc_1.item() == pytest.approx((singles[:, 1].argmax(1) == y).double().mean().item())   # middle view


# --- augmentation and the protocol -------------------------------------------------------------


def test_only_training_clips_are_augmented(demo_root):
    data = VideoDataModule("ucf11", str(demo_root), split="group_kfold", num_folds=2, size=[16, 12], num_frames=4,
                           flip=0.5, dataset_options={"progress": False})
    data.setup()
    train, val, test = (data._splits[k] for k in ("train", "val", "test"))
    assert train.augment is not None and train.augment.active and train.augment.flip == 0.5
    assert val.augment is None and test.augment is None and test.views == data.hparams.eval_views
    assert train.views == 0 and train.sampling == "segments"


@pytest.fixture(scope="module")
def many_groups(tmp_path_factory):
    from tensorrnn.data.synthetic import make_demo_videos

    return make_demo_videos(tmp_path_factory.mktemp("groups"), num_classes=2, groups=10, clips_per_group=2,
                            size=(16, 12), num_frames=4, progress=False)


def split_of(root, **options):
    data = VideoDataModule("ucf11", str(root), size=[16, 12], num_frames=2, dataset_options={"progress": False},
                           **options)
    data.setup()
    groups = data.full.groups
    parts = {k: data._splits[k] for k in ("train", "val", "test")}
    ids = {k: {c.path for c in v.clips} for k, v in parts.items()}
    return data, parts, ids, groups


def test_validation_holds_out_whole_training_groups_when_there_are_enough(many_groups):
    data, parts, ids, _ = split_of(many_groups, split="group_kfold", num_folds=5)
    assert not ids["train"] & ids["val"] and not ids["val"] & ids["test"] and not ids["train"] & ids["test"]
    groups = {k: {c.group for c in v.clips} for k, v in parts.items()}
    assert not groups["train"] & groups["val"] and not groups["val"] & groups["test"]
    assert len(groups["test"]) == 2 and len(groups["val"]) == 2 and len(groups["train"]) == 6   # 20% of 8
    assert "2 of the 8 training groups" in data.validation


def test_few_groups_validate_on_a_share_of_clips_or_not_at_all(many_groups, demo_root):
    # leave one group out of 10: 9 training groups -> whole groups; forced clips: a share per class
    data, parts, ids, _ = split_of(many_groups, split="logo", val_split="clips")
    assert len(parts["val"]) == 2 * round(0.2 * 9 * 2) and not ids["train"] & ids["val"]
    classes = [c.target for c in parts["val"].clips]
    assert sorted(classes) == [0] * 4 + [1] * 4
    # 2 groups x 2 clips per class: too small to hold anything out -> train on all, keep the last
    data, parts, ids, _ = split_of(demo_root, split="logo")
    assert len(parts["val"]) == 0 and len(parts["train"]) == 6 and data.validation.startswith("none")
    assert not data.has_validation
    # the papers' protocol: validation is the test split
    data, parts, ids, _ = split_of(many_groups, split="tt_rnn", val_split="test")
    assert ids["val"] == ids["test"] and "papers" in data.validation


def test_holding_out_groups_of_too_few_is_refused_naming_the_option(demo_root):
    with pytest.raises(ValueError, match=r"^data.val_split='groups': the training part has 1 group"):
        split_of(demo_root, split="logo", val_split="groups")
    with pytest.raises(ValueError, match=r"^data.num_folds=5: the clips have 2 group\(s\), fewer than the folds; "
                                         r"expected num_folds <= 2 \(num_folds=2 is leave-one-group-out"):
        split_of(demo_root, split="group_kfold")


@pytest.mark.parametrize("kwargs, match", [
    ({"crop_scale": [0.0, 1.0]}, r"^data.crop_scale=\[0.0, 1.0\]: expected \(min, max\) with 0 < min <= max <= 1$"),
    ({"crop_scale": [0.5, 1.5]}, r"^data.crop_scale="),
    ({"flip": 1.5}, r"^data.flip=1.5: expected"),
    ({"brightness": -0.1}, r"^data.brightness=-0.1: expected"),
    ({"eval_views": 0}, r"^data.eval_views=0: expected an integer >= 1$"),
    ({"val_split": "train"}, r"^data.val_split='train': expected one of 'auto', 'groups'"),
    ({"val_fraction": 0.0}, r"^data.val_fraction=0.0: expected 0 < value < 1$"),
])
def test_bad_data_recipe_values_name_the_option(demo_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        VideoDataModule("ucf11", str(demo_root), size=[16, 12], **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1e-3}, r"^model.lr=-0.001: expected a finite number > 0$"),
    ({"lr": 0.0}, r"^model.lr=0.0: expected a finite number > 0$"),
    ({"label_smoothing": 1.0}, r"^model.label_smoothing=1.0: expected a probability in \[0, 1\)$"),
    ({"input_dropout": -0.1}, r"^model.input_dropout=-0.1: expected a probability"),
    ({"grad_clip": -1}, r"^model.grad_clip=-1: expected a finite number >= 0$"),
    ({"normalize": "batch"}, r"^model.normalize='batch': expected one of 'auto', 'none'$"),
])
def test_bad_model_recipe_values_name_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VideoClassifier("gru", "tt", [4, 4, 4, 9], [2, 2, 2, 2], rank=2, num_classes=3, **kwargs)


def test_warmup_then_cosine_reaches_the_peak_and_ends_at_zero():
    f = _lr_factor("cosine", warmup=10, total=110, step_every=1)
    assert [f(i) for i in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert f(10) == pytest.approx(1.0) and f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0)
    assert _lr_factor("none", warmup=0, total=None, step_every=1) is None
    g = _lr_factor("step", warmup=0, total=None, step_every=5)
    assert [g(i) for i in (0, 4, 5, 10)] == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_cosine_ends_with_a_time_budget_when_that_comes_before_the_step_budget():
    share = {"used": 0.0}
    f = _lr_factor("cosine", warmup=10, total=1010, step_every=1, time_used=lambda: share["used"])
    assert f(5) == pytest.approx(0.6)                           # warm-up: steps only
    assert f(510) == pytest.approx(0.5)                          # half the steps, no time used
    share["used"] = 0.5
    assert f(20) == pytest.approx(0.5)                           # half the time, 1% of the steps
    assert f(760) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.75)))  # steps ahead of time
    share["used"] = 1.2
    assert f(20) == pytest.approx(0.0)
    g = _lr_factor("cosine", warmup=0, total=None, step_every=1, time_used=lambda: 0.25)
    assert g(3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))  # a time limit alone


def test_the_schedule_reads_the_trainers_time_limit():
    import lightning as L
    model = VideoClassifier("gru", "tt", [4, 4, 4, 9], [2, 2, 2, 2], rank=2, num_classes=3)
    model.trainer = L.Trainer(max_epochs=5, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert model._time_used() is None
    model.trainer = L.Trainer(max_epochs=5, max_time={"seconds": 100}, logger=False, enable_checkpointing=False,
                              enable_progress_bar=False)
    used = model._time_used()
    assert used is not None and used() == pytest.approx(0.0)    # the fit has not started
