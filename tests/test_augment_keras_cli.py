"""One meaning of ImageDataGenerator's arguments: the CLI's Keras-named flags build the op
whose pixels are the generator's for the same values, seed and keyed draws."""

import numpy as np
import pytest
import torch

from augtrain.augment import build_pipeline, preset
from augtrain.augment.ops import RandomAffine
from augtrain.augment.random import Draw
from augtrain.cli import build_parser
from augtrain.commands.train import overrides_from_args
from augtrain.keras.image import ImageDataGenerator


def smooth_uint8(n=24, h=14, w=18, c=3, seed=0):
    """Smooth images with some flat areas: fill modes and brightness stretch both matter."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    x = np.stack(
        [
            np.sin(yy / (2 + k) + g.uniform(0, 6)) * np.cos(xx / (3 + k) + g.uniform(0, 6))
            for k in range(n * c)
        ]
    ).reshape(n, c, h, w)
    x = (x * 0.5 + 0.5) * g.uniform(100, 255, (n, 1, 1, 1)) + g.uniform(0, 40, (n, 1, 1, 1))
    return torch.from_numpy(np.clip(x, 0, 255).round().astype(np.uint8))


# (CLI argv, the ImageDataGenerator arguments that mean the same)
CASES = [
    (["--rotation-range", "25"], dict(rotation_range=25)),
    (["--width-shift-range", "0.2", "--height-shift-range", "0.15"],
     dict(width_shift_range=0.2, height_shift_range=0.15)),
    (["--width-shift-range", "3", "--height-shift-range", "-2", "0", "2"],
     dict(width_shift_range=3, height_shift_range=[-2, 0, 2])),
    (["--shear-range", "12", "--fill-mode", "reflect"], dict(shear_range=12, fill_mode="reflect")),
    (["--zoom-range", "0.3", "--fill-mode", "wrap"], dict(zoom_range=0.3, fill_mode="wrap")),
    (["--zoom-range", "0.7", "1.2", "--fill-mode", "constant", "--cval", "90"],
     dict(zoom_range=[0.7, 1.2], fill_mode="constant", cval=90)),
    (["--horizontal-flip", "--vertical-flip"], dict(horizontal_flip=True, vertical_flip=True)),
    (["--channel-shift-range", "40"], dict(channel_shift_range=40)),
    (["--brightness-range", "0.5", "1.5"], dict(brightness_range=[0.5, 1.5])),
    (["--rotation-range", "15", "--width-shift-range", "0.1", "--zoom-range", "0.2",
      "--horizontal-flip", "--channel-shift-range", "30", "--brightness-range", "0.7", "1.3",
      "--fill-mode", "nearest"],
     dict(rotation_range=15, width_shift_range=0.1, zoom_range=0.2, horizontal_flip=True,
          channel_shift_range=30, brightness_range=[0.7, 1.3], fill_mode="nearest")),
]  # fmt: skip


def cli_op(argv):
    cfg = overrides_from_args(build_parser().parse_args(["train", *argv]))["augment"]
    pipeline = build_pipeline(cfg, seed=3)
    assert len(pipeline) == 1 and isinstance(pipeline.ops[0], RandomAffine)
    return pipeline.ops[0]


@pytest.mark.parametrize("argv, keras_args", CASES)
def test_cli_flags_give_the_generators_pixels(argv, keras_args):
    x = smooth_uint8()
    index = torch.arange(100, 100 + len(x))
    op = cli_op(argv)
    gen = ImageDataGenerator(**keras_args)
    # the same keyed draws: one Draw each, same (seed, epoch, index, key)
    ours = op(x, Draw(3, 2, index, "k"))
    theirs = gen._transform_batch(x.float(), Draw(3, 2, index, "k"))
    assert ours.dtype == torch.uint8 and theirs.dtype == torch.float32
    # the generator's float32 values, rounded as the uint8 pipeline rounds them
    expected = torch.floor(theirs + 0.5).clamp(0, 255).to(torch.uint8)
    assert torch.equal(ours, expected), argv
    assert not torch.equal(ours, x)  # the flags did something
    # and the draws are the generator's own parameters
    p_ours = op.params(Draw(3, 2, index, "k"), tuple(x.shape))
    p_theirs = gen._draw_params(Draw(3, 2, index, "k"), x.shape[-2], x.shape[-1])
    for key, value in p_theirs.items():
        if value is None:
            assert p_ours.get(key) is None, key
        else:
            mine = torch.as_tensor(np.asarray(p_ours[key])).expand(len(x))
            assert torch.equal(mine.to(value.dtype), value), key


def test_brightness_flag_stretches_first_like_keras():
    """--brightness-range is Keras' brightness shift (stretch to 0..255, then multiply),
    no longer a plain multiply: a dim image comes out stretched even at factor 1."""
    dim = torch.full((1, 3, 8, 8), 40, dtype=torch.uint8)
    dim[..., :4] = 80
    op = cli_op(["--brightness-range", "1", "1"])
    out = op(dim, Draw(0, 0, torch.arange(1), "k"))
    assert int(out.min()) == 0 and int(out.max()) == 255


def test_keras_basic_preset_is_the_flags_op():
    flags = cli_op(
        [
            "--rotation-range", "10", "--width-shift-range", "0.1",
            "--height-shift-range", "0.1", "--horizontal-flip",
        ]
    )  # fmt: skip
    assert preset("keras-basic").ops[0].config() == flags.config()


def test_float_images_keep_their_scale():
    """On [0, 1] float batches the op's levels (cval, channel shift, brightness) scale."""
    x = smooth_uint8(n=8)
    op = cli_op(["--rotation-range", "20", "--channel-shift-range", "30",
                 "--brightness-range", "0.8", "1.2"])  # fmt: skip
    draw = lambda: Draw(1, 0, torch.arange(8), "k")  # noqa: E731
    as_uint8 = op(x, draw()).float()
    as_float = op(x.float() / 255, draw()) * 255
    assert float(as_float.max()) <= 255 + 1e-3
    assert float((as_float - as_uint8).abs().max()) <= 1.0 + 1e-3
