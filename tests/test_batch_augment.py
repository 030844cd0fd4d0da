"""Augmentation on the batch, on the model's device (``augment_batch``, ``data.augment_on``):
the loader only draws each clip's parameters, the batch applies them; the same draws and the
same transforms as a clip augmented on its own, whatever the batch, the threads or the path."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tensorrnn.data import collate_clips
from tensorrnn.data.datasets import AugmentedSample
from tensorrnn.data.sampling import scale_pixels
from tensorrnn.data.transforms import PARAM_COLUMNS, ClipAugment, augment_batch
from tensorrnn.train.datamodule import VideoDataModule

from conftest import LOADER_AUGMENT, SIZE

AUGMENT = ClipAugment(**LOADER_AUGMENT)
#: (B, T, H, W): small frames, several clips, some padded in front
B, T, H, W = 6, 4, 24, 32


def drawn_batch(scaling_front=(0, 1, 0, 2, 0, 3), seed: int = 0, augment: ClipAugment = AUGMENT):
    """Random uint8 clips, each clip's parameters and the reference: ``apply`` then
    ``scale_pixels`` clip by clip (float32, the padding put in front after scaling)."""
    rng = np.random.default_rng(seed)
    frames = torch.from_numpy(rng.integers(0, 256, (B, T, H, W, 3), dtype=np.uint8))
    rows, expected = [], []
    for i, front in enumerate(scaling_front):
        params = augment.params(np.random.default_rng([seed, i]), H, W)
        rows.append(ClipAugment.param_row(params, front))
        expected.append(scale_pixels(augment.apply(frames[i, front:].numpy(), params), "unit", front=front))
    return frames, torch.stack(rows), torch.stack(expected)


def test_param_row_holds_the_draws_in_column_order():
    params = {"box": (3, 5, 10, 12), "flip": True, "brightness": 1.125, "contrast": 0.875, "hue": -0.25,
              "mean": None}
    row = ClipAugment.param_row(params, front=2)
    assert row.dtype == torch.float64 and len(PARAM_COLUMNS) == 11
    assert dict(zip(PARAM_COLUMNS, row.tolist())) == {"y0": 3, "x0": 5, "height": 10, "width": 12, "flip": 1.0,
                                                      "brightness": 1.125, "contrast": 0.875, "front": 2,
                                                      "hue": -0.25, "y1": 3, "x1": 5}  # no end: it stays put
    del params["hue"]  # the parameters of a clip drawn without a hue: no turn
    assert ClipAugment.param_row(params, front=2)[PARAM_COLUMNS.index("hue")].item() == 0.0
    params["end"] = (7, 1)
    assert ClipAugment.param_row(params, front=2)[-2:].tolist() == [7.0, 1.0]


def test_a_drifting_box_on_the_batch_equals_each_clip_augmented_then_scaled():
    frames, params, expected = drawn_batch(augment=ClipAugment(**LOADER_AUGMENT, drift=1.0))
    start, end = params[:, :2], params[:, -2:]
    assert (start != end).any(dim=1).sum().item() >= 4          # most boxes travel
    out = augment_batch(frames, params, "unit", uint8_resize=False)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-3 / 128)
    held = params.clone()
    held[:, -2:] = start                                         # the same boxes held still: other frames
    assert (augment_batch(frames, held, "unit", uint8_resize=False) - out).abs().max().item() * 128 > 50


def test_float_resize_equals_each_clip_augmented_then_scaled():
    frames, params, expected = drawn_batch()
    out = augment_batch(frames, params, "unit", uint8_resize=False)
    assert out.dtype == torch.float32 and out.shape == (B, T, H, W, 3)
    # the same float32 operations in another order: a few ulps of 255, no more
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-3 / 128)
    assert params[:, 2:4].lt(torch.tensor([H, W])).any()  # some clips really were cropped
    assert params[:, 4].eq(1).any() and params[:, 4].eq(0).any()  # flipped and not


def test_hue_on_the_batch_equals_each_clip_augmented_then_scaled():
    frames, params, expected = drawn_batch(augment=ClipAugment(**LOADER_AUGMENT, hue=0.5))
    turns = params[:, PARAM_COLUMNS.index("hue")]
    assert turns.abs().max().item() > 0.25 and (turns < 0).any()  # far turns, both ways
    out = augment_batch(frames, params, "unit", uint8_resize=False)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-3 / 128)
    # the turn is no identity: without it the clips differ by many grey levels
    unturned = params.clone()
    unturned[:, PARAM_COLUMNS.index("hue")] = 0
    plain = augment_batch(frames, unturned, "unit")
    assert (plain - out).abs().max().item() * 128 > 50


def test_uint8_resize_is_within_the_rounding_of_the_resize():
    frames, params, expected = drawn_batch()
    out = augment_batch(frames, params, "unit", uint8_resize=True)
    # the resize is rounded to a grey level (half a level) by a fixed-point kernel (one level at
    # most), then scaled by b * c <= 1.44: within 1.44 levels of the float path
    gain = (params[:, 5] * params[:, 6]).max().item()
    assert (out - expected).abs().max().item() * 128 <= gain + 1e-3


def test_padding_frames_are_exactly_zero_and_left_out_of_the_mean():
    frames, params, expected = drawn_batch()
    frames[3, :2] = 255  # padding holding anything: must change nothing
    out = augment_batch(frames, params, "unit", uint8_resize=False)
    fronts = params[:, 7].long().tolist()
    assert sum(fronts) == 6
    for i, front in enumerate(fronts):
        assert torch.count_nonzero(out[i, :front]) == 0
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-3 / 128)


@pytest.mark.parametrize("uint8_resize", [True, False])
def test_a_clip_does_not_depend_on_its_batch(uint8_resize):
    frames, params, _ = drawn_batch()
    whole = augment_batch(frames, params, "unit", uint8_resize=uint8_resize)
    for i in range(B):
        alone = augment_batch(frames[i:i + 1], params[i:i + 1], "unit", uint8_resize=uint8_resize)
        assert torch.equal(alone[0], whole[i])
    order = [4, 1, 5, 0]
    assert torch.equal(augment_batch(frames[order], params[order], "unit", uint8_resize=uint8_resize), whole[order])
    for threads in (2, 4):
        assert torch.equal(augment_batch(frames, params, "unit", uint8_resize=uint8_resize, threads=threads), whole)


@pytest.mark.parametrize("scaling,low,high",
                         [("center", -128.0, 127.0), ("unit", -1.0, 127 / 128), ("none", 0.0, 255.0)])
def test_identity_parameters_are_the_scaling_alone(scaling, low, high):
    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, H, W, 3), dtype=np.uint8))
    identity = ClipAugment.param_row(ClipAugment().params(np.random.default_rng(0), H, W))
    out = augment_batch(frames, identity.repeat(2, 1), scaling)
    assert torch.equal(out, torch.stack([scale_pixels(clip.numpy(), scaling) for clip in frames]))
    assert out.min().item() >= low and out.max().item() <= high


def test_brightness_clips_at_white():
    frames = torch.full((1, 2, H, W, 3), 200, dtype=torch.uint8)
    row = ClipAugment.param_row({"box": (0, 0, H, W), "flip": False, "brightness": 1.5, "contrast": 1.0}, 0)
    assert torch.equal(augment_batch(frames, row[None], "none"), torch.full(frames.shape, 255.0))


def test_flip_mirrors_each_frame():
    frames = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 2, H, W, 3), dtype=np.uint8))
    row = ClipAugment.param_row({"box": (0, 0, H, W), "flip": True, "brightness": 1.0, "contrast": 1.0}, 0)
    assert torch.equal(augment_batch(frames, row[None], "none"), frames.flip(3).float())


@pytest.mark.parametrize("frames,params,scaling,match", [
    (torch.zeros(2, 3, H, W, 3, dtype=torch.uint8), torch.zeros(2, 11), "standard", "scaling='standard'"),
    (torch.zeros(2, 3, H, W, 3), torch.zeros(2, 11), "unit", r"frames of shape \(2, 3, 24, 32, 3\)"),
    (torch.zeros(3, H, W, 3, dtype=torch.uint8), torch.zeros(2, 11), "unit", "frames of shape"),
    (torch.zeros(2, 3, H, W, 3, dtype=torch.uint8), torch.zeros(2, 9), "unit", r"params of shape \(2, 9\)"),
    (torch.zeros(2, 3, H, W, 3, dtype=torch.uint8), torch.tensor([[0, 0, H, W, 0, 1, 1, 3, 0, 0, 0]] * 2), "unit",
     "front=3"),
    (torch.zeros(2, 3, H, W, 3, dtype=torch.uint8), torch.tensor([[0, 4, H, W, 0, 1, 1, 0, 0, 0, 4]] * 2), "unit",
     r"params\['box'\]"),
    (torch.zeros(2, 3, H, W, 3, dtype=torch.uint8), torch.tensor([[0, 0, 20, 20, 0, 1, 1, 0, 0, 5, 12]] * 2),
     "unit", r"params\['box'\]=\(5, 12, 20, 20\)"),   # a drift that ends outside the frame
])
def test_bad_input_named(frames, params, scaling, match):
    with pytest.raises(ValueError, match=match):
        augment_batch(frames, params, scaling)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CPU paths are tested above")
def test_cuda_equals_the_float_path_on_the_cpu():
    frames, params, _ = drawn_batch()
    cpu = augment_batch(frames, params, "unit", uint8_resize=False)
    cuda = augment_batch(frames.cuda(), params.cuda(), "unit")
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=0, atol=1e-3 / 128)


# --- the loaders ------------------------------------------------------------------------------

@pytest.fixture
def stored(ucf11_store):
    """The UCF11 replica as fit's training loader serves it (conftest's ``ucf11_store``)."""
    return ucf11_store


def served(ds, indices, deferred: bool, threads: int = 1, torch_seed: int = 0):
    ds = copy.copy(ds)
    ds.deferred_augmentation, ds.load_threads = deferred, threads
    torch.manual_seed(torch_seed)
    return collate_clips(ds.__getitems__(indices))


@pytest.mark.parametrize("threads", [1, 3])
def test_deferred_batch_draws_what_the_loader_would_apply(stored, threads):
    indices = [4, 0, 7, 2, 5]
    deferred = served(stored, indices, True, threads)
    assert isinstance(deferred, AugmentedSample) and deferred.augment.shape == (5, len(PARAM_COLUMNS))
    here = served(stored, indices, False, threads)  # augmented clip by clip, rounded to grey levels
    assert isinstance(here, list) and torch.equal(deferred.target, here[1])
    out = augment_batch(deferred.frames, deferred.augment, "unit")
    # the same draws: the uint8 loader path rounds each clip's result once (half a level), the
    # batch's resize once (within b * c levels)
    assert (out * 128 - (here[0].float() - 128)).abs().max().item() <= 2.0
    # and another torch seed draws other parameters
    assert not torch.equal(served(stored, indices, True, threads, torch_seed=1).augment, deferred.augment)


def test_seeded_deferred_parameters_are_each_clips_own(stored):
    ds = copy.copy(stored)
    ds.seed = 3
    rows = served(ds, [6, 1, 3], True).augment
    for row, i in zip(rows, [6, 1, 3]):
        params = AUGMENT.params(ds._augment_rng(i), SIZE[1], SIZE[0])
        assert torch.equal(row, ClipAugment.param_row(params, 0))
    assert torch.equal(served(ds, [1], True).augment[0], rows[1])  # whatever the batch


def test_evaluation_and_unaugmented_samples_are_never_deferred(stored):
    plain = served(copy.copy(stored), [0, 1], True)
    views = copy.copy(stored)
    views.views, views.augment = 2, None
    assert isinstance(plain, AugmentedSample)
    assert not isinstance(served(views, [0, 1], True), AugmentedSample)
    bare = copy.copy(stored)
    bare.augment = None
    assert isinstance(served(bare, [0, 1], True), list)


@pytest.mark.parametrize("augment_on", ["device", "loader"])
def test_data_module_training_batches_are_augmented_either_way(demo_root, augment_on):
    torch.manual_seed(0)
    data = VideoDataModule("ucf11", str(demo_root), split="group_kfold", num_folds=2, size=[16, 12], num_frames=4,
                           batch_size=4, brightness=0.5, augment_on=augment_on, dataset_options={"progress": False})
    data.setup()
    raw = next(iter(data.train_dataloader()))
    assert isinstance(raw, AugmentedSample) == (augment_on == "device")
    x, y = data.on_after_batch_transfer(raw, 0)
    assert x.dtype == torch.float32 and x.shape == (4, 4, 12, 16, 3) and y.shape == (4,)
    if augment_on == "device":
        assert torch.equal(x, augment_batch(raw.frames, raw.augment, "unit"))
    # evaluation batches are never augmented
    assert not isinstance(next(iter(data.test_dataloader())), AugmentedSample)


def test_data_module_names_a_bad_augment_on(demo_root):
    with pytest.raises(ValueError, match="data.augment_on='gpu': expected one of 'device', 'loader'"):
        VideoDataModule("ucf11", str(demo_root), augment_on="gpu")
