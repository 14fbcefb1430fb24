"""The device policy (augtrain/device.py): device choice and its errors, the precision
policy (bf16 checks, fp16 with a GradScaler and its exact resume), inference honouring the
run's amp, and, under AUGTRAIN_TEST_ACCELERATOR=1, the GPU branches run on the CPU:
autocast, channels_last, the torch augmentation route and both data placements."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays, synthetic_images, write_image_folder

import augtrain
from augtrain import device as dp
from augtrain.cli import main
from augtrain.device import DevicePolicy, plan_placement, resolve_device
from augtrain.errors import AugtrainError

GIB = 1 << 30


def arrays(n=48, size=16, seed=0):
    return synthetic_arrays(n, size, 24, seed)


def train_small(tmp_path, name="run", **kw):
    opts = dict(
        data=arrays(),
        model="cnn4",
        epochs=1,
        batch_size=16,
        runs_dir=str(tmp_path / "runs"),
        name=name,
        verbose=0,
        augment="crop-flip",
    )
    opts.update(kw)
    return augtrain.train(**opts)


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dp, "mps_available", lambda: False)


@pytest.fixture
def fake_cuda(monkeypatch):
    """Two CUDA devices, as far as device choice can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    monkeypatch.delenv("LOCAL_RANK", raising=False)


@pytest.fixture
def accelerator(monkeypatch):
    """The test switch: the CPU acts as an accelerator in every policy decision."""
    monkeypatch.setenv(dp.TEST_ACCELERATOR_ENV, "1")
    monkeypatch.delenv(dp.TEST_FREE_BYTES_ENV, raising=False)


# --------------------------------------------------------------------------- device choice
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, fake_cuda):
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "1")  # under torchrun: the local rank's GPU
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    assert resolve_device("mps") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")


def test_a_cuda_index_beyond_the_machine_is_an_error(fake_cuda):
    with pytest.raises(AugtrainError, match=r"no cuda:3; this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:3")


@pytest.mark.parametrize(
    "name, message",
    [
        ("cuda", "CUDA is not available"),
        ("cuda:1", "CUDA is not available"),
        ("mps", "MPS is not available"),
        ("gpu", "unknown device"),
        ("cuda:x", "unknown device"),
        ("xla", "augtrain runs on cpu, cuda, cuda:N or mps"),
    ],
)
def test_unavailable_or_unknown_devices_are_one_line_errors(no_gpu, name, message):
    with pytest.raises(AugtrainError, match=message) as e:
        resolve_device(name)
    assert "\n" not in str(e.value)


def test_train_checks_the_device_before_reading_data(tmp_path, monkeypatch, no_gpu):
    def no_loading(*a, **k):
        raise AssertionError("data was read before the device was checked")

    monkeypatch.setattr("augtrain.training.job.load_data", no_loading)
    for name in ("cuda", "mps", "tpu"):
        with pytest.raises(AugtrainError, match="--device"):
            train_small(tmp_path, device=name)
    with pytest.raises(AugtrainError, match="--device"):  # a preset resolves it first
        train_small(tmp_path, device="cuda", preset="speed")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("device", ["cuda", "mps", "nonsense"])
def test_cli_train_device_error_exits_2_without_run_folder(
    tmp_path, monkeypatch, capsys, no_gpu, device
):
    def no_loading(*a, **k):
        raise AssertionError("data was read before the device was checked")

    monkeypatch.setattr("augtrain.training.job.load_data", no_loading)
    data = tmp_path / "d.npz"
    np.savez(data, **arrays())
    runs = tmp_path / "runs"
    code = main(["train", "--data", str(data), "--runs-dir", str(runs), "--device", device])
    err = capsys.readouterr().err
    assert code == 2 and not runs.exists()
    assert err.startswith("augtrain train: error: --device") and err.count("\n") == 1


def test_cli_evaluate_predict_features_check_the_device_first(tmp_path, capsys, no_gpu):
    missing = str(tmp_path / "no-such-run")  # the device error comes before this one
    for argv in (
        ["evaluate", missing, "--device", "cuda"],
        ["predict", missing, "x.png", "--device", "mps"],
        ["features", "--from", missing, "--out", str(tmp_path / "f.npz"), "--device", "cuda"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "error: --device" in err and err.count("\n") == 1, argv


def test_cli_device_error_in_a_real_process(tmp_path):
    """The whole command: one line on stderr, exit 2, no traceback, no run folder."""
    code = (
        "import sys, torch; torch.cuda.is_available = lambda: False; "
        "from augtrain.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-c", code, "train", "--device", "cuda:0", "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "CUDA is not available" in proc.stderr
    assert not runs.exists()


# ------------------------------------------------------------------------------ precision
def test_cuda_bf16_follows_is_bf16_supported(monkeypatch, fake_cuda):
    asked = []

    def supported(value):
        def is_bf16_supported(including_emulation=True):
            asked.append(including_emulation)
            return value

        return is_bf16_supported

    gpu = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported(True))
    assert DevicePolicy.resolve(gpu, "auto").amp_dtype == torch.bfloat16
    assert DevicePolicy.resolve(gpu, "bf16").amp_dtype == torch.bfloat16
    assert asked and not any(asked)  # emulated bf16 (pre-Ampere) does not count
    assert DevicePolicy.resolve(gpu, "auto").channels_last  # cuDNN wants NHWC

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported(False))
    assert DevicePolicy.resolve(gpu, "auto").amp_dtype is None  # float32, not emulated bf16
    with pytest.raises(AugtrainError, match=r"--amp bf16: cuda:0 \(Fake GPU\) has no native"):
        DevicePolicy.resolve(gpu, "bf16")
    # inference from a run's config falls back instead of failing
    assert DevicePolicy.for_run(gpu, {"amp": "bf16"}).amp_dtype is None
    assert DevicePolicy.resolve(gpu, "fp16").amp_dtype == torch.float16
    assert DevicePolicy.resolve(gpu, "off").amp_dtype is None


def test_cpu_and_mps_bf16(monkeypatch):
    monkeypatch.delenv(dp.TEST_ACCELERATOR_ENV, raising=False)
    cpu = torch.device("cpu")
    auto = DevicePolicy.resolve(cpu, "auto")
    assert auto.amp_dtype is None and not auto.channels_last  # the CPU default: float32, NCHW
    assert DevicePolicy.resolve(cpu, "bf16").amp_dtype == torch.bfloat16  # always honoured
    assert DevicePolicy.resolve(cpu, "auto", "on").channels_last
    monkeypatch.setattr(dp, "cpu_has_fast_bf16", lambda: False)
    assert not dp.bf16_supported(cpu)
    monkeypatch.setattr(dp, "cpu_has_fast_bf16", lambda: True)
    assert dp.bf16_supported(cpu)
    from augtrain.training import presets  # the speed presets ask the device policy

    assert presets.apply_preset("speed", {}, cuda=False)["amp"] == "bf16"
    monkeypatch.setattr(dp, "cpu_has_fast_bf16", lambda: False)
    assert presets.apply_preset("speed", {}, cuda=False).get("amp", "auto") == "auto"

    mps = torch.device("mps")
    monkeypatch.setattr(dp, "_mps_bf16", lambda: True)
    assert DevicePolicy.resolve(mps, "auto").amp_dtype == torch.bfloat16
    assert not DevicePolicy.resolve(mps, "auto").channels_last
    monkeypatch.setattr(dp, "_mps_bf16", lambda: False)
    assert DevicePolicy.resolve(mps, "auto").amp_dtype is None
    with pytest.raises(AugtrainError, match="--amp bf16: mps has no native bf16"):
        DevicePolicy.resolve(mps, "bf16")
    with pytest.raises(AugtrainError, match="--amp must be"):
        DevicePolicy.resolve(cpu, "fp8")


def test_an_explicit_bf16_on_a_gpu_without_it_fails_before_data(tmp_path, monkeypatch, fake_cuda):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)

    def no_loading(*a, **k):
        raise AssertionError("data was read before the precision was checked")

    monkeypatch.setattr("augtrain.training.job.load_data", no_loading)
    with pytest.raises(AugtrainError, match="--amp bf16"):
        train_small(tmp_path, device="cuda", amp="bf16")
    assert not (tmp_path / "runs").exists()


def test_the_test_switch_makes_the_cpu_an_accelerator(accelerator):
    from augtrain.augment import cpu_kernels

    policy = DevicePolicy.resolve("cpu", "auto")
    assert policy.amp_dtype == torch.bfloat16 and policy.channels_last
    assert not cpu_kernels.enabled()  # the augmentation takes the GPU's torch route
    assert cpu_kernels.array_module("cpu") is torch
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    inp = policy.model_input(x)
    assert inp.dtype == torch.float32 and inp.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(inp, x.float() * (1.0 / 255.0))
    with policy.autocast():
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.bfloat16


# --------------------------------------------------------------------------- fp16 training
def test_fp16_trains_with_a_grad_scaler_and_resumes_it_exactly(tmp_path):
    whole = train_small(tmp_path, "whole", epochs=2, amp="fp16", lr=3e-3)
    scaler = whole.trainer.scaler
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    steps = 2 * 3  # 48 images, batch 16
    saved = torch.load(whole.path / "last.pt", weights_only=True)["trainer"]["scaler"]
    assert saved["_growth_tracker"] == steps and saved["scale"] == scaler.get_scale()
    assert all(np.isfinite(h["loss"]) for h in whole.history)

    train_small(tmp_path, "split", epochs=1, amp="fp16", lr=3e-3)
    resumed = augtrain.train(resume=tmp_path / "runs" / "split", epochs=2, data=arrays())
    # the loss scale's step count carries on instead of restarting at 0
    assert resumed.trainer.scaler.state_dict() == scaler.state_dict()
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fp16_grad_scaler_skips_overflowing_steps():
    """The scaler is really in the step: an absurd initial scale overflows the float16
    gradients, the step is skipped (weights unchanged) and the scale backs off."""
    from augtrain.augment import Compose
    from augtrain.training.config import TrainConfig
    from augtrain.training.loop import DeviceSplit, Trainer

    x, y = synthetic_images(16, 8, 3, 0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 3, 3))
    split = DeviceSplit(torch.from_numpy(x), torch.from_numpy(y))
    trainer = Trainer(model, split, None, TrainConfig(amp="fp16", verbose=0), Compose([]))
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**100)
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train_step(torch.arange(16), 0)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters()))
    assert trainer.scaler.get_scale() < 2.0**100
    trainer.scaler = torch.amp.GradScaler("cpu")
    trainer.train_step(torch.arange(16), 0)
    assert not all(torch.equal(p, q) for p, q in zip(before, model.parameters()))


# --------------------------------------------------------------- inference honours the amp
def test_evaluation_tta_predict_and_features_honour_the_runs_amp(tmp_path):
    from augtrain.report.metrics import predict_logits
    from augtrain.report.predict import predict_files
    from augtrain.report.tta import predict_tta
    from augtrain.training.evaluate import evaluate_run
    from augtrain.training.features import extract_features

    data = tmp_path / "d.npz"
    np.savez(data, **arrays())
    run = train_small(tmp_path, data=str(data), amp="bf16", lr=3e-3)  # the CPU honours bf16
    model = run.model.eval()
    x = arrays()["x_test"]
    bf16 = DevicePolicy.for_run("cpu", json.loads((run.path / "config.json").read_text())["config"])
    assert bf16.amp_dtype == torch.bfloat16
    fp32 = DevicePolicy.resolve("cpu", "off")
    low, full = predict_logits(model, x, policy=bf16), predict_logits(model, x, policy=fp32)
    assert not torch.equal(low, full) and torch.allclose(low, full, atol=0.2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        by_hand = model(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255).float()
    assert torch.equal(low, by_hand)

    ev = evaluate_run(run.path, device="cpu")  # the run's config says bf16
    assert torch.equal(ev.logits, low)
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert ev.metrics["loss"] == pytest.approx(metrics["loss"], abs=1e-6)

    tta_low = predict_tta(model, x, "cpu", "flip", policy=bf16)
    tta_full = predict_tta(model, x, "cpu", "flip", policy=fp32)
    assert not torch.equal(tta_low, tta_full) and torch.allclose(tta_low, tta_full, atol=0.2)

    folder = write_image_folder(tmp_path / "imgs", per_class=2, size=16)
    files = sorted(folder.rglob("*.png"))
    got = {
        name: np.stack([p.probs for p in predict_files(model, files, (16, 16), "rgb",
                                                        "bilinear", workers=1, policy=pol)])
        for name, pol in (("bf16", bf16), ("fp32", fp32))
    }  # fmt: skip
    assert not np.array_equal(got["bf16"], got["fp32"])
    assert np.allclose(got["bf16"], got["fp32"], atol=0.05)

    f_low, _ = extract_features(model, x, None, "cpu", policy=bf16)
    f_full, _ = extract_features(model, x, None, "cpu", policy=fp32)
    assert not np.array_equal(f_low, f_full) and np.allclose(f_low, f_full, atol=0.2, rtol=0.05)


# ------------------------------------------------------------------------------ placement
def test_plan_placement_keeps_what_does_not_fit_on_the_host(accelerator, monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setenv(dp.TEST_FREE_BYTES_ENV, str(10 * GIB))
    # headroom: the larger of 1 GiB and 20% of the total (10 GiB here): 2 GiB, 8 GiB left
    plan = plan_placement([5 * GIB, 2 * GIB], cpu, ["train", "val"])
    assert plan.on_device == (True, True) and plan.message is None
    plan = plan_placement([5 * GIB, 4 * GIB], cpu, ["train", "val"])
    assert plan.on_device == (True, False)
    assert plan.message.startswith("data: val (4.00 GiB) does not fit in cpu's 10.00 GiB")
    assert "kept in host memory" in plan.message and "\n" not in plan.message
    plan = plan_placement([9 * GIB, 1 * GIB], cpu, ["train", "test"])
    assert plan.on_device == (False, True)
    monkeypatch.delenv(dp.TEST_FREE_BYTES_ENV)  # no figure to go by: on the device
    assert plan_placement([100 * GIB], cpu, ["train"]).on_device == (True,)
    monkeypatch.delenv(dp.TEST_ACCELERATOR_ENV)  # a plain CPU never checks
    monkeypatch.setenv(dp.TEST_FREE_BYTES_ENV, "1")
    assert plan_placement([100 * GIB], cpu, ["train"]).on_device == (True,)


def test_cuda_placement_asks_mem_get_info(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * GIB, 16 * GIB))
    gpu = torch.device("cuda", 0)
    # headroom 20% of 16 GiB = 3.2 GiB > 3 GiB free: nothing fits
    assert plan_placement([1024], gpu, ["train"]).on_device == (False,)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (12 * GIB, 16 * GIB))
    assert plan_placement([8 * GIB], gpu, ["train"]).on_device == (True,)


def test_training_under_the_test_switch_in_both_placements(tmp_path, accelerator, monkeypatch):
    """bf16 autocast, channels_last, the torch augmentation route, and the split on the
    'device' or in host memory with per-batch copies: the same training either way."""
    runs = {}
    for name, free in (("fits", 64 * GIB), ("host", GIB // 2)):
        monkeypatch.setenv(dp.TEST_FREE_BYTES_ENV, str(free))
        runs[name] = train_small(tmp_path, name, epochs=3, lr=3e-3)
    fits, host = runs["fits"], runs["host"]
    assert not fits.trainer.train.on_host and not fits.trainer.val.on_host
    assert host.trainer.train.on_host and host.trainer.val.on_host
    assert fits.trainer.precision.amp_dtype == torch.bfloat16
    assert fits.trainer.precision.channels_last
    convs = [p for p in fits.model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)

    def without_timing(history):
        return [
            {k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in history
        ]

    assert without_timing(fits.history) == without_timing(host.history)
    a, b = fits.model.state_dict(), host.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # sane: it learned the visible bands
    assert fits.history[-1]["loss"] < fits.history[0]["loss"]
    assert fits.metrics["accuracy"] > 0.6


def test_the_host_placement_is_said_in_one_line(tmp_path, accelerator, monkeypatch, capsys):
    monkeypatch.setenv(dp.TEST_FREE_BYTES_ENV, str(GIB // 2))
    train_small(tmp_path, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if "host memory" in line]
    assert len(lines) == 1 and lines[0].startswith("data: train (")
    assert "and test (" in lines[0]


@pytest.mark.parametrize(
    "limit, native",
    [("AVX2", False), ("AVX512_CORE", False), ("avx512_core_bf16", True), ("ALL", True)],
)
def test_onednn_held_below_bf16_means_no_fast_bf16(monkeypatch, limit, native):
    """ONEDNN_MAX_CPU_ISA=AVX2 imitates an AVX2 CPU: its convs emulate bf16, so the
    speed presets must not ask for it."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", limit)
    assert dp.cpu_has_fast_bf16() is native


# ------------------------------------------------------------------ host memory reuse
def alloc_faults(mib=64):
    """Minor page faults of allocating, touching and freeing one `mib` MiB tensor."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.ones(mib << 18)
    del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


needs_glibc = pytest.mark.skipif(dp._glibc() is None, reason="glibc's mallopt only")


def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@needs_glibc
def test_freed_memory_kept_reuses_pages_inside_and_gives_them_back_after(monkeypatch):
    for name in (*dp._USER_MALLOC_ENV, dp.KEEP_FREED_MEMORY_ENV):
        monkeypatch.delenv(name, raising=False)
    with dp.freed_memory_kept() as kept:
        assert kept
        with dp.freed_memory_kept():  # re-entrant: the inner block's end restores nothing
            faults = [alloc_faults() for _ in range(4)]
        faults += [alloc_faults() for _ in range(4)]
        held = [torch.ones(64 << 18) for _ in range(3)]
        del held
        inside = resident_mib()  # freed, and still the process's
    # a block this large glibc maps afresh each time (16,384 faults of 4 KiB pages); kept,
    # freed blocks' pages serve the next ones (not always the first few: memalign's padding
    # makes a freed block a little short of the next request until two merge)
    assert sum(f < 1000 for f in faults[-4:]) >= 2 and dp._kept_depth == 0
    assert inside - resident_mib() > 100  # given back at the end
    assert alloc_faults() > 1000  # glibc's settings again (and the trimmed pages new)


@pytest.mark.parametrize(
    "name, value", [("MALLOC_MMAP_MAX_", "65536"), ("AUGTRAIN_KEEP_FREED_MEMORY", "0")]
)
def test_freed_memory_kept_leaves_a_users_own_malloc_tuning(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with dp.freed_memory_kept() as kept:
        assert not kept and dp._kept_depth == 0


@needs_glibc
def test_train_and_keras_fit_run_with_freed_memory_kept(tmp_path, monkeypatch):
    for name in (*dp._USER_MALLOC_ENV, dp.KEEP_FREED_MEMORY_ENV):
        monkeypatch.delenv(name, raising=False)
    from augtrain.keras import fit
    from augtrain.training.callbacks import Callback

    seen = []

    class Depth(Callback):
        def on_train_begin(self, logs=None):
            seen.append(dp._kept_depth)

    train_small(tmp_path, callbacks=[Depth()])
    x, y = synthetic_images(32, 16, 3)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
    fit(net, x.astype(np.float32) / 255, y, epochs=1, verbose=0, callbacks=[Depth()], device="cpu")
    assert seen == [1, 1] and dp._kept_depth == 0
