"""Augmentation on the command line: Keras-named flags, presets, errors, `augtrain preview`."""

import json

import numpy as np
import pytest
from fixtures import synthetic_images, write_image_folder
from PIL import Image

from augtrain.augment import build_pipeline
from augtrain.cli import build_parser, main
from augtrain.commands.train import overrides_from_args


def augment_of(*argv):
    return overrides_from_args(build_parser().parse_args(["train", *argv])).get("augment")


def test_preset_name_is_kept():
    assert augment_of("--augment", "keras-basic") == "keras-basic"
    assert augment_of() is None


def test_keras_flags_build_an_op_list():
    cfg = augment_of(
        "--rotation-range",
        "10",
        "--width-shift-range",
        "0.1",
        "--height-shift-range",
        "2",
        "--shear-range",
        "5",
        "--zoom-range",
        "0.9",
        "1.2",
        "--horizontal-flip",
        "--fill-mode",
        "constant",
        "--cval",
        "128",
        "--brightness-range",
        "0.8",
        "1.2",
        "--channel-shift-range",
        "20",
    )
    # one op: ImageDataGenerator's transform, brightness and channel shift in Keras' order
    assert [c["op"] for c in cfg] == ["RandomAffine"]
    affine = cfg[0]
    assert affine["rotation_range"] == 10 and affine["width_shift_range"] == 0.1
    assert affine["height_shift_range"] == 2 and isinstance(affine["height_shift_range"], int)
    assert affine["zoom_range"] == [0.9, 1.2] and affine["fill_mode"] == "constant"
    assert affine["cval"] == 128 and affine["horizontal_flip"] is True
    assert affine["brightness_range"] == [0.8, 1.2] and affine["channel_shift_range"] == 20
    assert affine["center"] == "keras"
    json.dumps(cfg)
    build_pipeline(cfg)  # rebuilds


def test_flags_after_a_preset_and_mixes():
    cfg = augment_of("--augment", "crop-flip", "--cutout", "8", "--mixup", "0.2")
    assert [c["op"] for c in cfg] == ["RandomCrop", "Cutout", "MixUp"]
    assert build_pipeline(cfg).mixes_labels
    cfg = augment_of("--horizontal-flip", "--vertical-flip")
    assert [c["op"] for c in cfg] == ["RandomAffine"]
    assert cfg[0]["horizontal_flip"] and cfg[0]["vertical_flip"]
    assert augment_of("--fill-mode", "reflect") == []  # a fill mode alone moves nothing
    cfg = augment_of("--width-shift-range", "-2", "0", "2")
    assert cfg[0]["width_shift_range"] == [-2, 0, 2]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--rotation-range", "-10"], "--rotation-range"),
        (["--width-shift-range", "-0.1"], "--width-shift-range"),
        (["--shear-range", "-1"], "--shear-range"),
        (["--zoom-range", "1"], "--zoom-range"),
        (["--zoom-range", "0", "1.2"], "--zoom-range"),
        (["--fill-mode", "bogus", "--rotation-range", "5"], "--fill-mode"),
        (["--brightness-range", "0.5"], "--brightness-range"),
        (["--brightness-range", "0.5", "1", "2"], "--brightness-range"),
        (["--channel-shift-range", "-4"], "--channel-shift-range"),
        (["--mixup", "0"], "--mixup"),
        (["--augment", "nonsense"], "--augment"),
    ],
)
def test_bad_flags_are_one_line_errors(tmp_path, capsys, argv, words):
    code = main(["train", "--data", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "\n" not in err


def test_train_with_keras_basic_and_flags_records_the_pipeline(tmp_path):
    x, y = synthetic_images(48, 16, 3)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    for extra in (["--augment", "keras-basic"], ["--rotation-range", "5", "--cutmix", "1.0"]):
        code = main(
            [
                "train",
                "--data",
                str(tmp_path / "d.npz"),
                "--model",
                "lenet5",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--runs-dir",
                str(tmp_path / "runs"),
                "--name",
                extra[1],
                "--verbose",
                "0",
                "--validation",
                "none",
                *extra,
            ]
        )
        assert code == 0
        config = json.loads((tmp_path / "runs" / extra[1] / "config.json").read_text())
        assert config["augment"][0]["op"] == "RandomAffine"


def test_preview_writes_a_png_and_keras_style_files(tmp_path, capsys):
    data = write_image_folder(tmp_path / "imgs", per_class=4, size=12)
    out = tmp_path / "preview.png"
    code = main(
        [
            "preview",
            "--data",
            str(data),
            "--augment",
            "keras-basic",
            "--images",
            "3",
            "--variants",
            "4",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and out.exists()
    grid = Image.open(out)
    assert grid.format == "PNG" and grid.width > grid.height > 3 * 12
    saved = tmp_path / "aug"
    code = main(
        [
            "preview",
            "--data",
            str(data),
            "--rotation-range",
            "20",
            "--horizontal-flip",
            "--images",
            "2",
            "--variants",
            "3",
            "--save-to-dir",
            str(saved),
            "--save-prefix",
            "aug",
            "--save-format",
            "jpeg",
        ]
    )
    assert code == 0
    files = sorted(p.name for p in saved.iterdir())
    assert len(files) == 6 and all(f.startswith("aug_") and f.endswith(".jpg") for f in files)
    assert not (tmp_path / "preview.png").with_name("x").exists()


def test_preview_variants_are_what_training_sees(tmp_path):
    import torch

    from augtrain.augment import preset
    from augtrain.commands.preview import augmented_variants

    x, y = synthetic_images(6, 16, 3)
    pipe = preset("keras-basic", seed=4)
    variants = augmented_variants(x, y, pipe, 0, 5, 3, 3)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    for v, out in enumerate(variants):
        assert torch.equal(out, pipe(xt, torch.arange(6), 5 + v))


def test_preview_bad_arguments(tmp_path, capsys):
    data = write_image_folder(tmp_path / "imgs", per_class=2, size=8)
    assert main(["preview", "--data", str(data), "--images", "0"]) == 2
    assert "--images" in capsys.readouterr().err
