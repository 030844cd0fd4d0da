"""Frame-index policies, padding of short clips and pixel scaling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tensorrnn.data.sampling import ClipTooShortError, pad_indices, sample_indices, scale_pixels


@pytest.mark.parametrize("generator", [np.random.default_rng(0), torch.Generator().manual_seed(0), None])
def test_random_is_k_distinct_ascending_in_range(generator):
    for n in (6, 7, 50, 300):
        idx = sample_indices(n, 6, "random", generator=generator)
        assert idx.dtype == np.int64 and len(idx) == 6
        assert (np.diff(idx) > 0).all() and idx.min() >= 0 and idx.max() < n


def test_random_is_reproducible_and_uniform_over_frames():
    a = [sample_indices(20, 6, "random", generator=np.random.default_rng(s)) for s in range(3)]
    b = [sample_indices(20, 6, "random", generator=np.random.default_rng(s)) for s in range(3)]
    assert all((x == y).all() for x, y in zip(a, b))
    g = torch.Generator().manual_seed(1)
    counts = np.bincount(np.concatenate([sample_indices(20, 6, "random", generator=g) for _ in range(4000)]),
                         minlength=20)
    # each frame is picked with probability k/n = 0.3: 1200 of 4000, sd ~29
    np.testing.assert_allclose(counts, 1200, atol=150)


def test_uniform_is_evenly_spaced_from_first_to_last():
    np.testing.assert_array_equal(sample_indices(11, 6, "uniform"), [0, 2, 4, 6, 8, 10])
    np.testing.assert_array_equal(sample_indices(100, 4, "uniform"), np.round(np.linspace(0, 99, 4)))


def test_stride_and_all():
    # HMDB51 in the TR paper: every 3rd frame of the first 90 -> 30 frames
    np.testing.assert_array_equal(sample_indices(200, 30, "stride", stride=3), np.arange(0, 90, 3))
    np.testing.assert_array_equal(sample_indices(10, 30, "stride", stride=3), [0, 3, 6, 9])
    np.testing.assert_array_equal(sample_indices(7, 6, "all"), np.arange(7))


@pytest.mark.parametrize("policy", ["random", "uniform"])
def test_short_clip_gives_all_its_frames(policy):
    np.testing.assert_array_equal(sample_indices(4, 6, policy), np.arange(4))


def test_padding_modes():
    idx = np.arange(4)
    kept, front = pad_indices(idx, 6, "front")
    assert front == 2 and (kept == idx).all()
    repeated, front = pad_indices(np.array([0, 1, 2]), 6, "repeat")
    assert front == 0 and repeated.tolist() == [0, 0, 1, 1, 2, 2]
    repeated, _ = pad_indices(idx, 6, "repeat")
    assert repeated.tolist() == [0, 0, 1, 1, 2, 3]
    with pytest.raises(ClipTooShortError, match="4 frames, fewer than num_frames=6"):
        pad_indices(idx, 6, "reject")
    assert pad_indices(np.arange(6), 6, "reject")[1] == 0


def test_scaling_closed_forms_and_front_zeros():
    frames = np.array([0, 128, 255], np.uint8).reshape(3, 1, 1, 1).repeat(3, axis=3)  # (3, 1, 1, 3)
    center = scale_pixels(frames, "center")
    assert center.dtype == torch.float32 and center[:, 0, 0, 0].tolist() == [-128.0, 0.0, 127.0]
    assert scale_pixels(frames, "unit")[:, 0, 0, 0].tolist() == [-1.0, 0.0, 255 / 128 - 1]
    std = scale_pixels(frames, "standard", mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    expected = (np.array([0, 128, 255])[:, None] / 255 - 0.5) / np.array([0.25, 0.5, 1.0])
    np.testing.assert_allclose(std[:, 0, 0, :].numpy(), expected, rtol=1e-6, atol=1e-6)  # float32 output
    padded = scale_pixels(frames, "center", front=2)
    assert padded.shape == (5, 1, 1, 3)
    assert (padded[:2] == 0).all() and torch.equal(padded[2:], center)


@pytest.mark.parametrize("call, match", [
    (lambda: sample_indices(10, 6, "every"), "sampling='every'"),
    (lambda: sample_indices(0, 6), "num_frames=0"),
    (lambda: pad_indices(np.arange(2), 6, "zeros"), "pad='zeros'"),
    (lambda: scale_pixels(np.zeros((1, 1, 1, 3), np.uint8), "minmax"), "scaling='minmax'"),
])
def test_bad_options_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
