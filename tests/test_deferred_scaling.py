"""uint8 batches scaled on the batch: bit for bit the per-clip scaling they replace."""
import numpy as np
import pytest
import torch

from tensorrnn.data.sampling import PAD_BYTE, defer_scaling, scale_frames, scale_pixels
from tensorrnn.train.datamodule import VideoDataModule


@pytest.mark.parametrize("scaling", sorted(PAD_BYTE))
@pytest.mark.parametrize("front", [0, 2])
def test_scaled_batch_equals_per_clip_scaling(scaling, front):
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    deferred = defer_scaling(frames, scaling, front=front)
    assert deferred.dtype == torch.uint8 and deferred.shape == (front + 3, 5, 7, 3)
    assert torch.equal(scale_frames(deferred[None], scaling)[0], scale_pixels(frames, scaling, front=front))
    if front:  # padded steps are exactly zero once scaled, as with scale_pixels
        assert not scale_frames(deferred, scaling)[:front].any()


def test_augmented_frames_are_rounded_to_the_nearest_grey_level():
    frames = np.array([[[[0.4, 127.5, 254.6]]], [[[12.49, 12.51, 255.0]]]], np.float32)   # (2, 1, 1, 3)
    deferred = defer_scaling(frames, "unit")
    assert deferred.tolist() == [[[[0, 128, 255]]], [[[12, 13, 255]]]]
    assert (scale_frames(deferred, "unit") - scale_pixels(frames, "unit")).abs().max() <= 0.5 / 128


def test_never_the_callers_buffer():
    frames = np.zeros((2, 3, 4, 3), np.uint8)
    deferred = defer_scaling(frames, "center")
    frames[:] = 7
    assert not deferred.any()


def test_standard_scaling_is_never_deferred():
    with pytest.raises(ValueError, match="scaling='standard'"):
        defer_scaling(np.zeros((1, 2, 2, 3), np.uint8), "standard")


@pytest.mark.parametrize("scaling", ["unit", "standard"])
def test_loader_batches_after_transfer_equal_the_datasets_samples(demo_root, scaling):
    data = VideoDataModule("ucf11", str(demo_root), split="group_kfold", num_folds=2, size=[16, 12], num_frames=4,
                           scaling=scaling, batch_size=4, num_workers=0, dataset_options={"progress": False})
    data.setup()
    raw = next(iter(data.test_dataloader()))
    assert raw[0].dtype == (torch.uint8 if scaling == "unit" else torch.float32)   # "standard" stays float
    x = data.on_after_batch_transfer(raw, 0)[0]
    test = data._splits["test"]   # the split's own dataset still gives scaled float samples
    expected = torch.stack([test[i][0] for i in range(len(x))])
    assert x.dtype == torch.float32 and torch.equal(x, expected)
