"""The learning-rate finder: `augtrain.lr_find`, `augtrain lr-find` and `train --lr auto`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from fixtures import synthetic_arrays, write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training import lr_find as finder


def arrays(n=48, size=8):
    return synthetic_arrays(n, size, 12, 0)


def tiny_net(num_classes=3, in_channels=3):
    """Batch norm and dropout: the test changes running statistics and draws random masks."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, num_classes),
    )


COMMON = dict(batch_size=8, augment="crop-flip", device="cpu", verbose=0)


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------- the range test
def test_finder_restores_the_network_exactly_and_suggests_a_tested_rate():
    torch.manual_seed(0)
    net = tiny_net()
    net.eval()  # a mode that the test's training must not leave behind
    before = state(net)
    rng_before = torch.get_rng_state()
    result = augtrain.lr_find(data=arrays(), network=net, steps=30, **COMMON)
    after = state(net)
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key  # weights and batch-norm statistics
    assert not net.training and all(not m.training for m in net.modules())
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(torch.get_rng_state(), rng_before)
    # and the test did train it: the loss moved, the rate rose exponentially from 1e-6
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) <= 30
    assert len(result.running) == len(result.lrs)
    assert result.lrs[0] == pytest.approx(1e-6)
    ratios = np.diff(np.log(result.lrs))
    assert np.allclose(ratios, math.log(10 / 1e-6) / 29)
    assert max(result.losses) - min(result.losses) > 0.05
    assert result.rule == "minimum/3"
    i = int(np.argmin(finder.judged(result.lrs, result.smoothed)[1])) + len(result.lrs) // 10
    assert finder.lowest(result.lrs, result.smoothed) == i
    assert result.suggestion == pytest.approx(result.lrs[i] / 3)  # a third of a tested rate


def test_divergence_stops_the_test_early():
    result = augtrain.lr_find(
        data=arrays(),
        network=tiny_net(),
        optimizer="sgd",
        steps=80,
        start_lr=1e-3,
        end_lr=1e6,
        **COMMON,
    )
    assert result.diverged
    assert len(result.lrs) < 80
    # the running average decides the stop, as fastai's
    assert result.running == pytest.approx(finder.smooth(result.losses), nan_ok=True)
    last = result.running[-1]
    assert not math.isfinite(last) or last > finder.DIVERGENCE * min(result.running[:-1])
    assert all(
        v <= finder.DIVERGENCE * min(result.running[: i + 1])
        for i, v in enumerate(result.running[:-1])
    )
    # the judged curve is capped at the stop's threshold: a blow-up does not swamp it
    assert all(math.isfinite(v) for v in result.smoothed)
    assert max(result.smoothed) <= finder.DIVERGENCE * min(result.running) + 1e-9
    assert result.lrs[0] <= result.suggestion < result.lrs[-1]


def test_smoothing_and_valley_rule_as_fastai():
    assert finder.smooth([2.0]) == [2.0]  # bias correction: the first point is the loss
    assert finder.smooth([1.0, 3.0])[1] == pytest.approx((0.98 * 0.02 + 0.02 * 3) / (1 - 0.98**2))
    # flat, then falling from index 10 to 40, then rising: the middle of the fall
    curve = [3.0] * 10 + list(np.linspace(3.0, 1.0, 31)[1:]) + list(np.linspace(1.2, 5, 10))
    assert 20 <= finder.valley(curve) <= 30
    lrs = [finder.lr_at(i, len(curve), 1e-7, 10.0) for i in range(len(curve))]
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    assert 20 <= lrs.index(finder.suggest(lrs, curve, "valley")) <= 30
    # steepest: the step of the fastest fall; a steeper drop at 30 -> 31 is the one
    curve[31] -= 0.3
    assert lrs.index(finder.suggest(lrs, curve, "steepest")) == 30
    result = finder.LRFinderResult(lrs, curve, curve, finder.suggest(lrs, curve), 51, 1e-7, 10, 0)
    assert result.rule == "minimum/3"
    assert result.suggestion == pytest.approx(lrs[39] / 3)  # the end of the fall, its lowest
    others = result.other_rules()
    assert others.keys() == {"valley", "steepest", "minimum/10"} and others["steepest"] == lrs[30]
    assert others["minimum/10"] == pytest.approx(lrs[39] / 10)
    assert 20 <= lrs.index(others["valley"]) <= 30


def from_scratch_curve(seed=0, noise=0.03):
    """A range test's raw losses as a model trained from scratch gives them, 40 steps a
    decade from 1e-6: flat at 2.3 up to 1e-4, falling (fastest at first) to its lowest, 1.9,
    at 10**-2.5, climbing back by 1e-2 and blowing up after."""
    lrs = [finder.lr_at(i, 281, 1e-6, 10.0) for i in range(181)]
    x = np.log10(lrs)
    fall = 2.3 - 0.4 * np.sqrt(np.clip((x + 4) / 1.5, 0, 1))
    climb = np.where(x > -2.5, 0.4 * ((x + 2.5) / 0.5) ** 2, 0.0)
    loss = fall + climb + np.where(x > -2, 10 ** (4 * (x + 2)) - 1, 0.0)
    loss = loss + np.random.default_rng(seed).normal(0, noise, len(lrs))
    return lrs, [float(v) for v in loss]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_centred_smoothing_finds_the_lowest_point_where_the_running_average_lags(seed):
    lrs, losses = from_scratch_curve(seed)
    running = finder.smooth(losses)
    cap = finder.DIVERGENCE * min(running)
    smoothed = finder.centred(lrs, losses, cap)
    low = 10**-2.5
    lowest = lrs[int(np.argmin(finder.judged(lrs, smoothed)[1])) + len(lrs) // 10]
    assert low / 1.5 <= lowest <= low * 1.5
    assert finder.suggest(lrs, smoothed) == pytest.approx(lowest / 3)
    # the running average's lowest point sits on the climb, at twice the rate and more
    assert lrs[int(np.argmin(running))] > 1.9 * low
    # valley and steepest read the start of the fall, about a decade below the lowest
    assert finder.suggest(lrs, smoothed, "valley") <= low / 9
    assert finder.suggest(lrs, smoothed, "steepest") <= low / 9


def test_centred_smoothing_is_a_weighted_mean_without_lag():
    lrs = [10.0**k for k in np.linspace(-6, 0, 61)]
    flat = finder.centred(lrs, [2.0] * 61, cap=8.0)
    assert flat == pytest.approx([2.0] * 61)
    # a straight line in log lr stays itself away from the ends: no shift to the right
    line = [1.0 - 0.1 * k for k in np.linspace(-6, 0, 61)]
    assert finder.centred(lrs, line, cap=8.0)[10:51] == pytest.approx(line[10:51])
    # a blow-up counts as the cap, so its neighbours rise but stay finite
    blown = finder.centred(lrs, [2.0] * 60 + [math.nan], cap=8.0)
    assert all(math.isfinite(v) for v in blown) and blown[-1] <= 8.0
    assert blown[30] == pytest.approx(2.0) and blown[-2] > 2.0
    assert finder.centred([], [], cap=8.0) == []
    # a long test is smoothed a block at a time, as one
    many = [10.0**k for k in np.linspace(-6, 1, 3000)]
    noisy = list(2 + np.random.default_rng(0).normal(0, 0.1, 3000))
    x = np.log10(many)
    w = np.exp(-0.5 * ((x[:, None] - x[None, :]) / finder.SMOOTHING_DECADES) ** 2)
    assert finder.centred(many, noisy, cap=8.0) == pytest.approx(list(w @ noisy / w.sum(1)))


def test_default_steps_follow_the_range_and_the_data():
    assert finder.default_steps(1000) == 280  # 40 a decade from 1e-6 to 10
    assert finder.default_steps(1000, 1e-4, 1e-1) == 120
    assert finder.default_steps(10) == 80  # but at most eight passes
    assert finder.default_steps(1) == 20  # and never fewer than 20
    result = augtrain.lr_find(data=arrays(), network=tiny_net(), **COMMON)  # 6 steps a pass
    assert result.steps == 48


def test_result_renders_in_a_notebook():
    result = finder.LRFinderResult(
        lrs=[1e-4, 1e-3, 1e-2, 1e-1],
        losses=[2.3, 2.0, 1.5, 9.0],
        smoothed=[2.3, 2.1, 1.8, 4.0],
        suggestion=1e-3,
        steps=4,
        start_lr=1e-4,
        end_lr=1e-1,
        diverged=True,
    )
    fig = result.plot()
    assert fig.axes[0].get_xscale() == "log"
    # minimum/3 marks the lowest point its suggestion is a third of
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "lowest" in labels and "suggestion 0.001 (minimum/3)" in labels
    assert result._repr_png_().startswith(b"\x89PNG")
    assert "suggested lr 0.001" in result.describe() and "diverged" in result.describe()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "--steps 0: must be an integer >= 2"),
        ({"steps": 2.5}, "--steps 2.5: must be an integer"),
        ({"start_lr": 0.0}, "--start-lr 0.0: must be a number > 0"),
        ({"start_lr": 1.0, "end_lr": 0.1}, "--end-lr 0.1 must be above --start-lr 1"),
        ({"head": "logistic", "features": "f.npz"}, "--head logistic has no learning rate"),
        ({"rule": "best"}, "--rule 'best': choose from minimum/3, valley, steepest, minimum/10"),
        ({"lr": "fast"}, None),  # the finder ignores lr=, whatever it is
    ],
)
def test_bad_range_is_one_line(kwargs, message):
    if message is None:
        assert augtrain.lr_find(data=arrays(), network=tiny_net(), steps=4, **COMMON, **kwargs)
        return
    with pytest.raises(AugtrainError, match=message.replace("(", r"\(")):
        augtrain.lr_find(data=arrays(), **COMMON, **kwargs)


# ------------------------------------------------------------------------- --lr auto
def test_lr_auto_trains_exactly_as_the_number_it_records(tmp_path, capsys):
    opts = dict(data=arrays(), epochs=1, runs_dir=str(tmp_path), seed=3, **COMMON)
    opts["verbose"] = 1
    torch.manual_seed(0)
    auto = augtrain.train(network=tiny_net(), name="auto", lr="auto", **opts)
    out = capsys.readouterr().out
    lr = auto.config.lr
    assert isinstance(lr, float) and 1e-7 <= lr <= 10
    line = [x for x in out.splitlines() if x.startswith("--lr auto: suggested lr")]
    assert len(line) == 1 and f"{lr:.3g}" in line[0]
    written = json.loads((tmp_path / "auto" / "config.json").read_text())["config"]
    assert written["lr"] == lr
    assert (tmp_path / "auto" / "lr_find.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "auto" / "lr_find.csv").read_text().startswith("step,lr,loss,smoothed_loss")
    # the number alone trains the same run: the search left nothing behind
    torch.manual_seed(0)
    again = augtrain.train(network=tiny_net(), name="again", lr=lr, **opts)
    assert "--lr auto" not in capsys.readouterr().out
    assert again.history[0]["loss"] == auto.history[0]["loss"]
    for key, value in state(auto.trainer.model).items():
        assert torch.equal(state(again.trainer.model)[key], value), key


def test_train_config_of_an_auto_run_reruns_without_a_search(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = write_image_folder(tmp_path / "imgs", per_class=8, size=12)
    flags = ["--data", str(folder), "--batch-size", "8", "--epochs", "1", "--device", "cpu"]
    assert main(["train", *flags, "--lr", "auto", "--name", "a", "--verbose", "1"]) == 0
    first = capsys.readouterr().out
    assert "--lr auto: suggested lr" in first
    lr = json.loads((tmp_path / "runs" / "a" / "config.json").read_text())["config"]["lr"]
    assert isinstance(lr, float)
    config = str(tmp_path / "runs" / "a" / "config.json")
    assert main(["train", "--config", config, "--name", "b", "--verbose", "1"]) == 0
    assert "--lr auto" not in capsys.readouterr().out
    assert json.loads((tmp_path / "runs" / "b" / "config.json").read_text())["config"]["lr"] == lr
    h = [(tmp_path / "runs" / n / "history.csv").read_text().splitlines()[1] for n in "ab"]
    assert h[0].split(",")[:3] == h[1].split(",")[:3]  # epoch, loss, accuracy: the same run
    # a resumed run keeps its rate; asking for a search there is a one-line error
    with pytest.raises(AugtrainError, match="--lr auto searches before training starts"):
        augtrain.train(resume=str(tmp_path / "runs" / "a"), lr="auto", epochs=2)


def test_lr_must_be_a_number_or_auto(capsys):
    with pytest.raises(AugtrainError, match="--lr 'fast': must be 'auto' or a number > 0"):
        augtrain.train(data=arrays(), lr="fast", **COMMON)
    assert main(["train", "--lr", "fast"]) == 2
    assert "--lr 'fast': must be 'auto' or a number > 0" in capsys.readouterr().err


# ------------------------------------------------------------------------------ CLI
def test_cli_writes_png_and_csv_and_nothing_else(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = write_image_folder(tmp_path / "imgs", per_class=8, size=12)
    argv = ["lr-find", "--data", str(folder), "--batch-size", "8", "--device", "cpu"]
    assert main([*argv, "--steps", "12", "--out", "found", "--verbose", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    (line,) = [x for x in out if x.startswith("suggested lr ")]
    assert "minimum/3 rule; 12 steps from 1e-06 to 10" in line
    assert (tmp_path / "found" / "lr_find.png").read_bytes().startswith(b"\x89PNG")
    rows = (tmp_path / "found" / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed_loss" and 2 <= len(rows) - 1 <= 12
    suggested = float(line.split()[2])
    assert min(float(r.split(",")[1]) for r in rows[1:]) <= suggested
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "found", "imgs"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "0"], "lr-find: error: --steps 0: must be an integer >= 2"),
        (["--start-lr", "1", "--end-lr", "0.5"], "--end-lr 0.5 must be above --start-lr 1"),
        (["--resume", "runs/x"], "lr-find starts from the model's initial weights"),
        (["--steps", "x"], "argument --steps: invalid int value: 'x'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, capsys, flags, message):
    monkeypatch.chdir(tmp_path)
    assert main(["lr-find", "--data", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
