"""ClipAugment: one crop / flip / brightness / contrast per clip, the same on every frame."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tensorrnn.data.transforms import ClipAugment, hue_rotation

H, W = 24, 32
ALL_ON = dict(crop_scale=(0.2, 1.0), crop_ratio=(0.5, 2.0), brightness=0.4, contrast=0.4, flip=0.5)


def random_clip(seed: int = 0, t: int = 4, height: int = H, width: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, height, width, 3), dtype=np.uint8)


def ramp(height: int = H, width: int = W) -> np.ndarray:
    """One float32 frame ``(1, H, W, 3)``, affine in y and x: ``2y + 3x + 10 + 40c``."""
    y, x = np.mgrid[:height, :width].astype(np.float64)
    return np.stack([2 * y + 3 * x + 10 + 40 * c for c in range(3)], -1)[None].astype(np.float32)


def identity_params(**changes) -> dict:
    return {"box": (0, 0, H, W), "flip": False, "brightness": 1.0, "contrast": 1.0, "mean": None, **changes}


def torch_resize(frames: np.ndarray, box) -> np.ndarray:
    """Reference: crop ``box`` and resize back to (H, W) with torch, in float64."""
    y0, x0, h, w = box
    crop = torch.from_numpy(frames[:, y0:y0 + h, x0:x0 + w].astype(np.float64)).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(crop, size=frames.shape[1:3], mode="bilinear", align_corners=False)
    return out.permute(0, 2, 3, 1).numpy()


# --- identity --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_defaults_return_the_same_object(dtype):
    frames = random_clip().astype(dtype)
    aug = ClipAugment()
    assert not aug.active and repr(aug) == "ClipAugment()"
    assert aug(frames, np.random.default_rng(0)) is frames
    # crop_scale (1, 1) is no crop, whatever the ratio
    assert ClipAugment(crop_scale=(1.0, 1.0), crop_ratio=(0.2, 0.3))(frames, np.random.default_rng(0)) is frames


def test_full_box_at_the_frame_ratio_is_exact():
    frames = random_clip()
    # a drawn box (crop on, scale just under 1, ratio = W / H) rounds to the whole frame
    aug = ClipAugment(crop_scale=(1 - 1e-9, 1.0), crop_ratio=(W / H, W / H))
    assert aug.active
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert aug.params(rng, H, W)["box"] == (0, 0, H, W)
        out = aug(frames, rng)
        assert out.dtype == np.float32 and out is not frames
        np.testing.assert_array_equal(out, frames.astype(np.float32))
    # apply always copies: changing the output leaves the caller's float frames alone
    floats = frames.astype(np.float32)
    out = aug.apply(floats, identity_params())
    out += 1
    np.testing.assert_array_equal(floats, frames)


# --- the same transform on every frame ---------------------------------------------------------

def test_identical_frames_stay_identical_for_every_draw():
    frame = random_clip(1, t=1)
    clip = np.repeat(frame, 5, axis=0)  # (5, H, W, 3), 5 copies
    aug = ClipAugment(**ALL_ON)
    rng = np.random.default_rng(2)
    boxes = set()
    for _ in range(60):
        p = aug.params(rng, H, W)
        boxes.add(p["box"])
        out = aug.apply(clip, p)
        assert out.shape == clip.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 255
        assert (out == out[:1]).all()
        # one frame alone: the same up to float error (its mean is a sum of fewer terms)
        np.testing.assert_allclose(aug.apply(frame, p), out[:1], rtol=0, atol=1e-3)
    assert len(boxes) > 50  # the draws did vary


def test_each_frame_alone_equals_the_clip_given_the_clip_mean():
    # Frames of different brightness, so the clip mean differs from each frame's mean.
    clip = (random_clip(3, t=4) // 2 + np.arange(4, dtype=np.uint8)[:, None, None, None] * 40)
    aug = ClipAugment(**ALL_ON)
    rng = np.random.default_rng(4)
    for _ in range(20):
        p = aug.params(rng, H, W)
        whole = aug.apply(clip, p)
        # The contrast mean is per clip: params() leaves it None, apply() takes the cropped
        # clip's mean. Setting it to that mean gives the same clip, and frame by frame too.
        geometry = aug.apply(clip, {**p, "brightness": 1.0, "contrast": 1.0})
        fixed = {**p, "mean": float(geometry.mean())}
        np.testing.assert_array_equal(aug.apply(clip, fixed), whole)
        for i in range(len(clip)):
            np.testing.assert_array_equal(aug.apply(clip[i:i + 1], fixed), whole[i:i + 1])
    # Without the clip mean a lone frame blends with its own mean: a different result.
    p = {**aug.params(rng, H, W), "contrast": 0.6}
    assert np.abs(aug.apply(clip[:1], p) - aug.apply(clip, p)[:1]).max() > 5


def test_same_seed_same_clip():
    clip = random_clip(5)
    aug = ClipAugment(**ALL_ON)
    a = aug(clip, np.random.default_rng(7))
    np.testing.assert_array_equal(a, aug(clip, np.random.default_rng(7)))
    assert not np.array_equal(a, aug(clip, np.random.default_rng(8)))


# --- flip --------------------------------------------------------------------------------------

def test_flip_always_mirrors_the_clip():
    clip = random_clip(6)
    out = ClipAugment(flip=1.0)(clip, np.random.default_rng(0))
    np.testing.assert_array_equal(out, clip[:, :, ::-1].astype(np.float32))
    # with a crop the mirror is exact too (the column taps are read right to left)
    aug = ClipAugment(crop_scale=(0.3, 0.6))
    p = aug.params(np.random.default_rng(1), H, W)
    assert p["box"][3] < W
    np.testing.assert_array_equal(aug.apply(clip, {**p, "flip": True}), aug.apply(clip, p)[:, :, ::-1])


def test_flip_half_flips_about_half_the_clips():
    clip = np.arange(6, dtype=np.uint8).reshape(1, 1, 2, 3)  # (1, 1, 2, 3): left != right
    aug, rng = ClipAugment(flip=0.5), np.random.default_rng(9)
    flipped = sum(np.array_equal(aug(clip, rng), clip[:, :, ::-1]) for _ in range(400))
    assert 150 <= flipped <= 250  # Binomial(400, 0.5): mean 200, sd 10


# --- bilinear resize ---------------------------------------------------------------------------

@pytest.mark.parametrize("box", [(3, 5, 13, 17), (0, 0, 7, 9), (10, 20, 14, 12), (2, 0, 20, W), (0, 4, H, 25)])
def test_resized_ramp_is_the_ramp_at_the_source_coordinates(box):
    frame = ramp()
    y0, x0, h, w = box
    out = ClipAugment().apply(frame, identity_params(box=box))[0]  # (H, W, 3)
    # Output pixel i reads the crop at (i + 0.5) * h / H - 0.5 (pixel centres aligned, as torch's
    # align_corners=False), held at the edges. Bilinear reproduces an affine function exactly.
    sy = np.clip((np.arange(H) + 0.5) * h / H - 0.5, 0, h - 1)
    sx = np.clip((np.arange(W) + 0.5) * w / W - 0.5, 0, w - 1)
    expected = 2 * (y0 + sy)[:, None, None] + 3 * (x0 + sx)[None, :, None] + 10 + 40 * np.arange(3)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    # away from the held edges the output is again a ramp: constant steps 2h/H and 3w/W
    inner_y = (sy > 0) & (sy < h - 1)
    np.testing.assert_allclose(np.diff(out[inner_y, :, 0], axis=0), 2 * h / H, atol=1e-4)
    inner_x = (sx > 0) & (sx < w - 1)
    np.testing.assert_allclose(np.diff(out[:, inner_x, 0], axis=1), 3 * w / W, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_resize_matches_torch_bilinear(dtype):
    clip = random_clip(10, t=3).astype(dtype)
    aug, rng = ClipAugment(crop_scale=(0.1, 1.0), crop_ratio=(0.5, 2.0)), np.random.default_rng(11)
    for _ in range(10):
        p = aug.params(rng, H, W)
        ref = torch_resize(clip, p["box"])
        np.testing.assert_allclose(aug.apply(clip, p), ref, rtol=0, atol=1e-4)
        np.testing.assert_allclose(aug.apply(clip, {**p, "flip": True}), ref[:, :, ::-1], rtol=0, atol=1e-4)


# --- crop box statistics -----------------------------------------------------------------------

def test_box_area_share_and_ratio_stay_in_range():
    height, width = 120, 160
    aug, rng = ClipAugment(crop_scale=(0.25, 0.8), crop_ratio=(0.5, 2.0)), np.random.default_rng(12)
    boxes = np.array([aug.params(rng, height, width)["box"] for _ in range(2000)])  # (N, 4)
    y0, x0, h, w = boxes.T
    assert (y0 >= 0).all() and (x0 >= 0).all() and (y0 + h <= height).all() and (x0 + w <= width).all()
    area = height * width
    # h and w are rounded to whole pixels: allow half a pixel either way
    assert ((h + 0.5) * (w + 0.5) >= 0.25 * area).all() and ((h - 0.5) * (w - 0.5) <= 0.8 * area).all()
    assert ((w + 0.5) / (h - 0.5) >= 0.5).all() and ((w - 0.5) / (h + 0.5) <= 2.0).all()
    share, ratio = h * w / area, w / h
    assert share.min() < 0.27 and share.max() > 0.77  # the whole range is drawn
    assert ratio.min() < 0.55 and ratio.max() > 1.8


def test_ratio_is_log_uniform_and_area_uniform():
    # small boxes always fit, so nothing is rejected: log(w / h) ~ U(log 0.5, log 2), symmetric
    # about 0 (a uniform ratio would average log 0.16); the share ~ U(0.05, 0.15)
    aug, rng = ClipAugment(crop_scale=(0.05, 0.15), crop_ratio=(0.5, 2.0)), np.random.default_rng(18)
    boxes = np.array([aug.params(rng, 120, 160)["box"] for _ in range(2000)])
    log_ratio, share = np.log(boxes[:, 3] / boxes[:, 2]), boxes[:, 2] * boxes[:, 3] / (120 * 160)
    assert abs(log_ratio.mean()) < 0.04 and abs(log_ratio.std() - np.log(4) / np.sqrt(12)) < 0.03  # sd of mean 0.009
    assert abs(share.mean() - 0.1) < 0.004 and abs(share.std() - 0.1 / np.sqrt(12)) < 0.004


def test_box_is_placed_uniformly():
    # area 1/4 at the frame's ratio: always 60 x 80, y0 uniform on 0..60, x0 on 0..80
    aug, rng = ClipAugment(crop_scale=(0.25, 0.25), crop_ratio=(4 / 3, 4 / 3)), np.random.default_rng(13)
    boxes = np.array([aug.params(rng, 120, 160)["box"] for _ in range(2000)])
    assert (boxes[:, 2:] == (60, 80)).all()
    assert boxes[:, 0].min() == 0 and boxes[:, 0].max() == 60 and boxes[:, 1].max() == 80
    assert abs(boxes[:, 0].mean() - 30) < 2 and abs(boxes[:, 1].mean() - 40) < 2.5  # sd of the mean 0.4, 0.5


@pytest.mark.parametrize("crop_ratio, box", [
    ((3.0, 4.0), (33, 0, 53, 160)),  # wider than the frame: full width, h = 160 / 3
    ((0.2, 0.25), (0, 65, 120, 30)),  # taller: full height, w = 120 * 0.25
])
def test_box_that_never_fits_falls_back_to_a_centre_crop(crop_ratio, box):
    aug, rng = ClipAugment(crop_scale=(0.9, 1.0), crop_ratio=crop_ratio), np.random.default_rng(14)
    assert all(aug.params(rng, 120, 160)["box"] == box for _ in range(5))


# --- brightness and contrast -------------------------------------------------------------------

def test_brightness_multiplies_then_clips():
    clip = random_clip(15)
    aug, rng = ClipAugment(brightness=0.5), np.random.default_rng(16)
    factors = []
    for _ in range(20):
        p = aug.params(rng, H, W)
        assert p["box"] == (0, 0, H, W) and p["flip"] is False and p["contrast"] == 1.0
        factors.append(p["brightness"])
        expected = np.clip(clip.astype(np.float32) * np.float32(p["brightness"]), 0, 255)
        np.testing.assert_array_equal(aug.apply(clip, p), expected)
    assert 0.5 <= min(factors) < 0.8 and 1.2 < max(factors) <= 1.5


def test_contrast_scales_about_the_clip_mean():
    rng = np.random.default_rng(17)
    clip = rng.uniform(100, 150, (4, H, W, 3)).astype(np.float32)  # no value clips for c <= 1.5
    clip[1] += 20  # a brighter frame: the mean is the clip's, not each frame's
    aug = ClipAugment(contrast=0.5)
    m = clip.mean(dtype=np.float64)
    for _ in range(10):
        p = aug.params(rng, H, W)
        c = p["contrast"]
        assert 0.5 <= c <= 1.5
        out = aug.apply(clip, p)
        assert abs(out.mean(dtype=np.float64) - m) < 1e-3
        np.testing.assert_allclose(out, m + c * (clip - m), rtol=0, atol=1e-3)
        np.testing.assert_allclose(out.std(dtype=np.float64), c * clip.std(dtype=np.float64), rtol=1e-5)
    # both: b * (m + c * (x - m)), with a given mean
    out = aug.apply(clip, identity_params(brightness=0.8, contrast=1.3, mean=120.0))
    np.testing.assert_allclose(out, np.clip(0.8 * (120 + 1.3 * (clip - 120.0)), 0, 255), rtol=0, atol=1e-3)


# --- options and errors ------------------------------------------------------------------------

def test_to_dict_round_trips_through_json():
    aug = ClipAugment(crop_scale=[0.5, 1], flip=0.5, contrast=np.float32(0.25))
    d = json.loads(json.dumps(aug.to_dict()))
    assert d == {"crop_scale": [0.5, 1.0], "crop_ratio": [0.75, 4 / 3], "brightness": 0.0, "contrast": 0.25,
                 "flip": 0.5, "hue": 0.0, "drift": 0.0}
    assert ClipAugment(**d).to_dict() == d
    assert repr(aug) == "ClipAugment(crop_scale=(0.5, 1.0), contrast=0.25, flip=0.5)"
    assert ClipAugment(**ClipAugment().to_dict()).active is False


@pytest.mark.parametrize("kwargs, match", [
    (dict(crop_scale=(0, 1)), r"crop_scale=\(0, 1\): expected \(min, max\) with 0 < min <= max <= 1"),
    (dict(crop_scale=(0.5, 1.2)), r"crop_scale=\(0.5, 1.2\)"),
    (dict(crop_scale=(0.9, 0.5)), r"crop_scale=\(0.9, 0.5\)"),
    (dict(crop_scale=0.5), r"crop_scale=0.5"),
    (dict(crop_scale=(0.5, float("nan"))), r"crop_scale=\(0.5, nan\)"),
    (dict(crop_ratio=(2, 1)), r"crop_ratio=\(2, 1\): expected \(min, max\) with 0 < min <= max$"),
    (dict(crop_ratio=(0, 1)), r"crop_ratio=\(0, 1\)"),
    (dict(brightness=-0.1), r"brightness=-0.1: expected a number >= 0"),
    (dict(brightness="0.2"), r"brightness='0.2'"),
    (dict(contrast=-1), r"contrast=-1: expected a number >= 0"),
    (dict(flip=1.5), r"flip=1.5: expected a probability in \[0, 1\]"),
    (dict(flip=True), r"flip=True"),
])
def test_bad_options_name_the_option(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClipAugment(**kwargs)


@pytest.mark.parametrize("shape", [(0, H, W, 3), (H, W, 3), (2, H, W, 4), (2, 0, W, 3)])
@pytest.mark.parametrize("options", [{}, ALL_ON])
def test_bad_frames_name_frames_and_the_shape(shape, options):
    with pytest.raises(ValueError, match=rf"frames of shape \({shape[0]}, "):
        ClipAugment(**options)(np.zeros(shape, np.uint8), np.random.default_rng(0))


def test_bad_dtype_and_box():
    with pytest.raises(ValueError, match="frames of dtype int64"):
        ClipAugment(flip=1.0)(np.zeros((1, H, W, 3), np.int64), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"params\['box'\]=\(20, 0, 10, 32\)"):
        ClipAugment().apply(random_clip(), identity_params(box=(20, 0, 10, 32)))


# --- hue ---------------------------------------------------------------------------------------

def test_hue_rotation_is_a_turn_about_the_grey_axis():
    grey = np.ones(3)
    for turns in (0.0, 0.1, -0.23, 0.5):
        r = hue_rotation(turns)
        np.testing.assert_allclose(r @ r.T, np.eye(3), rtol=0, atol=1e-12)  # orthogonal
        assert abs(np.linalg.det(r) - 1.0) < 1e-12  # a rotation, no mirror
        np.testing.assert_allclose(r @ grey, grey, rtol=0, atol=1e-12)  # greys stay grey
    np.testing.assert_allclose(hue_rotation(0.0), np.eye(3), rtol=0, atol=1e-15)
    np.testing.assert_allclose(hue_rotation(0.1) @ hue_rotation(0.15), hue_rotation(0.25), rtol=0, atol=1e-12)
    # a third of a turn takes red to green and green to blue; half a turn is 2P - I, P the grey projection
    red, green, blue = np.eye(3)
    np.testing.assert_allclose(hue_rotation(1 / 3) @ red, green, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hue_rotation(1 / 3) @ green, blue, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hue_rotation(-1 / 3) @ red, blue, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hue_rotation(0.5), 2 * np.full((3, 3), 1 / 3) - np.eye(3), rtol=0, atol=1e-12)


def mid_clip(seed: int, t: int = 4) -> np.ndarray:
    """Colours near mid-grey: no turn, brightness or contrast of these tests takes them past [0, 255]."""
    return np.random.default_rng(seed).integers(100, 156, (t, H, W, 3)).astype(np.uint8)


def test_hue_turns_every_pixel_then_lights_the_clip():
    clip = mid_clip(20)
    aug, rng = ClipAugment(hue=0.5, brightness=0.3, contrast=0.3), np.random.default_rng(21)
    turns = []
    for _ in range(10):
        p = aug.params(rng, H, W)
        turns.append(p["hue"])
        x = clip.astype(np.float64)
        turned = x @ hue_rotation(p["hue"]).T  # (T, H, W, 3)
        mean = x.mean()  # the turn keeps it: a pixel's mean over its channels is kept
        expected = p["brightness"] * (mean + p["contrast"] * (turned - mean))
        np.testing.assert_allclose(aug.apply(clip, p), expected, rtol=0, atol=1e-3)
    assert min(turns) < -0.2 and max(turns) > 0.2 and all(abs(t) <= 0.5 for t in turns)


def test_hue_commutes_with_the_difference_of_frames():
    clip = mid_clip(22)
    aug = ClipAugment(hue=0.5)
    p = aug.params(np.random.default_rng(23), H, W)
    assert abs(p["hue"]) > 0.05
    out = aug.apply(clip, p).astype(np.float64)
    differences = np.diff(clip.astype(np.float64), axis=0)  # (T - 1, H, W, 3)
    np.testing.assert_allclose(np.diff(out, axis=0), differences @ hue_rotation(p["hue"]).T, rtol=0, atol=1e-3)
    # a grey clip has no hue to turn
    grey = np.repeat(clip[..., :1], 3, axis=-1)
    np.testing.assert_allclose(aug.apply(grey, p), grey, rtol=0, atol=1e-3)


def test_hue_is_drawn_last_and_leaves_the_other_draws():
    plain, turned = ClipAugment(**ALL_ON), ClipAugment(**ALL_ON, hue=0.5)
    assert turned.active and ClipAugment(hue=0.1).active and "hue=0.5" in repr(turned)
    assert ClipAugment(**turned.to_dict()).to_dict() == turned.to_dict()
    for seed in range(20):
        a, b = plain.params(np.random.default_rng(seed), H, W), turned.params(np.random.default_rng(seed), H, W)
        assert a.pop("hue") == 0.0 and b.pop("hue") != 0.0
        assert a == b


def test_hue_on_uint8_frames_is_within_its_rounding():
    clip = random_clip(24)
    aug, rng = ClipAugment(crop_scale=(0.3, 1.0), hue=0.5, brightness=0.2, contrast=0.2), np.random.default_rng(25)
    for _ in range(10):
        p = aug.params(rng, H, W)
        fast = aug.apply_uint8(clip, p).astype(np.int64)
        exact = np.rint(aug.apply(clip, p)).astype(np.int64)
        # the resize's rounding (one level) through the turn (rows of at most 5/3) and b * c, and the final rounding
        bound = 5 / 3 * p["brightness"] * p["contrast"] + 1
        assert np.abs(fast - exact).max() <= bound


@pytest.mark.parametrize("hue", [-0.1, 0.6, float("nan"), True])
def test_bad_hue_named(hue):
    with pytest.raises(ValueError, match=r"hue=.*expected a share of a full turn in \[0, 0.5\]"):
        ClipAugment(hue=hue)


# --- drift: the box travels across the clip ----------------------------------------------------

def test_a_drifting_box_cuts_each_frame_where_its_path_is():
    # frame k of T is cut at the start moved k / (T - 1) of the way to the end, in whole pixels
    # (rounded half to even): each output frame is the still box's output at that place
    clip = np.concatenate([ramp() + 7 * k for k in range(5)])             # (5, H, W, 3): every frame its own
    box, end = (2, 11, 14, 18), (8, 1)
    out = ClipAugment().apply(clip, identity_params(box=box, end=end))
    path = [(2, 11), (4, 8), (5, 6), (6, 4), (8, 1)]                       # 11 - 2.5 = 8.5 -> 8, 2 + 3 = 5, ...
    for k, (y, x) in enumerate(path):
        still = ClipAugment().apply(clip[k:k + 1], identity_params(box=(y, x, 14, 18)))[0]
        np.testing.assert_array_equal(out[k], still)
    # the ramp read where the box is: the mean moves by the box's own travel, 2 dy + 3 dx a frame
    assert out[-1].mean() - out[0].mean() == pytest.approx(2 * 6 + 3 * -10 + 7 * 4, abs=1e-3)
    # a box that stays put is the clip cut the same way in every frame
    np.testing.assert_array_equal(ClipAugment().apply(clip, identity_params(box=box, end=box[:2])),
                                  ClipAugment().apply(clip, identity_params(box=box)))


@pytest.mark.parametrize("drift", [0.25, 1.0])
def test_drift_ends_a_share_of_the_way_to_a_uniform_place_and_is_drawn_last(drift):
    plain, drifting = ClipAugment(**ALL_ON, hue=0.2), ClipAugment(**ALL_ON, hue=0.2, drift=drift)
    assert drifting.active and f"drift={drift}" in repr(drifting)
    assert ClipAugment(**drifting.to_dict()).to_dict() == drifting.to_dict()
    travel = []
    for seed in range(400):
        a, b = plain.params(np.random.default_rng(seed), H, W), drifting.params(np.random.default_rng(seed), H, W)
        assert a.pop("end") == a["box"][:2]                              # no drift: the box stays put
        end = b.pop("end")
        assert a == b                                                    # every other draw as it was
        y0, x0, h, w = b["box"]
        assert 0 <= end[0] <= H - h and 0 <= end[1] <= W - w            # the path stays in the frame
        travel.append(abs(end[1] - x0) / max(W - w, 1))
    # |U - U'| for two uniform places averages a third of the room: drift of the way, a third of that
    assert np.mean(travel) == pytest.approx(drift / 3, abs=0.05)


def test_drift_on_uint8_frames_is_within_the_resizes_rounding():
    clip = random_clip(30, t=6)
    aug, rng = ClipAugment(crop_scale=(0.3, 0.6), drift=1.0), np.random.default_rng(31)
    moved = 0
    for _ in range(10):
        p = aug.params(rng, H, W)
        moved += p["end"] != p["box"][:2]
        fast = aug.apply_uint8(clip, p).astype(np.int64)
        exact = np.rint(aug.apply(clip, p)).astype(np.int64)
        assert np.abs(fast - exact).max() <= 1
    assert moved >= 8


@pytest.mark.parametrize("kwargs, match", [
    (dict(drift=0.5), r"drift=0.5: the crop box fills the frame \(crop_scale=\(1.0, 1.0\)\)"),
    (dict(crop_scale=(0.5, 1.0), drift=1.5), r"drift=1.5: expected a share of the way in \[0, 1\]"),
    (dict(crop_scale=(0.5, 1.0), drift=-0.1), r"drift=-0.1"),
])
def test_bad_drift_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClipAugment(**kwargs)
    with pytest.raises(ValueError, match=r"params\['box'\]=\(12, 0, 14, 18\)"):   # an end outside the frame
        ClipAugment().apply(random_clip(), identity_params(box=(2, 0, 14, 18), end=(12, 0)))
