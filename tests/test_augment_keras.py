"""keras-preprocessing 1.1.2 side by side: apply_transform parity, parameter distributions."""

import numpy as np
import pytest
import torch

from augtrain.augment import keras_compat
from augtrain.augment.random import Draw

kp = pytest.importorskip("keras_preprocessing.image")


def smooth_images(n=6, size=24, seed=0):
    """Natural-looking images: random noise blurred, full 0..255 range."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3)).astype(np.float64)
    k = np.ones(3) / 3
    for axis in (1, 2):
        x = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, x)
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return x.round().astype(np.uint8)


CASES = [
    {"theta": 12.5},
    {"theta": -37.0},
    {"tx": 3.4, "ty": -5.2},
    {"tx": -2, "ty": 4},
    {"shear": 18.0},
    {"zx": 0.8, "zy": 1.25},
    {"flip_horizontal": True},
    {"flip_vertical": True, "theta": 7.0},
    {"channel_shift_intensity": 35.0},
    {"brightness": 1.4},
    {"brightness": 0.55, "theta": 4.0},
    {
        "theta": 17.0,
        "tx": 2.5,
        "ty": 1.5,
        "shear": 8.0,
        "zx": 1.1,
        "zy": 0.9,
        "flip_horizontal": True,
        "channel_shift_intensity": -20.0,
    },
]


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "reflect", "wrap"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_apply_transform_matches_keras(fill_mode, case):
    params = CASES[case]
    x = smooth_images()
    gen = kp.ImageDataGenerator(fill_mode=fill_mode, cval=77.0)
    ref = np.stack([gen.apply_transform(xi.astype(np.float32), params) for xi in x])
    ours = keras_compat.apply_transform(x, params, fill_mode=fill_mode, cval=77.0)
    assert ours.shape == ref.shape and ours.dtype == np.uint8
    close = np.abs(ours.astype(np.float64) - ref) <= 1.0
    assert close.mean() >= 0.99, f"{params}: {close.mean():.4f} within one level"
    # float in, float out: Keras' own values
    ours_f = keras_compat.apply_transform(
        x.astype(np.float32), params, fill_mode=fill_mode, cval=77.0
    )
    assert (np.abs(ours_f - ref) <= 1.0).mean() >= 0.99


def test_apply_transform_per_sample_params_on_tensors():
    x = smooth_images(n=4)
    params = {
        "theta": torch.tensor([0.0, 10.0, -20.0, 5.0]),
        "tx": torch.tensor([0.0, 1.5, 0.0, -2.0]),
        "flip_horizontal": torch.tensor([False, True, False, True]),
        "brightness": None,
    }
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    out = keras_compat.apply_transform(t, params).permute(0, 2, 3, 1).numpy()
    gen = kp.ImageDataGenerator()
    for i in range(4):
        p = {k: (v[i].item() if isinstance(v, torch.Tensor) else v) for k, v in params.items()}
        ref = gen.apply_transform(x[i].astype(np.float32), p)
        assert (np.abs(out[i].astype(float) - ref) <= 1).mean() >= 0.99
    assert np.array_equal(out[0], x[0])  # neutral params: untouched


def test_interpolation_order_zero_matches_keras():
    x = smooth_images(n=3)
    gen = kp.ImageDataGenerator(interpolation_order=0)
    for params in ({"theta": 20.0}, {"zx": 0.8, "zy": 1.3}, {"shear": 10.0, "tx": 1.5}):
        ref = np.stack([gen.apply_transform(xi.astype(np.float32), params) for xi in x])
        ours = keras_compat.apply_transform(x, params, interpolation_order=0)
        assert (np.abs(ours - ref) <= 1).mean() >= 0.99


def draws(n=20000, **kwargs):
    d = Draw(0, 0, torch.arange(n), "keras")
    return keras_compat.draw_transform(d, (32, 40), **kwargs)


def test_drawn_parameters_follow_keras_ranges():
    p = draws(
        rotation_range=20,
        width_shift_range=0.1,
        height_shift_range=0.25,
        shear_range=5,
        zoom_range=0.2,
        channel_shift_range=30,
        brightness_range=[0.5, 1.5],
        horizontal_flip=True,
    )

    def uniform(t, lo, hi):
        t = t.double()
        assert float(t.min()) >= lo and float(t.max()) <= hi
        hist = torch.histc(t, bins=10, min=lo, max=hi)
        assert (hist / len(t) - 0.1).abs().max() < 0.01  # flat

    uniform(p["theta"], -20, 20)
    uniform(p["ty"], -4.0, 4.0)  # width shift: 0.1 * 40 columns
    uniform(p["tx"], -8.0, 8.0)  # height shift: 0.25 * 32 rows
    uniform(p["shear"], -5, 5)
    uniform(p["zx"], 0.8, 1.2)
    uniform(p["zy"], 0.8, 1.2)
    uniform(p["channel_shift_intensity"], -30, 30)
    uniform(p["brightness"], 0.5, 1.5)
    assert abs(float(p["flip_horizontal"].float().mean()) - 0.5) < 0.015
    assert not bool(p["flip_vertical"].any())
    # zx and zy are drawn independently (Keras)
    assert abs(float(torch.corrcoef(torch.stack([p["zx"], p["zy"]]))[0, 1])) < 0.03


def test_shift_integer_and_list_semantics():
    p = draws(width_shift_range=3, height_shift_range=[0.1, 0.2])
    vals = set(p["ty"].tolist())
    assert vals <= {-2.0, -1.0, 0.0, 1.0, 2.0}  # np.random.choice(3) * random sign
    assert set(np.round(p["tx"].numpy(), 6).tolist()) <= {-6.4, -3.2, 3.2, 6.4}  # x 32 rows
    p = draws(width_shift_range=2.5)  # a float >= 1: pixels, uniform
    assert float(p["ty"].abs().max()) <= 2.5 and float(p["ty"].abs().max()) > 2.4


def test_neutral_settings_draw_neutral_params():
    p = draws()
    assert float(p["theta"].abs().max()) == 0 and float((p["zx"] - 1).abs().max()) == 0
    assert p["channel_shift_intensity"] is None and p["brightness"] is None


def test_same_keys_same_params_whatever_the_batch():
    a = keras_compat.draw_transform(Draw(5, 2, torch.arange(100), "k"), (32, 32), rotation_range=30)
    b = keras_compat.draw_transform(
        Draw(5, 2, torch.arange(50, 60), "k"), (32, 32), rotation_range=30
    )
    assert torch.equal(a["theta"][50:60], b["theta"])


def test_zoom_range_semantics_and_errors():
    assert keras_compat.normalize_zoom_range(0.2) == (0.8, 1.2)
    assert keras_compat.normalize_zoom_range([0.5, 2]) == (0.5, 2.0)
    from augtrain.errors import AugtrainError

    with pytest.raises(AugtrainError, match="zoom_range"):
        keras_compat.normalize_zoom_range([1, 2, 3])
    with pytest.raises(AugtrainError, match="brightness_range"):
        draws(n=4, brightness_range=0.5)
    with pytest.raises(AugtrainError, match="fill_mode"):
        keras_compat.apply_transform(smooth_images(n=1), {}, fill_mode="mirror-ish")
