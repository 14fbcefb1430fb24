"""--time-budget (training/budget.py): durations, the choice rule, calibration on tiny data,
config.json recording and exact reruns, the default job and the tutorial preset."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays, write_image_folder

import augtrain
from augtrain.cli import main
from augtrain.errors import AugtrainError
from augtrain.training import budget
from augtrain.training.budget import (
    CANDIDATES,
    MAX_EPOCHS,
    MIN_EPOCHS,
    Measured,
    choose,
    parse_duration,
    plan,
)
from augtrain.training.config import TrainConfig
from augtrain.training.presets import DEFAULT_CPU_BUDGET, apply_preset, with_preset


@pytest.fixture(autouse=True)
def restore_threads():
    """A budget's choice may set torch's threads for the process: put them back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def speednet_spec(config, size=12):
    """The model spec calibration builds speednet from, for 3-class RGB `size` images."""
    return {
        "name": "speednet",
        "options": config.model_options,
        "num_classes": 3,
        "in_channels": 3,
        "input_size": [size, size],
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
    }


def arrays(n=96, size=12, seed=0):
    return synthetic_arrays(n, size, 24, seed)


# ------------------------------------------------------------------ durations
@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2.5m", 150), (" 5S ", 5)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["10", "", "ten minutes", "10x", "0s", "m", "-5s", "1m1h"])
def test_bad_duration_is_one_line_error(text):
    with pytest.raises(AugtrainError, match="--time-budget"):
        parse_duration(text)


def test_bad_duration_on_the_cli_exits_2_in_one_line(tmp_path, capsys):
    code = main(["train", "--data", str(tmp_path), "--time-budget", "10 minutes"])
    err = capsys.readouterr().err
    assert code == 2 and "--time-budget '10 minutes'" in err
    assert len(err.strip().splitlines()) == 1


def test_a_number_is_seconds_from_python_and_a_bad_type_is_refused():
    assert parse_duration(600) == 600.0
    TrainConfig(time_budget="3m").validate()
    with pytest.raises(AugtrainError, match="--time-budget"):
        TrainConfig(time_budget=True).validate()
    with pytest.raises(AugtrainError, match="budget_choice"):
        TrainConfig(budget_choice="fast").validate()


# ------------------------------------------------------------------ the choice rule
def measured(i: int, train_s_per_image: float) -> Measured:
    return Measured(CANDIDATES[i], train_s_per_image, train_s_per_image / 3, 0.0)


def plans_for(rates: list[float], left: float, n: int = 1000, epochs=None):
    return [
        plan(measured(i, r), left, n_train=n, n_eval=100, eval_views=7, epochs=epochs)
        for i, r in enumerate(rates)
    ]


def test_plan_counts_whole_epochs_after_evaluation_and_the_safety_share():
    p = plan(measured(0, 0.01), 200.0, n_train=1000, n_eval=300, eval_views=7)
    # 200 s less 3% = 194; evaluation 300 x 7 x 0.01/3 = 7 s; epoch 10 s: 18 epochs
    assert p.epoch_s == pytest.approx(10.0) and p.eval_s == pytest.approx(7.0)
    assert p.fit == 18 and p.epochs == 18
    assert p.predicted_s == pytest.approx(18 * 10 + 7)
    assert plan(measured(0, 1e-6), 1e6, 1000, 0, 0).epochs == MAX_EPOCHS  # capped


def test_choose_takes_the_widest_that_reaches_min_epochs():
    # each wider candidate is twice as slow; 1000 images, 250 s left
    plans = plans_for([0.002, 0.004, 0.008, 0.016, 0.032], 250.0)
    fits = [p.fit for p in plans]
    assert fits == sorted(fits, reverse=True)
    chosen, ok = choose(plans)
    assert ok and chosen.epochs >= MIN_EPOCHS
    wider = plans[plans.index(chosen) + 1]
    assert wider.fit < MIN_EPOCHS  # the next one up would not have reached it
    assert chosen.measured.candidate == CANDIDATES[plans.index(chosen)]


def test_choose_falls_back_to_the_narrowest_and_says_whether_it_fits():
    short = plans_for([0.02, 0.04], 100.0)  # 20 s an epoch: 4 fit
    chosen, ok = choose(short)
    assert chosen.measured.candidate == CANDIDATES[0] and chosen.epochs == 4 and ok
    none = plans_for([0.2, 0.4], 100.0)  # 200 s an epoch: half of one fits
    chosen, ok = choose(none, n_train=1000)
    assert chosen.epochs == 1 and chosen.measured.candidate == CANDIDATES[0]
    # one pass over the images that fit: (100 x 0.97 - 100 x 7 x 0.2/3) / 0.2 s each
    assert chosen.train_images == int((97 - 700 * 0.2 / 3) / 0.2) and ok
    hopeless = plans_for([5.0], 100.0)  # not even MIN_TRAIN_SHARE of the data fits
    chosen, ok = choose(hopeless, n_train=1000)
    assert chosen.train_images == 50 and not ok


def test_training_subset_is_an_even_spread_and_only_when_chosen():
    from augtrain.data import load_data

    data = load_data(arrays(n=90))
    config = TrainConfig(budget_choice={"chosen": {"train_images": 30}})
    cut = budget.training_subset(config, data)
    assert len(cut.train.y) == 30 and len(data.train.y) == 90
    assert np.array_equal(cut.train.x[0], data.train.x[0])
    assert np.array_equal(cut.train.x[-1], data.train.x[-1])
    assert sorted(set(cut.train.y.tolist())) == [0, 1, 2]
    assert budget.training_subset(TrainConfig(), data) is data


def test_choose_with_fixed_epochs_takes_the_widest_whose_epochs_fit():
    plans = plans_for([0.002, 0.004, 0.008, 0.016], 250.0, epochs=12)
    chosen, ok = choose(plans, fixed_epochs=True)
    assert ok and chosen.epochs == 12
    assert all(p.epochs == 12 for p in plans)
    index = plans.index(chosen)
    assert plans[index].fit >= 12 and (index == len(plans) - 1 or plans[index + 1].fit < 12)


def test_batch_shrinks_on_small_training_sets():
    assert budget.batch_for(50_000, 1024) == 1024
    assert budget.batch_for(1000, 1024) == 32
    assert budget.batch_for(40, 1024) == 16


# ------------------------------------------------------------------ presets and the default job
def test_speed_on_a_cpu_has_a_ten_minute_budget_unless_sized_by_the_user():
    assert apply_preset("speed", {}, cuda=False)["time_budget"] == DEFAULT_CPU_BUDGET
    assert "time_budget" not in apply_preset("speed", {}, cuda=True)  # airbench94 unchanged
    assert "time_budget" not in apply_preset("speed-cpu", {}, cuda=False)  # the fixed recipe
    for sized in ({"epochs": 2}, {"batch_size": 64}, {"model_options": {"widths": [8, 8, 8]}}):
        assert "time_budget" not in apply_preset("speed", sized, cuda=False)
    assert apply_preset("speed", {"time_budget": 90.0}, cuda=True)["time_budget"] == 90.0


def test_no_model_and_no_preset_is_the_default_job():
    out = with_preset(None, {"time_budget": 60.0}, lambda d: False)
    assert out["preset"] == "general" and out["model"] == "speednet"
    assert out["time_budget"] == 60.0 and out["model_options"]["widths"] == [32, 128, 128]
    assert with_preset(None, {"time_budget": 60.0, "model": "cnn4"}, lambda d: False) == {
        "time_budget": 60.0,
        "model": "cnn4",
    }
    # no budget: on a CPU speed-cpu's recipe fitted to 10 minutes, unless sized by the user
    cpu = with_preset(None, {}, lambda d: False)
    assert cpu["preset"] == "general" and cpu["time_budget"] == DEFAULT_CPU_BUDGET
    sized = with_preset(None, {"epochs": 2}, lambda d: False)
    assert sized["epochs"] == 2 and "time_budget" not in sized
    assert sized["model_options"]["widths"] == [32, 128, 128]
    # on a GPU airbench94's recipe, fixed
    gpu = with_preset(None, {}, lambda d: True)
    assert gpu["preset"] == "general" and "time_budget" not in gpu
    assert gpu["model_options"]["widths"] == [64, 256, 256] and gpu["epochs"] == 10
    # the user's own network (train's network=) or a model: no default job
    assert with_preset(None, {"epochs": 1}, lambda d: False, own_network=True) == {"epochs": 1}
    assert with_preset(None, {"model": "cnn4"}, lambda d: False) == {"model": "cnn4"}
    assert with_preset(None, {}, lambda d: False, own_network=True) == {}


def test_tutorial_preset_is_the_plain_defaults():
    out = apply_preset("tutorial", {}, cuda=False)
    default = TrainConfig()
    for key in ("model", "optimizer", "batch_size", "epochs", "augment"):
        assert out[key] == getattr(default, key)
    assert "amp" not in out and "lr" not in out  # Adam's usual lr; float32
    TrainConfig(**out).validate()


# ------------------------------------------------------------------ calibration end to end
def fake_clock(step: float = 0.01):
    """A clock that advances `step` seconds each time it is read: timings are exact."""
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_calibration_on_tiny_data_with_an_injected_clock(monkeypatch):
    from augtrain.data import load_data

    data = load_data(arrays())
    config = TrainConfig(**apply_preset("speed", {"time_budget": 30.0}, cuda=False))
    spec = {**speednet_spec(config), "label_mode": "categorical"}
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:3])
    now = fake_clock(0.001)
    state = torch.get_rng_state()
    out = budget.fit_to_budget(
        config, {"time_budget"}, data, spec, torch.device("cpu"), 0.0, clock=fake_clock(), now=now
    )
    assert torch.equal(torch.get_rng_state(), state)  # the run's randomness is untouched
    record = out.budget_choice
    # each timed step reads the clock twice: 0.01 s per step of 16 images (batch_for(96))
    assert record["calibration_images"] == 16 and out.batch_size == 16
    assert [r["train_img_per_s"] for r in record["rates"]] == [1600.0] * 3
    assert record["chosen"]["widths"] == "24/96/96"  # equal rates: the widest
    assert out.model_options["widths"] == [24, 96, 96]
    assert out.epochs == record["chosen"]["epochs"] == MAX_EPOCHS
    assert out.time_budget == 30.0
    # the recipe's derived values follow the chosen batch and epochs
    assert out.lr == pytest.approx(11.5 * 16 / 1024 / (1 + 1 / 0.15))
    assert out.warmup_epochs == pytest.approx(0.23 * MAX_EPOCHS)


def test_a_short_budget_drops_tta_it_cannot_afford_and_takes_smaller_batches(monkeypatch):
    from augtrain.data import load_data

    data = load_data(arrays(n=96))
    config = TrainConfig(**apply_preset("speed", {"time_budget": 30.0}, cuda=False))
    spec = speednet_spec(config)
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:1])
    monkeypatch.setattr(budget, "EVAL_SHARE", 0.03)  # 0.9 s of the 30
    monkeypatch.setattr(budget, "MIN_STEPS", 10_000)
    clock = fake_clock(0.01)  # the timed inference of 24 images: 0.01 s; x 7 views: 0.07 s
    monkeypatch.setattr(budget, "sync", lambda d: None)
    out = budget.fit_to_budget(
        config, {"time_budget"}, data, spec, torch.device("cpu"), 0.0, clock=clock, now=clock
    )
    assert out.tta == out.budget_choice["chosen"]["tta"] == "flip-translate"  # 0.07 s: affordable
    assert out.batch_size == 16  # never larger than the small-data batch
    monkeypatch.setattr(budget, "EVAL_SHARE", 1e-4)
    out = budget.fit_to_budget(
        config, {"time_budget"}, data, spec, torch.device("cpu"), 0.0, clock=clock, now=clock
    )
    assert out.tta == "none"
    given = {"time_budget", "tta"}
    out = budget.fit_to_budget(
        config.replace(tta="flip"),
        given,
        data,
        spec,
        torch.device("cpu"),
        0.0,
        clock=clock,
        now=clock,
    )
    assert out.tta == "flip"  # the user's TTA stays


def test_budget_run_records_its_choice_and_reruns_exactly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:2])
    calls = []
    real = budget.measure
    monkeypatch.setattr(budget, "measure", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(budget, "process_age", lambda: 0.0)  # a fresh command, not pytest's age
    folder = write_image_folder(tmp_path / "imgs", per_class=16, size=12)
    common = ["--runs-dir", str(tmp_path / "runs"), "--verbose", "1"]
    assert (
        main(["train", "--data", str(folder), "--time-budget", "40s", "--name", "b", *common]) == 0
    )
    out = capsys.readouterr().out
    assert calls  # it calibrated, and said what it chose in one line
    (line,) = [x for x in out.splitlines() if x.startswith("time budget 40s:")]
    assert "epoch" in line and "img/s" in line
    path = tmp_path / "runs/b"
    config = json.loads((path / "config.json").read_text())["config"]
    choice = config["budget_choice"]
    assert config["preset"] == "general" and config["model"] == "speednet"  # the default job
    assert config["time_budget"] == 40.0 and choice["chosen"]["epochs"] == config["epochs"]
    widths = [int(w) for w in choice["chosen"]["widths"].split("/")]
    assert config["model_options"]["widths"] == widths
    assert config["batch_size"] == choice["chosen"]["batch_size"]
    assert (
        budget.precision_label(config["amp"], config["channels_last"])
        == (choice["chosen"]["precision"])
    )
    calls.clear()
    # --config config.json: the same recipe, no calibration, the same numbers
    argv = ["train", "--config", str(path / "config.json"), "--name", "again", *common]
    assert main(argv) == 0
    assert not calls and "time budget" not in capsys.readouterr().out
    again = json.loads((tmp_path / "runs/again/config.json").read_text())["config"]
    assert again["budget_choice"] == choice
    for key in ("epochs", "batch_size", "model_options", "lr", "warmup_epochs"):
        assert again[key] == config[key]
    first = (path / "history.csv").read_text().splitlines()[1].split(",")[:3]
    second = (tmp_path / "runs/again/history.csv").read_text().splitlines()[1].split(",")[:3]
    assert first == second  # epoch, loss, accuracy: deterministic given the choice


def test_resume_never_recalibrates(tmp_path, monkeypatch):
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:1])
    run = augtrain.train(
        data=arrays(),
        preset="speed",
        time_budget="15s",
        runs_dir=str(tmp_path),
        name="r",
        verbose=0,
    )
    calls = []
    monkeypatch.setattr(budget, "measure", lambda *a, **k: calls.append(1))
    more = augtrain.train(resume=run.path, data=arrays(), epochs=run.config.epochs + 1, verbose=0)
    assert not calls and more.config.budget_choice == run.config.budget_choice
    assert len(more.history) == run.config.epochs + 1


def fit_on_two_threads(monkeypatch, step_s: dict[int, float]):
    """The budget's fit of the narrowest candidate from 2 threads, each clock read costing
    `step_s[threads]`; returns (config, data)."""
    import os

    from augtrain.data import load_data

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU core: nothing to compare")
    torch.set_num_threads(2)
    data = load_data(arrays())
    config = TrainConfig(**apply_preset("speed", {"time_budget": 30.0}, cuda=False))
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:1])
    elapsed = [0.0]

    def clock():
        elapsed[0] += step_s[torch.get_num_threads()]
        return elapsed[0]

    out = budget.fit_to_budget(
        config,
        {"time_budget"},
        data,
        speednet_spec(config),
        torch.device("cpu"),
        0.0,
        clock=clock,
        now=fake_clock(0.001),
    )
    return out, data


def test_one_thread_is_kept_when_it_measures_faster_and_reruns_set_it(monkeypatch):
    # each read costs more with more threads (contended cores): one thread wins by 2x
    out, data = fit_on_two_threads(monkeypatch, {1: 0.01, 2: 0.02})
    assert out.budget_choice["threads"] == 1 and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    budget.apply_choice(out, data)  # a rerun from config.json sets it again
    assert torch.get_num_threads() == 1


def test_one_thread_only_slightly_faster_leaves_the_default_threads(monkeypatch):
    # one thread's steps 1.2x faster: a blip's size, not a loaded machine's
    out, _ = fit_on_two_threads(monkeypatch, {1: 0.01, 2: 0.012})
    assert out.budget_choice["threads"] == 2 and torch.get_num_threads() == 2


def fake_measure(rates: dict[tuple[str, str], list[float]], slower=lambda images: 1.0):
    """A `measure` whose training rate (img/s) is `rates[precision][candidate index]`, divided
    by `slower(images a step)`."""

    def measure(candidate, config, spec, train_x, train_y, eval_x, device, batch, clock, p, **k):
        precision = p or (config.amp, config.channels_last)
        index = CANDIDATES.index(candidate)
        per_image = slower(len(train_y)) / rates[precision][index]
        return budget.Measured(candidate, per_image, per_image / 3, per_image * batch, precision)

    return measure


def test_each_width_keeps_its_faster_cpu_precision_and_the_run_uses_it(monkeypatch):
    from augtrain.data import load_data

    data = load_data(arrays())
    config = TrainConfig(**apply_preset("speed", {"time_budget": 60.0}, cuda=False))
    config = config.replace(amp="bf16", channels_last="on")  # the preset's on a native-bf16 CPU
    spec = {"name": "speednet", "options": config.model_options, "num_classes": 3}
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:3])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # keep the thread check out
    # bf16 wins on the narrow net, float32 NHWC on the wider ones (as on one AVX512-BF16 CPU)
    rates = {("bf16", "on"): [1800.0, 900.0, 500.0], ("off", "on"): [1500.0, 1000.0, 700.0]}
    monkeypatch.setattr(budget, "measure", fake_measure(rates))
    out = budget.fit_to_budget(
        config, {"time_budget"}, data, spec, torch.device("cpu"), 0.0, now=fake_clock(0.001)
    )
    record = out.budget_choice
    assert [r["precision"] for r in record["rates"]] == ["bf16+NHWC", "fp32+NHWC", "fp32+NHWC"]
    assert record["rates"][1]["by_precision"] == {"bf16+NHWC": 900.0, "fp32+NHWC": 1000.0}
    assert [r["train_img_per_s"] for r in record["rates"]] == [1800.0, 1000.0, 700.0]
    assert record["chosen"]["widths"] == "24/96/96"
    assert (out.amp, out.channels_last) == ("off", "on")  # the run trains as it was timed
    assert record["chosen"]["precision"] == "fp32+NHWC"
    assert "fp32+NHWC" in budget.describe(record)

    # the user's --amp is kept: one precision timed
    out = budget.fit_to_budget(
        config, {"time_budget", "amp"}, data, spec, torch.device("cpu"), 0.0, now=fake_clock()
    )
    assert out.amp == "bf16" and "by_precision" not in out.budget_choice["rates"][0]
    assert out.budget_choice["rates"][2]["train_img_per_s"] == 500.0


def test_plan_counts_the_dearer_early_epochs_at_their_own_rate():
    # 1,000 images: later epochs 1 s, the first 3 epochs 2 s each
    m = budget.Measured(None, 0.001, 0.0, 0.0, early_epochs=3, early_s_per_image=0.002)
    assert m.epochs_cost(2, 1000) == pytest.approx(4.0)
    assert m.epochs_cost(7, 1000) == pytest.approx(10.0)
    left = 10.0 / (1 - budget.SAFETY_SHARE)  # 10 s usable
    p = plan(m, left, n_train=1000, n_eval=0, eval_views=0)
    assert p.fit == 7 and p.predicted_s == pytest.approx(10.0)  # not 10 epochs at 1 s
    flat = budget.Measured(None, 0.001, 0.0, 0.0)
    assert plan(flat, left, n_train=1000, n_eval=0, eval_views=0).fit == 10


def test_speednet_is_timed_in_its_early_and_later_steps(monkeypatch):
    from augtrain.data import load_data

    data = load_data(arrays())
    config = TrainConfig(**apply_preset("speed", {"time_budget": 30.0}, cuda=False))
    spec = speednet_spec(config)
    states = []
    from augtrain.training.loop import Trainer

    real_step = Trainer.train_step

    def step(self, index, epoch):  # which kind of step each timed call is
        states.append(self.model.net.whiten.bias.requires_grad)
        return real_step(self, index, epoch)

    monkeypatch.setattr(Trainer, "train_step", step)
    x = torch.from_numpy(data.train.x[:16])
    y = torch.from_numpy(data.train.y[:16])
    m = budget.measure(CANDIDATES[0], config, spec, x, y, x, torch.device("cpu"), 16)
    n = 1 + budget.TIMED_STEPS
    assert states == [False] * n + [True] * n  # the later epochs' steps, then the first ones'
    assert m.early_epochs == 3 and m.early_s_per_image is not None
    # the confirmation's: later steps only, the first epochs' cost from the screen's ratio
    states.clear()
    m = budget.measure(
        CANDIDATES[0], config, spec, x, y, x, torch.device("cpu"), 16, early_ratio=1.25
    )
    assert states == [False] * n
    assert m.early_s_per_image == pytest.approx(1.25 * m.train_s_per_image)


def test_the_confirmation_takes_the_first_epochs_cost_from_every_width_screened():
    def m(later: float, early: float | None) -> Measured:
        return Measured(
            None, later, 0.0, 0.0, early_epochs=3 if early else 0, early_s_per_image=early
        )

    screen = [m(1.0, 1.25), m(2.0, 2.8), m(1.0, 1.1), m(4.0, None)]
    assert budget.screened_early_ratio(screen) == pytest.approx(1.25)  # the median of 3
    assert budget.screened_early_ratio([m(1.0, None)]) is None


def test_the_pick_is_timed_again_at_its_batch_and_the_rule_applied_again(monkeypatch):
    from augtrain.data import load_data

    data = load_data(arrays(n=4096, size=8))  # batch_for: 256, more than the screen's 128
    config = TrainConfig(**apply_preset("speed", {"time_budget": 60.0}, cuda=False))
    spec = {"name": "speednet", "options": config.model_options, "num_classes": 3}
    monkeypatch.setattr(budget, "CANDIDATES", CANDIDATES[:3])
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    own = (config.amp, config.channels_last)
    # a full batch trains at half the screen's rate: 24/96/96 fits 10 epochs screened, 5 timed
    # at its batch; 16/64/64 then fits 13 at its batch (26 screened)
    rates = {own: [4000.0, 2000.0, 800.0]}
    monkeypatch.setattr(
        budget, "measure", fake_measure(rates, slower=lambda n: 1.0 if n <= 128 else 2.0)
    )
    given = {"time_budget", "amp", "channels_last"}
    out = budget.fit_to_budget(
        config, given, data, spec, torch.device("cpu"), 0.0, now=fake_clock(0.001)
    )
    record = out.budget_choice
    assert record["chosen"]["widths"] == "16/64/64" and 10 <= out.epochs <= 13
    assert record["confirmed_at_images"] == 256 and out.batch_size == 256
    rows = record["rates"]
    assert "screened_img_per_s" not in rows[0] and rows[0]["train_img_per_s"] == 4000.0
    assert (rows[1]["screened_img_per_s"], rows[1]["train_img_per_s"]) == (2000.0, 1000.0)
    assert (rows[2]["screened_img_per_s"], rows[2]["train_img_per_s"]) == (800.0, 400.0)
    assert rows[2]["epochs_fit"] < budget.MIN_EPOCHS <= rows[1]["epochs_fit"]
