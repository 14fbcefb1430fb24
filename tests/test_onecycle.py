"""--schedule onecycle is torch's OneCycleLR (cosine phases, momentum cycling), step for step,
also across a resume; the linear warm-up/decay lives on as `triangle`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures import signal_at, synthetic_arrays, synthetic_images

import augtrain
from augtrain.cli import build_parser, main
from augtrain.commands.train import overrides_from_args
from augtrain.errors import AugtrainError
from augtrain.training.callbacks import Callback
from augtrain.training.optim import build_momentum_schedule, build_schedule


def torch_one_cycle(optimizer: str, max_lr: float, epochs: int, steps: int, **kw):
    """(lr, momentum or beta1) at each optimizer step, from torch's OneCycleLR itself."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = (
        torch.optim.SGD([p], lr=max_lr, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam([p], lr=max_lr)
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps, **kw
    )
    out = []
    for _ in range(epochs * steps):
        g = opt.param_groups[0]
        out.append((g["lr"], g["betas"][0] if "betas" in g else g["momentum"]))
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(
    "epochs, steps, kw",
    [
        (3, 7, {}),
        (10, 1, {"pct_start": 0.3}),
        (4, 3, {"pct_start": 0.5, "div_factor": 10.0, "final_div_factor": 100.0}),
        (1, 10, {"pct_start": 0.05, "max_momentum": 0.9, "base_momentum": 0.8}),  # up < 0
        (2, 9, {"pct_start": 0.8}),
    ],
)
def test_lr_and_momentum_equal_torch_one_cycle_step_by_step(epochs, steps, kw):
    kw = {"pct_start": 0.25, **kw}
    ref = torch_one_cycle("sgd", 0.4, epochs, steps, **kw)
    lr_kw = {k: kw[k] for k in ("pct_start", "div_factor", "final_div_factor") if k in kw}
    mom_kw = {k: kw[k] for k in ("pct_start", "max_momentum", "base_momentum") if k in kw}
    f = build_schedule("onecycle", epochs, steps_per_epoch=steps, **lr_kw)
    m = build_momentum_schedule("onecycle", epochs, steps_per_epoch=steps, **mom_kw)
    ours = [(0.4 * f(e + b / steps), m(e + b / steps)) for e in range(epochs) for b in range(steps)]
    assert len(ours) == len(ref)
    for s, ((lr, mom), (lr_ref, mom_ref)) in enumerate(zip(ours, ref)):
        assert abs(lr - lr_ref) < 1e-9 and abs(mom - mom_ref) < 1e-9, s


def test_fastai_defaults_and_the_shape_of_the_curve():
    f = build_schedule("onecycle", 100)  # continuous: no steps_per_epoch
    m = build_momentum_schedule("onecycle", 100)
    assert f(0) == pytest.approx(1 / 25) and f(25) == pytest.approx(1.0)  # fastai's pct 0.25
    assert f(100) == pytest.approx(1 / 25 / 1e4)
    assert f(12.5) == pytest.approx((1 + 1 / 25) / 2)  # cosine: half-way at half the phase
    assert m(0) == pytest.approx(0.95) and m(25) == pytest.approx(0.85)
    assert m(100) == pytest.approx(0.95)
    # --warmup-epochs, when given, sets the warm-up phase instead of pct_start
    g = build_schedule("onecycle", 100, warmup_epochs=10)
    assert g(10) == pytest.approx(1.0) and g(5) < 1.0
    # the other schedules cycle no momentum
    assert build_momentum_schedule("triangle", 10) is None
    assert build_momentum_schedule("cosine", 10) is None


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"pct_start": 1.0}, "--pct-start"),
        ({"pct_start": 0.0}, "--pct-start"),
        ({"div_factor": 0.0}, "--div-factor"),
        ({"final_div_factor": -1.0}, "--final-div-factor"),
        ({"warmup_epochs": 10.0}, "--warmup-epochs"),
    ],
)
def test_bad_one_cycle_settings(kw, words):
    with pytest.raises(AugtrainError, match=words):
        build_schedule("onecycle", 10, **kw)


def test_bad_momentum_range():
    with pytest.raises(AugtrainError, match="--max-momentum"):
        build_momentum_schedule("onecycle", 10, max_momentum=1.0)


def test_cli_flags_reach_the_config():
    args = build_parser().parse_args(
        ["train", "--schedule", "onecycle", "--pct-start", "0.3", "--div-factor", "10",
         "--final-div-factor", "100", "--no-cycle-momentum", "--max-momentum", "0.9",
         "--base-momentum", "0.8"]
    )  # fmt: skip
    out = overrides_from_args(args)
    assert out["schedule"] == "onecycle" and out["pct_start"] == 0.3
    assert (out["div_factor"], out["final_div_factor"]) == (10.0, 100.0)
    assert out["cycle_momentum"] is False
    assert (out["max_momentum"], out["base_momentum"]) == (0.9, 0.8)
    assert "triangle" in build_parser().parse_args(["train", "--schedule", "triangle"]).schedule


def test_bad_cli_value_is_one_line(tmp_path, capsys):
    x, y = synthetic_images(32, 8, 3, 0)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    argv = ["train", "--data", str(tmp_path / "d.npz"), "--schedule", "onecycle"]
    code = main([*argv, "--pct-start", "1.5", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--pct-start" in err and "\n" not in err


# -------------------------------------------------------------------- in the Trainer
EPOCHS, BATCH, N = 3, 16, 64  # 4 steps an epoch, 12 in all


class Record(Callback):
    """(global step, lr, momentum or beta1) of every optimizer step, as the step used it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float, float]] = []

    def on_batch_end(self, batch, logs=None):
        g = self.trainer.optimizer.param_groups[0]
        mom = g["betas"][0] if "betas" in g else g["momentum"]
        self.seen.append((self.trainer.global_step, g["lr"], mom))


def data():
    return synthetic_arrays(N, 16)


def opts(tmp_path, **kw):
    return dict(
        data=data(),
        model="lenet5",
        epochs=EPOCHS,
        batch_size=BATCH,
        schedule="onecycle",
        runs_dir=str(tmp_path),
        verbose=0,
        **kw,
    )


def test_trainer_follows_torch_and_resume_mid_cycle_is_exact(tmp_path, capsys):
    lr = 0.05
    ref = torch_one_cycle("sgd", lr, EPOCHS, N // BATCH, pct_start=0.25)
    whole = Record()
    augtrain.train(
        name="whole", callbacks=[whole], **opts(tmp_path, optimizer="sgd", lr=lr, momentum=0.9)
    )
    assert [s for s, _, _ in whole.seen] == list(range(1, EPOCHS * N // BATCH + 1))
    for (_, got_lr, got_m), (want_lr, want_m) in zip(whole.seen, ref, strict=True):
        assert abs(got_lr - want_lr) < 1e-9 and abs(got_m - want_m) < 1e-9
    # stopped in the middle of the warm-up's second epoch (step 6 of 12), then resumed
    first, second = Record(), Record()
    with pytest.raises(KeyboardInterrupt):
        augtrain.train(
            name="cut",
            callbacks=[first, signal_at(6)],
            **opts(tmp_path, optimizer="sgd", lr=lr, momentum=0.9),
        )
    capsys.readouterr()
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["trainer"]
    assert (state["epoch"], state["batch_in_epoch"]) == (1, 2)
    augtrain.train(resume=tmp_path / "cut", data=data(), callbacks=[second])
    assert first.seen + second.seen == whole.seen


def test_adam_cycles_beta1_and_no_cycle_momentum_keeps_it(tmp_path):
    ref = torch_one_cycle("adam", 1e-3, EPOCHS, N // BATCH, pct_start=0.3, div_factor=10.0)
    rec = Record()
    augtrain.train(
        name="adam",
        callbacks=[rec],
        **opts(tmp_path, optimizer="adam", lr=1e-3, pct_start=0.3, div_factor=10.0),
    )
    for (_, got_lr, got_b1), (want_lr, want_b1) in zip(rec.seen, ref, strict=True):
        assert abs(got_lr - want_lr) < 1e-9 and abs(got_b1 - want_b1) < 1e-9
    plain = Record()
    augtrain.train(
        name="plain",
        callbacks=[plain],
        **opts(tmp_path, optimizer="adam", lr=1e-3, cycle_momentum=False),
    )
    assert {b1 for _, _, b1 in plain.seen} == {0.9}  # Adam's own beta1, untouched
