"""Batches built by threads straight into one tensor (``__getitems__`` + ``collate_clips``), and
the uint8 augmentation the loaders serve: the same samples whatever the thread count."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from tensorrnn.data import UCF11, collate_clips
from tensorrnn.data.transforms import ClipAugment
from tensorrnn.train.datamodule import VideoDataModule

from conftest import LOADER_AUGMENT, SIZE

AUGMENT = LOADER_AUGMENT


@pytest.fixture
def stored(ucf11_store):
    """The UCF11 replica as fit's training loader serves it (conftest's ``ucf11_store``)."""
    return ucf11_store


def with_threads(ds, threads: int, **changes):
    ds = copy.copy(ds)
    ds.load_threads = threads
    for name, value in changes.items():
        setattr(ds, name, value)
    return ds


def batch(ds, indices, torch_seed: int = 0):
    torch.manual_seed(torch_seed)
    return collate_clips(ds.__getitems__(indices))


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_unseeded_batch_does_not_depend_on_the_thread_count(stored, threads):
    indices = [5, 0, 3, 1, 7, 2, 6]
    one = batch(with_threads(stored, 1), indices)
    many = batch(with_threads(stored, threads), indices)
    assert one[0].dtype == torch.uint8 and one[0].shape == (7, 4, SIZE[1], SIZE[0], 3)
    assert torch.equal(one[0], many[0]) and torch.equal(one[1], many[1])
    assert torch.equal(one[1], torch.as_tensor(stored.targets[indices]))
    # the draws are the generator's: another torch seed, other frames and crops
    assert not torch.equal(one[0], batch(with_threads(stored, 1), indices, torch_seed=1)[0])


def test_seeded_views_batch_equals_the_samples_one_by_one(stored):
    ds = with_threads(stored, 3, seed=4, views=2, augment=None, sampling="segments")
    indices = [4, 1, 0, 2]
    frames, targets, views = batch(ds, indices)
    assert frames.shape == (4, 2, 4, SIZE[1], SIZE[0], 3)
    for row, i in enumerate(indices):
        alone = ds[i]
        assert torch.equal(frames[row], alone[0]) and targets[row] == alone[1] and views[row] == 2


def test_collate_clips_takes_the_batch_tensor_without_a_copy(stored):
    samples = with_threads(stored, 2).__getitems__([0, 1, 2])
    collated = collate_clips(samples)
    assert collated[0].data_ptr() == samples[0][0].data_ptr()  # the batch tensor itself
    reference = default_collate(samples)
    assert torch.equal(collated[0], reference[0]) and torch.equal(collated[1], reference[1])


def test_collate_clips_copies_what_is_not_one_batch_tensor():
    whole = torch.arange(12, dtype=torch.uint8).reshape(3, 2, 2)
    in_order = [(whole[i], torch.tensor(i)) for i in range(3)]
    assert collate_clips(in_order)[0].data_ptr() == whole.data_ptr()
    cases = {"out of order": [in_order[1], in_order[0], in_order[2]], "part of a tensor": in_order[:2],
             "separate tensors": [(whole[i].clone(), torch.tensor(i)) for i in range(3)]}
    for samples in cases.values():
        collated, reference = collate_clips(samples), default_collate(samples)
        assert collated[0].data_ptr() != whole.data_ptr()
        assert torch.equal(collated[0], reference[0]) and torch.equal(collated[1], reference[1])


def test_worker_batches_travel_in_shared_memory_and_equal_the_main_process_ones(stored):
    ds = with_threads(stored, 2, seed=9)   # seeded: the frames do not depend on the process
    loaders = [DataLoader(ds, batch_size=3, num_workers=workers, collate_fn=collate_clips) for workers in (0, 1)]
    main, worker = (list(loader) for loader in loaders)
    assert len(main) == len(worker) == -(-len(ds) // 3)
    for a, b in zip(main, worker):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_load_threads_named(ucf11_root, bad):
    with pytest.raises(ValueError, match=f"load_threads={bad!r}: expected an integer >= 1"):
        UCF11(ucf11_root, size=SIZE, validate=False, load_threads=bad)
    with pytest.raises(ValueError, match=f"data.load_threads={bad!r}: expected an integer >= 1"):
        VideoDataModule("ucf11", str(ucf11_root), load_threads=bad)


def test_data_module_threads_default_to_the_cores_per_loading_process(ucf11_root, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(12)), raising=False)
    for workers, threads in ((0, 8), (2, 6), (4, 3), (16, 1)):
        assert VideoDataModule("ucf11", str(ucf11_root), num_workers=workers).load_threads == threads
    assert VideoDataModule("ucf11", str(ucf11_root), num_workers=2, load_threads=5).load_threads == 5
    data = VideoDataModule("ucf11", str(ucf11_root), num_workers=2)
    data.trainer = type("Trainer", (), {"num_devices": 3})()   # 3 DDP ranks on this machine
    assert data.load_threads == 2


# --- uint8 augmentation ------------------------------------------------------------------------

def clips(seed: int):
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
    smooth = np.clip(np.cumsum(rng.integers(-20, 21, (3, 24, 32, 3)), axis=2) + 128, 0, 255).astype(np.uint8)
    return noise, smooth


def test_uint8_augmentation_is_within_two_grey_levels_of_the_float_one():
    aug = ClipAugment(crop_ratio=(0.5, 2.0), **AUGMENT)
    rng = np.random.default_rng(0)
    worst, mean = 0, []
    for seed in range(100):
        for clip in clips(seed):
            params = aug.params(rng, 24, 32)
            fast = aug.apply_uint8(clip, params)
            assert fast.dtype == np.uint8 and fast.shape == clip.shape
            diff = np.abs(fast.astype(np.int64) - np.rint(aug.apply(clip, params)))
            worst, mean = max(worst, diff.max()), mean + [diff.mean()]
    assert worst <= 2 and np.mean(mean) < 0.5


def test_uint8_resize_is_the_float_resize_rounded_within_one_level():
    aug = ClipAugment(crop_scale=(0.2, 0.9), crop_ratio=(0.5, 2.0))
    rng = np.random.default_rng(1)
    for seed in range(30):
        for clip in clips(seed):
            params = aug.params(rng, 24, 32)
            assert params["box"][2:] != (24, 32)
            fast = aug.apply_uint8(clip, params).astype(np.int64)
            assert np.abs(fast - np.rint(aug.apply(clip, params))).max() <= 1


def test_uint8_whole_box_flip_and_brightness_are_exact():
    clip = clips(2)[1]
    aug = ClipAugment(flip=1.0)
    params = aug.params(np.random.default_rng(0), 24, 32)
    out = aug.apply_uint8(clip, params)
    np.testing.assert_array_equal(out, clip[:, :, ::-1])
    assert not np.shares_memory(out, clip)
    halved = aug.apply_uint8(clip, {**params, "flip": False, "brightness": 0.5})
    np.testing.assert_array_equal(halved, np.floor(clip[:, :, :] * 0.5 + 0.5).astype(np.uint8))  # halves up


def test_uint8_augmentation_refuses_float_frames():
    aug = ClipAugment(**AUGMENT)
    with pytest.raises(ValueError, match="dtype float32: expected uint8"):
        aug.apply_uint8(np.zeros((1, 4, 4, 3), np.float32), aug.params(np.random.default_rng(0), 4, 4))
