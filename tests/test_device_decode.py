"""Decoding on the model's device (``data.decode_on``): the loader serves the stored JPEGs of
the sampled frames, the batch is decoded after the transfer (nvjpeg on a GPU; on a CPU the
store's own decoder, so the same frames bit for bit as the loader decodes)."""
from __future__ import annotations

import copy

import pytest
import torch

from tensorrnn.data import UCF11, collate_clips
from tensorrnn.data.datasets import AugmentedSample, EncodedSample, decode_batch
from tensorrnn.data.store import decode_frames
from tensorrnn.data.transforms import PARAM_COLUMNS
from tensorrnn.train.datamodule import VideoDataModule

from conftest import SIZE


@pytest.fixture
def stored(ucf11_store):
    """The UCF11 replica as fit's training loader serves it (conftest's ``ucf11_store``)."""
    return ucf11_store


def test_read_jpegs_decode_to_what_the_store_reads(stored):
    store = stored._cache
    rel = store.rel(stored.clips[2].path)
    indices = [5, 0, 3, 3]
    jpegs = store.read_jpegs(rel, indices)
    assert all(isinstance(j, bytes) and j[:2] == b"\xff\xd8" for j in jpegs)  # JPEG start-of-image markers
    for threads in (1, 3):
        frames = decode_frames(jpegs, SIZE, "cpu", threads=threads)
        assert frames.dtype == torch.uint8 and frames.shape == (4, SIZE[1], SIZE[0], 3)
        assert torch.equal(frames, torch.from_numpy(store.read(rel, indices)))
    with pytest.raises(IndexError, match=r"outside 0\.\."):
        store.read_jpegs(rel, [store.num_frames(rel)])


def served(ds, indices, decoding: bool, augmenting: bool, torch_seed: int = 0):
    ds = copy.copy(ds)
    ds.deferred_decoding, ds.deferred_augmentation, ds.load_threads = decoding, augmenting, 2
    torch.manual_seed(torch_seed)
    return collate_clips(ds.__getitems__(indices))


@pytest.mark.parametrize("num_frames", [4, 11])  # 11: longer than some clips, padded in front
def test_decoded_batch_equals_the_loaders_frames(stored, num_frames):
    ds = copy.copy(stored)
    ds.num_frames = num_frames
    indices = [3, 0, 6, 2, 5]
    encoded = served(ds, indices, True, True)
    assert isinstance(encoded, EncodedSample) and len(encoded.jpegs) == 5
    assert encoded.augment.shape == (5, len(PARAM_COLUMNS))
    loaded = served(ds, indices, False, True)
    assert isinstance(loaded, AugmentedSample)
    assert torch.equal(encoded.augment, loaded.augment) and torch.equal(encoded.target, loaded.target)
    assert torch.equal(encoded.front, encoded.augment[:, 7].long())
    frames = decode_batch(encoded, SIZE, pad=128, threads=2)
    assert torch.equal(frames, loaded.frames)
    if num_frames == 11:
        assert encoded.front.max().item() > 0  # some clips were padded


def test_unaugmented_encoded_batch_carries_no_parameters(stored):
    ds = copy.copy(stored)
    ds.augment = None
    encoded = served(ds, [1, 4], True, True)
    assert encoded.augment is None
    assert torch.equal(decode_batch(encoded, SIZE, pad=128), served(ds, [1, 4], False, True)[0])


def test_only_single_view_jpeg_samples_are_encoded(stored, ucf11_root, tmp_path):
    views = copy.copy(stored)
    views.views, views.augment = 2, None
    assert not isinstance(served(views, [0, 1], True, True), EncodedSample)
    raw = UCF11(ucf11_root, size=SIZE, num_frames=4, scaling="unit", cache_dir=tmp_path, store="raw", progress=False)
    raw.deferred_scaling = True
    assert isinstance(served(raw, [0, 1], True, True), list)


def test_decode_batch_refuses_clips_of_two_lengths(stored):
    encoded = served(stored, [0, 1], True, True)
    broken = encoded._replace(front=encoded.front + torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"clips of \[4, 5\] frames"):
        decode_batch(broken, SIZE, pad=128)


def test_decode_frames_names_an_unsupported_device():
    with pytest.raises(ValueError, match="device='meta'"):
        decode_frames([b"\xff\xd8"], SIZE, "meta")


@pytest.mark.parametrize("decode_on", ["device", "loader"])
def test_data_module_batches_are_the_same_either_way(demo_root, decode_on):
    batches = {}
    for where in ("device", "loader"):
        torch.manual_seed(0)
        data = VideoDataModule("ucf11", str(demo_root), split="group_kfold", num_folds=2, size=[16, 12], num_frames=4,
                               batch_size=4, decode_on=where, dataset_options={"progress": False})
        data.setup()
        raw = next(iter(data.train_dataloader()))
        assert isinstance(raw, EncodedSample) == (where == "device")
        assert not isinstance(next(iter(data.val_dataloader() if data.has_validation else data.test_dataloader())),
                              EncodedSample)  # evaluation clips are decoded by the loader
        batches[where] = data.on_after_batch_transfer(raw, 0)
    assert torch.equal(batches["device"][0], batches["loader"][0])
    assert torch.equal(batches["device"][1], batches["loader"][1])


def test_auto_decodes_in_the_loader_without_a_gpu(demo_root):
    data = VideoDataModule("ucf11", str(demo_root), dataset_options={"progress": False})
    assert data.decodes_on_device is False
    with pytest.raises(ValueError, match="data.decode_on='gpu': expected one of 'auto', 'loader', 'device'"):
        VideoDataModule("ucf11", str(demo_root), decode_on="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CPU path is tested above")
def test_nvjpeg_is_within_a_few_grey_levels_of_the_store(stored):
    store = stored._cache
    rel = store.rel(stored.clips[0].path)
    jpegs = store.read_jpegs(rel, range(4))
    cuda = decode_frames(jpegs, SIZE, "cuda")
    assert cuda.device.type == "cuda" and cuda.shape == (4, SIZE[1], SIZE[0], 3)
    difference = (cuda.cpu().int() - torch.from_numpy(store.read(rel, range(4))).int()).abs()
    assert difference.max().item() <= 4 and difference.float().mean().item() < 1.0
