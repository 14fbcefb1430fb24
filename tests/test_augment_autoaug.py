"""RandAugment, AutoAugment and TrivialAugmentWide: keyed, batched, torchvision's numbers.

torchvision is not a dependency: its magnitudes and policies are restated here from its
source (torchvision/transforms/autoaugment.py) as the numbers they produce.
"""

import json
import math

import numpy as np
import pytest
import torch

from augtrain.augment import Compose, build_pipeline, ops, preset
from augtrain.augment import functional as F
from augtrain.augment.aliases import torchvision
from augtrain.augment.ops import AUGMENT_OPS, OPS, apply_augment_ops, magnitude_table, policies
from augtrain.augment.random import Draw
from augtrain.cli import build_parser, main
from augtrain.commands.train import overrides_from_args
from augtrain.errors import AugtrainError

K = {name: i for i, name in enumerate(AUGMENT_OPS)}


def batch(n=32, size=32, seed=0, high=256):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, (n, 3, size, size), generator=g, dtype=torch.uint8)


def draw(n, key="aa", seed=0, epoch=0, start=0):
    return Draw(seed, epoch, torch.arange(start, start + n), key)


POLICIES = [
    ops.TrivialAugmentWide(),
    ops.RandAugment(),
    ops.RandAugment(num_ops=3, magnitude=20, interpolation="bilinear"),
    ops.AutoAugment("cifar10"),
    ops.AutoAugment("imagenet"),
    ops.AutoAugment("svhn", fill=128),
]


@pytest.mark.parametrize(
    "op",
    POLICIES,
    ids=["trivial", "rand", "rand-3-20", "auto-cifar10", "auto-imagenet", "auto-svhn"],
)
def test_keyed_by_seed_epoch_sample_whatever_the_batch(op):
    x = batch(40)
    idx = torch.arange(500, 540)
    pipe = Compose([op], seed=5)
    whole = pipe(x, idx, epoch=2)
    assert whole.dtype == torch.uint8 and whole.shape == x.shape
    assert torch.equal(whole, Compose([op], seed=5)(x.clone(), idx, epoch=2))
    parts = [pipe(x[a:b], idx[a:b], epoch=2) for a, b in ((0, 7), (7, 8), (8, 40))]
    assert torch.equal(whole, torch.cat(parts))
    # a sample keeps its transform in another batch order
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(1))
    assert torch.equal(pipe(x[perm], idx[perm], epoch=2), whole[perm])
    assert not torch.equal(whole, pipe(x, idx, epoch=3))
    assert not torch.equal(whole, Compose([op], seed=6)(x, idx, epoch=2))
    rebuilt = build_pipeline(json.loads(json.dumps(pipe.config())), seed=5)
    assert torch.equal(rebuilt(x, idx, epoch=2), whole)


def test_float_images_stay_float_and_agree_with_uint8():
    x = batch(64)
    pipe = Compose([ops.RandAugment(magnitude=15)], seed=3)
    u8 = pipe(x, torch.arange(64))
    fl = pipe(x.float() / 255, torch.arange(64))
    assert fl.dtype == torch.float32 and 0 <= fl.min() and fl.max() <= 1
    # the same ops on the same samples: at most rounding apart (posterize / equalize
    # round float input to levels first)
    assert (fl * 255 - u8.float()).abs().mean() < 1.0


def test_magnitude_tables_are_torchvisions():
    # torchvision RandAugment / AutoAugment `_augmentation_space(num_bins, (h, w))`
    std = magnitude_table("standard", 31, (24, 40))
    assert std[K["ShearX"], 9] == pytest.approx(0.09, abs=1e-7)
    assert std[K["ShearY"], 30] == pytest.approx(0.3, abs=1e-7)
    assert std[K["TranslateX"], 30] == pytest.approx(150 / 331 * 40, abs=1e-5)  # width
    assert std[K["TranslateY"], 30] == pytest.approx(150 / 331 * 24, abs=1e-5)  # height
    assert std[K["Rotate"], 9] == pytest.approx(9.0)
    for name in ("Brightness", "Color", "Contrast", "Sharpness"):
        assert std[K[name], 9] == pytest.approx(0.27, abs=1e-7)
    assert std[K["Solarize"], 9] == pytest.approx(178.5) and std[K["Solarize"], 0] == 255
    assert std[K["Posterize"], 9] == 7 and std[K["Posterize"], 30] == 4
    for name in ("Identity", "AutoContrast", "Equalize", "Invert"):
        assert (std[K[name]] == 0).all()
    # AutoAugment's 10 bins: posterize 8 - round(i / 2.25), torch's half-to-even rounding
    assert magnitude_table("standard", 10, (32, 32))[K["Posterize"]].tolist() == [
        8, 8, 7, 7, 6, 6, 5, 5, 4, 4,
    ]  # fmt: skip
    # TrivialAugmentWide's space
    wide = magnitude_table("wide", 31, (32, 32))
    assert wide[K["ShearX"], 30] == pytest.approx(0.99, abs=1e-7)
    assert wide[K["TranslateX"], 30] == 32 and wide[K["Rotate"], 30] == 135
    assert wide[K["Brightness"], 30] == pytest.approx(0.99, abs=1e-7)
    assert wide[K["Posterize"], 0] == 8 and wide[K["Posterize"], 30] == 2
    with pytest.raises(AugtrainError, match="magnitude space"):
        magnitude_table("narrow", 31, (32, 32))


IDENTITY_AT_ZERO = {
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
    "Brightness", "Color", "Contrast", "Sharpness", "Posterize",
}  # fmt: skip


def test_magnitude_zero_is_identity_for_the_ops_where_it_should_be():
    x = batch(len(AUGMENT_OPS)) // 2 + 20  # not the full range: autocontrast changes it
    x[:, :, 0, 0] = 255  # one white pixel: solarize at threshold 255 changes it
    op = torch.arange(len(AUGMENT_OPS))
    zero = magnitude_table("standard", 31, (32, 32))[op, 0]  # bin 0 of each op
    out = apply_augment_ops(x, op, zero)
    for name, k in K.items():
        same = torch.equal(out[k], x[k])
        assert same == (name in IDENTITY_AT_ZERO), name
    # torchvision's solarize at bin 0 has threshold 255: only white pixels turn black
    assert torch.equal(
        out[K["Solarize"]], torch.where(x[K["Solarize"]] == 255, 0, x[K["Solarize"]])
    )

    # RandAugment at magnitude 0 on images without white: identity unless a sample drew
    # AutoContrast or Equalize
    n = 300
    x = batch(n, size=16, high=255)
    policy = ops.RandAugment(num_ops=2, magnitude=0)
    steps = policy.plan(draw(n), (16, 16))
    out = policy.forward(x, draw(n))
    changing = {K["AutoContrast"], K["Equalize"]}
    plain = [i for i in range(n) if not {int(s[0][i]) for s in steps} & changing]
    assert 150 < len(plain) < n
    assert torch.equal(out[plain], x[plain])
    for op, mag in steps:  # bin 0: magnitude 0, but solarize's threshold 255, posterize's 8 bits
        want = torch.where(op == K["Solarize"], 255.0, torch.where(op == K["Posterize"], 8.0, 0.0))
        assert torch.equal(mag.abs(), want.double())


def _affine(x, theta):
    """The existing rotation op: RandomAffine at exactly `theta` degrees (clockwise)."""
    op = ops.RandomAffine(
        rotation_range=[theta, theta], fill_mode="constant", interpolation="nearest"
    )
    return op.forward(x, draw(len(x), "affine"))


def _shift(x, rows, cols):
    """Move the content down `rows` and right `cols` whole pixels, zeros coming in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    src = x[..., max(0, -rows) : h - max(0, rows), max(0, -cols) : w - max(0, cols)]
    out[..., max(0, rows) : h - max(0, -rows), max(0, cols) : w - max(0, -cols)] = src
    return out


def _shear(x, m, axis):
    """torchvision's / PIL's shear about the top-left corner, by hand: the output pixel
    (r, c) takes (r, c + m (r + 1/2)) for ShearX; outside the image it is 0."""
    a = x.numpy()
    h, w = a.shape[-2:]
    r, c = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rr, cc = (r + 0.0, c + m * (r + 0.5)) if axis == "x" else (r + m * (c + 0.5), c + 0.0)
    inside = (rr >= 0) & (rr <= h - 1) & (cc >= 0) & (cc <= w - 1)
    ri = np.clip(np.floor(rr + 0.5), 0, h - 1).astype(int)
    ci = np.clip(np.floor(cc + 0.5), 0, w - 1).astype(int)
    return torch.from_numpy(np.where(inside, a[..., ri, ci], 0))


def test_each_sample_gets_exactly_the_single_op_it_drew():
    n, size = 420, 32
    x = batch(n, size)
    policy = ops.RandAugment(num_ops=1, magnitude=30)  # the last bin: the largest magnitudes
    ((op, mag),) = policy.plan(draw(n), (size, size))
    out = policy.forward(x, draw(n))
    seen = set()
    for i in range(n):
        name, m = AUGMENT_OPS[int(op[i])], float(mag[i])
        xi, got = x[i : i + 1], out[i : i + 1]
        seen.add(name)
        if name in ("Identity",):
            want = xi
        elif name == "Rotate":  # 30 degrees counter-clockwise (torchvision) = -30 clockwise
            assert abs(m) == pytest.approx(30.0)
            want = _affine(xi, -m)
        elif name == "TranslateX":
            assert abs(m) == pytest.approx(150 / 331 * size, abs=1e-5)
            want = _shift(xi, 0, int(m))  # int(): truncated, 14 pixels
        elif name == "TranslateY":
            want = _shift(xi, int(m), 0)
        elif name in ("ShearX", "ShearY"):
            assert abs(m) == pytest.approx(0.3, abs=1e-7)
            want = _shear(xi, m, name[-1].lower())
        elif name == "Brightness":
            want = ops.BrightnessRange([1 + m, 1 + m]).forward(xi, draw(1))
        elif name == "Contrast":
            want = ops.ContrastRange([1 + m, 1 + m], per_channel=False).forward(xi, draw(1))
        elif name == "Color":
            want = F.adjust_saturation(xi, 1 + m)
        elif name == "Sharpness":
            want = F.sharpness(xi, 1 + m)
        elif name == "Posterize":
            assert m == 4
            want = F.posterize(xi, torch.tensor([4]))
        elif name == "Solarize":
            assert m == 0  # threshold 0: every pixel inverted
            want = F.invert(xi)
        elif name == "AutoContrast":
            want = F.autocontrast(xi)
        else:
            assert name == "Equalize"
            want = F.equalize(xi)
        assert torch.equal(got, want), (i, name, m)
    assert seen == set(AUGMENT_OPS[:14])


def test_rotation_and_translation_directions_are_torchvisions():
    x = batch(2, 8)
    rot = apply_augment_ops(x, torch.tensor([K["Rotate"]] * 2), torch.tensor([90.0, -90.0]))
    assert torch.equal(rot[0], torch.rot90(x[0], 1, (1, 2)))  # positive: counter-clockwise
    assert torch.equal(rot[1], torch.rot90(x[1], -1, (1, 2)))
    one = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    one[0, 0, 2, 2] = 255
    moved = apply_augment_ops(
        one.expand(2, 1, 8, 8), torch.tensor([K["TranslateX"], K["TranslateY"]]),
        torch.tensor([2.7, -1.2]),
    )  # fmt: skip
    assert moved[0, 0, 2, 4] == 255  # +2.7 -> 2 pixels right
    assert moved[1, 0, 1, 2] == 255  # -1.2 -> 1 pixel up
    # ShearX 0.5 about the top-left corner: row 2 takes column c + 0.5 * 2.5 (-> c + 1)
    sheared = apply_augment_ops(one, torch.tensor([K["ShearX"]]), torch.tensor([0.5]))
    assert sheared[0, 0, 2, 1] == 255 and sheared.sum() == 255
    # the geometric ops fill with `fill` levels
    filled = apply_augment_ops(x, torch.tensor([K["TranslateX"]] * 2), torch.tensor([3.0, 3.0]), 9)
    assert (filled[:, :, :, :3] == 9).all()


def _chi_square(counts):
    counts = np.asarray(counts, dtype=np.float64)
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


def test_randaugment_ops_are_uniform_and_signs_fair():
    n = 8000
    policy = ops.RandAugment(num_ops=2, magnitude=9)
    steps = policy.plan(draw(n), (32, 32))
    for op, mag in steps:
        counts = torch.bincount(op, minlength=14)
        assert len(counts) == 14  # never Invert, as torchvision's RandAugment
        assert _chi_square(counts) < 40  # 13 degrees of freedom: p ~ 1e-4
        signed = (op >= K["ShearX"]) & (op <= K["Sharpness"])
        negative = (mag[signed] < 0).double().mean()
        assert abs(float(negative) - 0.5) < 4 * math.sqrt(0.25 / int(signed.sum()))
        # one magnitude for all: |m| is the bin's
        table = magnitude_table("standard", 31, (32, 32))
        assert torch.equal(mag.abs(), table[op, 9])
    # the two ops of a sample are drawn independently
    pairs = steps[0][0] * 14 + steps[1][0]
    assert _chi_square(torch.bincount(pairs, minlength=196)) < 196 + 5 * math.sqrt(2 * 195)


@pytest.mark.parametrize("name", ["cifar10", "imagenet"])
def test_autoaugment_sub_policies_and_their_probabilities(name):
    n = 30000
    policy = ops.AutoAugment(name)
    table = ops.AUTOAUGMENT_POLICIES[name]
    assert len(table) == 25
    sub, applied, negative = policy.choose(draw(n))
    assert _chi_square(torch.bincount(sub, minlength=25)) < 60  # 24 dof: p ~ 1e-4
    for s, pair in enumerate(table):
        rows = sub == s
        for k, (_, p, _) in enumerate(pair):
            f = float(applied[rows, k].double().mean())
            sigma = math.sqrt(p * (1 - p) / int(rows.sum()))
            assert abs(f - p) <= 4.5 * sigma + 1e-12, (s, k, p, f)
    # the plan: the sub-policy's op where it applies, Identity where not; its magnitude bin
    steps = policy.plan(draw(n), (32, 32))
    mags = magnitude_table("standard", 10, (32, 32))
    for k, (op, mag) in enumerate(steps):
        for i in range(0, n, 97):
            want_name, _, bin_ = table[int(sub[i])][k]
            if not applied[i, k]:
                assert op[i] == K["Identity"] and mag[i] == 0
                continue
            assert AUGMENT_OPS[int(op[i])] == want_name
            assert abs(float(mag[i])) == float(mags[K[want_name], bin_ or 0])
            signed = K["ShearX"] <= op[i] <= K["Sharpness"]
            assert (float(mag[i]) < 0) == bool(signed and negative[i, k] and mag[i] != 0)


def test_autoaugment_policy_tables_spot_checks():
    # a few entries of torchvision's AutoAugmentPolicy tables, and their shape
    cifar, imagenet = ops.AUTOAUGMENT_POLICIES["cifar10"], ops.AUTOAUGMENT_POLICIES["imagenet"]
    assert cifar[0] == (("Invert", 0.1, None), ("Contrast", 0.2, 6))
    assert cifar[22] == (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3))
    assert cifar[24] == (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None))
    assert imagenet[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert imagenet[18] == (("ShearX", 0.6, 5), ("Equalize", 1.0, None))
    for subs in ops.AUTOAUGMENT_POLICIES.values():
        for pair in subs:
            for op, p, bin_ in pair:
                assert op in AUGMENT_OPS and 0 <= p <= 1
                assert (bin_ is None) == (op in ("AutoContrast", "Equalize", "Invert"))


def test_policies_share_the_one_apply_routine(monkeypatch):
    calls = []
    real = ops.apply_augment_ops
    monkeypatch.setattr(
        policies, "apply_augment_ops", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    x = batch(8)
    for op, steps in (
        (ops.TrivialAugmentWide(), 1),
        (ops.RandAugment(3), 3),
        (ops.AutoAugment(), 2),
    ):
        calls.clear()
        op.forward(x, draw(8))
        assert len(calls) == steps


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: ops.RandAugment(magnitude=31), "magnitude"),
        (lambda: ops.RandAugment(num_ops=-1), "num_ops"),
        (lambda: ops.RandAugment(num_magnitude_bins=1), "num_magnitude_bins"),
        (lambda: ops.AutoAugment("mnist"), "policy"),
        (lambda: ops.TrivialAugmentWide(interpolation="bicubic"), "interpolation"),
        (lambda: torchvision.RandAugment(fill=[0, 128, 0]), "fill"),
    ],
)
def test_bad_parameters_are_one_line_errors(make, words):
    with pytest.raises(AugtrainError, match=words) as e:
        make()
    assert "\n" not in str(e.value)


def test_torchvision_names():
    class Policy:  # stands in for torchvision's enums: their .value is used
        value = "cifar10"

    aa = torchvision.AutoAugment(Policy())
    assert isinstance(aa, ops.AutoAugment) and aa.policy == "cifar10"
    assert torchvision.AutoAugment(torchvision.AutoAugmentPolicy.SVHN).policy == "svhn"
    ra = torchvision.RandAugment(num_ops=1, magnitude=5, fill=[7, 7, 7])
    assert (ra.num_ops, ra.magnitude, ra.fill) == (1, 5, 7.0)
    assert torchvision.TrivialAugmentWide(interpolation="bilinear").interpolation == "bilinear"
    built = build_pipeline([{"op": "torchvision.RandAugment", "magnitude": 3}])
    assert isinstance(built.ops[0], ops.RandAugment) and built.ops[0].magnitude == 3
    assert "torchvision.AutoAugment" in OPS and "torchvision.AutoAugmentPolicy" not in OPS


def augment_of(*argv):
    return overrides_from_args(build_parser().parse_args(["train", *argv])).get("augment")


def test_cli_flags_and_presets():
    cfg = augment_of("--rand-augment")
    assert cfg == [ops.RandAugment().config()]
    cfg = augment_of("--augment", "crop-flip", "--rand-augment", "3", "12", "--cutout", "8")
    assert [c["op"] for c in cfg] == ["RandomCrop", "RandAugment", "Cutout"]
    assert cfg[1]["num_ops"] == 3 and cfg[1]["magnitude"] == 12
    cfg = augment_of("--auto-augment", "cifar10")
    assert cfg == [
        {"op": "AutoAugment", "policy": "cifar10", "fill": 0.0, "interpolation": "nearest"}
    ]
    assert augment_of("--augment", "randaugment") == "randaugment"
    ra = preset("randaugment").ops
    assert [type(o).__name__ for o in ra] == ["RandomCrop", "RandAugment", "Cutout"]
    assert (ra[1].num_ops, ra[1].magnitude) == (2, 9)
    aa = preset("autoaugment").ops
    assert isinstance(aa[1], ops.AutoAugment) and aa[1].policy == "cifar10"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--auto-augment", "mnist"], "--auto-augment"),
        (["--rand-augment", "2"], "--rand-augment"),
        (["--rand-augment", "2", "31"], "--rand-augment"),
    ],
)
def test_bad_cli_values_are_one_line_errors(tmp_path, capsys, argv, words):
    code = main(["train", "--data", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err
