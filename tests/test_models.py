"""The model zoo: every model builds, runs and trains a step; layouts and torchvision names."""

import pytest
import torch
import torch.nn as nn

from augtrain.errors import AugtrainError
from augtrain.models import MODELS, create_model
from augtrain.models.summary import build_on_meta

ZOO = ["lenet5", "cnn4", "shallowvgg", "vgg16", "resnet18", "googlenet"]


@pytest.mark.parametrize("name", ZOO)
def test_forward_backward(name):
    torch.manual_seed(0)
    size = 16 if name in ("googlenet", "resnet18") else 32  # 32: 8 s of oneDNN set-up
    model = create_model(name, num_classes=7, in_channels=3, input_size=size)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "name,options,shape",
    [
        ("vgg16", {"layout": "imagenet"}, (3, 64, 64)),
        ("vgg16", {"layout": "cifar"}, (1, 48, 40)),
        ("googlenet", {"layout": "imagenet"}, (3, 64, 64)),
        ("googlenet", {"branch3_kernel": 3}, (1, 24, 24)),
        ("shallowvgg", {}, (1, 28, 28)),
    ],
)
def test_other_sizes_and_layouts(name, options, shape):
    build = (
        build_on_meta if options.get("layout") == "imagenet" else create_model
    )  # big: no storage
    model = build(name, 4, shape[0], shape[1:], **options).eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        assert model(torch.randn(1, *shape, device=device)).shape == (1, 4)


def test_shallowvgg_is_the_lectures_network():
    m = create_model("shallowvgg")
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    dense = [x for x in m.modules() if isinstance(x, nn.Linear)]
    assert [d.out_features for d in dense] == [512, 10]
    assert not any(isinstance(x, (nn.BatchNorm2d, nn.Dropout)) for x in m.modules())
    assert sum(p.numel() for p in m.parameters()) == 2_168_362


def torchvision_vgg16_shapes(num_classes=1000, batch_norm=False):
    """torchvision's vgg16 / vgg16_bn state_dict names and shapes, written out by hand."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    shapes, i, cin = {}, 0, 3
    for v in cfg:
        if v == "M":
            i += 1
            continue
        shapes[f"features.{i}.weight"], shapes[f"features.{i}.bias"] = (v, cin, 3, 3), (v,)
        if batch_norm:
            for s in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"features.{i + 1}.{s}"] = (v,)
            shapes[f"features.{i + 1}.num_batches_tracked"] = ()
        i += 3 if batch_norm else 2
        cin = v
    for k, (n_in, n_out) in zip((0, 3, 6), ((25088, 4096), (4096, 4096), (4096, num_classes))):
        shapes[f"classifier.{k}.weight"], shapes[f"classifier.{k}.bias"] = (n_out, n_in), (n_out,)
    return shapes


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg16_imagenet_has_torchvisions_names(batch_norm):
    model = build_on_meta("vgg16", 1000, 3, 224, layout="imagenet", batch_norm=batch_norm)
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert mine == torchvision_vgg16_shapes(1000, batch_norm)
    if not batch_norm:
        assert sum(p.numel() for p in model.parameters()) == 138_357_544


def test_vgg16_cifar_base_matches_vgg16_bn():
    model = build_on_meta("vgg16", 10, 3, 32)
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tv = torchvision_vgg16_shapes(1000, batch_norm=True)
    base = {k: v for k, v in tv.items() if k.startswith("features.")}
    assert {k: v for k, v in mine.items() if k.startswith("features.")} == base


def test_googlenet_size():
    params = sum(
        p.numel() for p in build_on_meta("googlenet", 1000, 3, 224, layout="imagenet").parameters()
    )
    assert 6.9e6 < params < 7.1e6  # "about 7M" (the paper's 5x5 branch)
    tv = build_on_meta("googlenet", 1000, 3, 224, layout="imagenet", branch3_kernel=3)
    assert sum(p.numel() for p in tv.parameters()) == 6_624_904  # torchvision's googlenet


def test_registered_and_bad_options():
    assert set(ZOO) <= set(MODELS)
    with pytest.raises(AugtrainError, match="layout must be"):
        create_model("vgg16", layout="huge")
    with pytest.raises(AugtrainError, match="at least 32x32"):
        create_model("vgg16", input_size=16)
    with pytest.raises(AugtrainError, match="layout must be"):
        create_model("googlenet", layout="tiny")
    with pytest.raises(AugtrainError, match="unknown model"):
        create_model("vgg19")
    with pytest.raises(AugtrainError, match="unexpected keyword"):
        create_model("shallowvgg", layout="imagenet")


@pytest.mark.parametrize("linear", ["normal", "uniform"])
def test_torchvision_init(linear):
    from augtrain.models.init import torchvision_init

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.GroupNorm(2, 8), nn.Linear(8, 400)
    )
    for p in net.parameters():
        nn.init.constant_(p, 5.0)
    torchvision_init(net, linear=linear)
    conv, bn, gn, fc = net
    assert conv.bias.eq(0).all() and fc.bias.eq(0).all()
    # kaiming fan_out with ReLU gain: std sqrt(2 / (out_channels * k * k))
    assert conv.weight.std().item() == pytest.approx((2 / (8 * 9)) ** 0.5, rel=0.2)
    for norm in (bn, gn):
        assert norm.weight.eq(1).all() and norm.bias.eq(0).all()
    if linear == "uniform":  # EfficientNet's: U(-1/sqrt(out), 1/sqrt(out))
        assert fc.weight.abs().max().item() <= 1 / 400**0.5
        assert fc.weight.abs().max().item() > 0.9 / 400**0.5
    else:
        assert fc.weight.std().item() == pytest.approx(0.01, rel=0.1)
