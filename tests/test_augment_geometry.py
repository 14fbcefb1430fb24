"""Geometry: exact integer cases, fill modes by definition, the resampler's conventions."""

import pytest
import torch

from augtrain.augment import Compose, geometry
from augtrain.augment import functional as F
from augtrain.augment.ops import RandomAffine, RandomCrop, RandomRot90


def images(b=4, c=3, h=9, w=11, seed=0, dtype=torch.uint8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)
    return x if dtype == torch.uint8 else x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_identity_is_bit_exact(dtype, interp):
    x = images(dtype=dtype)
    m = geometry.identity(len(x))
    for mode in geometry.WARP_FILL_MODES:
        assert torch.equal(geometry.warp(x, m, mode=mode, interpolation=interp), x)


def test_identity_params_are_bit_exact_through_the_op():
    x = images(h=16, w=16)
    op = RandomAffine(rotation_range=0, width_shift_range=0.0, fill_mode="constant")
    assert torch.equal(Compose([op], seed=3)(x, torch.arange(len(x)), epoch=2), x)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
def test_rotation_by_quarter_turns_equals_rot90(k, interp):
    x = images(h=10, w=10)
    m = geometry.keras_matrix(10, 10, theta=90.0 * k, batch=len(x), center="true")
    out = geometry.warp(x, m, mode="constant", interpolation=interp)
    # Keras' theta > 0 turns the picture clockwise: torch.rot90 with k = -1
    assert torch.equal(out, torch.rot90(x, -k, dims=(2, 3)))


def test_keras_theta_turns_clockwise():
    x = torch.zeros(1, 1, 7, 7, dtype=torch.uint8)
    x[0, 0, 0, 6] = 255  # top-right corner
    m = geometry.keras_matrix(7, 7, theta=90.0, batch=1, center="true")
    assert geometry.warp(x, m)[0, 0, 6, 6] == 255  # now bottom-right


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "mirror", "wrap"])
@pytest.mark.parametrize("dy,dx", [(0, 3), (-2, 0), (5, -4), (-12, 13)])
def test_whole_pixel_shifts_equal_index_maps(mode, dy, dx):
    x = images(h=9, w=11)
    b, _, h, w = x.shape
    m = geometry.identity(b)
    m[:, 0, 2] = dy  # output (r, c) samples input (r + dy, c + dx)
    m[:, 1, 2] = dx
    out = geometry.warp(x, m, mode=mode, cval=7)
    rows, rin = F.map_index(torch.arange(h) + dy, h, mode)
    cols, cin = F.map_index(torch.arange(w) + dx, w, mode)
    ref = x[:, :, rows][:, :, :, cols]
    if mode == "constant":
        inside = rin[:, None] & cin[None, :]
        ref = torch.where(inside, ref, torch.tensor(7, dtype=torch.uint8))
    assert torch.equal(out, ref)


def test_fill_modes_match_their_definitions_on_one_row():
    # row abcd shifted so that 4 pixels come from the left of the image
    x = torch.tensor([[[[10, 20, 30, 40]]]], dtype=torch.uint8)
    m = geometry.identity(1)
    m[:, 1, 2] = -4
    expect = {
        "constant": [0, 0, 0, 0],
        "nearest": [10, 10, 10, 10],
        "reflect": [40, 30, 20, 10],  # dcba|abcd
        "wrap": [10, 20, 30, 40],  # abcd|abcd
        "mirror": [20, 30, 40, 30],  # ... c b | a b c d (edge not repeated): i=-4..-1 -> 2,3,2,1
    }
    for mode, want in expect.items():
        got = geometry.warp(x, m, mode=mode)[0, 0, 0].tolist()
        if mode == "mirror":
            idx, _ = F.map_index(torch.arange(-4, 0), 4, "mirror")
            want = x[0, 0, 0, idx].tolist()
        assert got == want, mode


@pytest.mark.parametrize("flip", ["h", "v"])
def test_flips_in_the_matrix_equal_tensor_flips(flip):
    x = images()
    b, _, h, w = x.shape
    fh = torch.tensor([True, False, True, False]) if flip == "h" else False
    fv = torch.tensor([True, True, False, False]) if flip == "v" else False
    m = geometry.keras_matrix(h, w, flip_horizontal=fh, flip_vertical=fv, batch=b, center="true")
    out = geometry.warp(x, m, interpolation="bilinear")
    ref = F.hflip(x, fh) if flip == "h" else F.vflip(x, fv)
    assert torch.equal(out, ref)


def test_bilinear_half_pixel_shift_averages_neighbours():
    x = torch.tensor([[[[0.0, 10.0, 20.0, 30.0]]]])
    m = geometry.identity(1)
    m[:, 1, 2] = 0.5
    out = geometry.warp(x, m, mode="nearest", interpolation="bilinear")
    assert out[0, 0, 0].tolist() == [5.0, 15.0, 25.0, 30.0]


def test_uint8_and_float_agree_within_rounding():
    x = images(h=16, w=16)
    m = geometry.keras_matrix(16, 16, theta=17.0, tx=1.3, ty=-2.2, shear=5, zx=1.1, batch=4)
    a = geometry.warp(x, m).float()
    b = geometry.warp(x.float(), m)
    assert (a - b).abs().max() <= 0.5 + 1e-3


def test_random_crop_matches_gather_crop_reference():
    x = images(b=64, h=12, w=12)
    idx = torch.arange(64)
    for padding_mode in ("reflect", "constant", "edge", "symmetric"):
        op = RandomCrop(padding=3, padding_mode=padding_mode, flip=True, fill=9)
        out = Compose([op], seed=1)(x, idx, epoch=4)
        # the same draws through the reference gather
        from augtrain.augment.random import Draw

        bits = Draw(1, 4, idx, "0:RandomCrop").bits(3)
        top = bits[:, 0] % 7 - 3
        left = bits[:, 1] % 7 - 3
        flip = (bits[:, 2] >> 8) < (1 << 23)
        ref = F.crop(x, top, left, 12, 12, flip_h=flip, mode=F.PADDING_MODES[padding_mode], fill=9)
        assert torch.equal(out, ref), padding_mode


def test_torch_crop_routes_agree_on_a_smaller_window_and_no_flip():
    """The torch kernel's two routes (padded rows; the gather, taken when rows flip too)."""
    x = images(b=8, h=10, w=10)
    top = torch.tensor([0, 1, 2, -1, 3, 0, 2, 1])
    left = torch.tensor([2, 0, -2, 1, 3, 1, 0, 4])
    for flip in (None, torch.tensor([1, 0, 1, 0, 1, 1, 0, 0], dtype=torch.bool)):
        a = F._crop_rows(x, top, left, 6, 7, flip, "reflect", 0.0, None)
        b = F._crop_gather(x, top, left, 6, 7, flip, None, "reflect", 0.0)
        assert torch.equal(a, b)
        assert torch.equal(a, F.crop(x, top, left, 6, 7, flip_h=flip, mode="reflect"))


def test_rot90_op_is_exact():
    x = images(b=16, h=8, w=8)
    out = Compose([RandomRot90()], seed=0)(x, torch.arange(16))
    for i in range(16):
        assert any(torch.equal(out[i], torch.rot90(x[i], k, dims=(1, 2))) for k in range(4))


def test_affine_nearest_fill_never_leaves_the_value_range():
    x = images(b=8, h=16, w=16)
    op = RandomAffine(30, 0.2, 0.2, shear_range=10, zoom_range=0.3, horizontal_flip=True)
    out = Compose([op])(x, torch.arange(8))
    assert out.dtype == torch.uint8 and out.shape == x.shape
    outf = Compose([op])(x.float() / 255, torch.arange(8))
    assert outf.dtype == torch.float32 and float(outf.min()) >= 0 and float(outf.max()) <= 1


@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "wrap"])
def test_whole_pixel_shift_op_is_an_exact_index_map(mode):
    """Keras int shift ranges draw whole pixels: the op takes the exact gather path."""
    x = images(b=16, h=12, w=12)
    op = RandomAffine(
        width_shift_range=4, height_shift_range=3, horizontal_flip=True, fill_mode=mode, cval=5
    )
    from augtrain.augment.random import Draw

    out = op.forward(x, Draw(0, 0, torch.arange(16), "s"))
    p = op.params(Draw(0, 0, torch.arange(16), "s"), (12, 12))
    for i in range(16):
        dy, dx = int(p["tx"][i]), int(p["ty"][i])
        rows, rin = F.map_index(torch.arange(12) + dy, 12, mode)
        cols, cin = F.map_index(torch.arange(12) + dx, 12, mode)
        ref = x[i][:, rows][:, :, cols]
        if mode == "constant":
            ref = torch.where(rin[:, None] & cin[None, :], ref, torch.tensor(5, dtype=torch.uint8))
        if bool(p["flip_horizontal"][i]):
            ref = ref.flip(2)
        assert torch.equal(out[i], ref)
