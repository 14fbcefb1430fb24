"""--time-budget: the best recipe that fits a stated wall time on the machine that runs it.

    augtrain train --preset speed --time-budget 10m     (also 90s, 1h, 1h30m)

The budget is the whole command, start to metrics.json: start-up and data loading, this
calibration, training, the final evaluation with TTA and the run folder's files.

1. Calibration (`calibrate`): for each candidate scale in `CANDIDATES`, narrowest first,
   a few timed optimizer steps on real training images through the run's augmentation,
   precision and memory format (the Trainer's own `train_step`), and one timed inference
   batch. A step's first call is not timed: it creates oneDNN/cuDNN primitives once.
   A net with dearer first epochs (`early_epochs`: speednet's whitening bias trains for 3)
   is timed in both kinds of step, and the plan counts each epoch at its own rate.
   On a CPU these steps are small (a screen); the candidate the rule then picks is timed
   again at the batch it will train with, and the rule applied again with that rate, until
   it picks a candidate so confirmed.
   It stops at the first candidate that cannot reach `MIN_EPOCHS` (every wider one is
   slower), or when it has spent `CALIBRATION_SHARE` of the budget.
   On a CPU, unless the user chose --amp or --channels-last, each candidate is timed in
   both precisions (`precisions_for`) and keeps the faster: which one wins depends on the
   CPU and on the width (bf16 on AVX512-BF16 without AMX loses to float32 NHWC on wide
   nets on one such CPU, wins on another; BENCHMARKS.md, time budget), so it is measured,
   not guessed from the CPU's flags.
2. The overhead model (`plan`): what the run still spends besides its epochs, from what
   was measured: the time already gone, model set-up, the final evaluation (plain plus
   every TTA view over the evaluated split) and a fixed tail for checkpoint and plots.
   What is left, less a safety share, divided by the seconds of one epoch, is the number
   of whole epochs that fit.
3. The choice rule (`choose`, a pure function): the widest candidate that fits at least
   `MIN_EPOCHS`, with as many epochs as fit up to `MAX_EPOCHS`; if none does, the
   narrowest with as many as fit (at least one, with a note that the budget is short).
   airbench's recipes train ~10 epochs at their width (airbench94) and gain more from
   width than from epochs beyond that. Grids of fixed recipes at 10 minutes on a 2-core
   CPU put the line lower: 8 epochs at 32/128/128 beat 12 at 24/96/96 in less time, and 9
   beat 12 at 24/96/96 and 22 at 16/64/64 (BENCHMARKS.md, "Time budget").

The choice is printed in one line and kept in config.json as `budget_choice` beside the
chosen values (widths, epochs, batch size, lr), so `--resume` and `--config config.json`
rerun it exactly: a config with a `budget_choice` is never calibrated again. Schedules
run over the chosen epochs' steps as any run's do, so the run is deterministic given it.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AugtrainError
from .callbacks.base import Callback
from .config import parse_duration

# Fewer epochs than this at a width: a narrower net with more epochs does better (see above).
MIN_EPOCHS = 8
MAX_EPOCHS = 40  # airbench96's count; beyond it the schedule gains nothing worth the time
# Calibration may spend at most this share of the budget (it is part of the budget).
CALIBRATION_SHARE = 0.05
# Planned share of what is left, kept back for noise (other processes, thermal, the cache).
SAFETY_SHARE = 0.03
# Checkpoint, history, plots, metrics.json and interpreter exit after the evaluation;
# matplotlib's import and two figures dominate it on a CPU.
TAIL_SECONDS = 4.0
TIMED_STEPS = 3  # after one untimed step
# The chosen candidate's full-batch timing: its first steps also pay for fresh memory (a
# full batch's activations are new pages until the allocator reuses them), so two untimed.
# Five timed later-epoch steps, the first epochs' cost scaled by the screen's ratio
# (`screened_early_ratio`): the median of three rated 24/96/96 12-15% below its epochs in
# two of three runs and ruled it or 32/128/128 out (BENCHMARKS.md, time budget); later steps
# are most of a run.
CONFIRM_STEPS = 5
CONFIRM_WARMUP = 2
# One thread replaces torch's default only when it trains this much faster in the screen:
# on loaded cores it won by 2-4x, while on quiet ones a blip in its three short steps once
# made it win, and the whole run then trained on half the cores (BENCHMARKS.md, time budget).
ONE_THREAD_GAIN = 1.3
# Images per timed step on a CPU: its per-image cost hardly depends on the batch beyond a
# few hundred, and a full 1024-image step of a wide net would cost seconds per candidate.
CPU_CALIBRATION_IMAGES = 128
EVAL_CALIBRATION_IMAGES = 256  # one timed inference batch (after one untimed)
# The final evaluation (plain, then each TTA view) may take at most this share of the
# budget: past it the time buys more as training; TTA steps down flip-translate -> flip -> none.
EVAL_SHARE = 0.12
# A run with fewer optimizer steps than this gets a smaller batch (airbench94 takes ~490).
MIN_STEPS = 100
# A command older than this when the budget starts is no fresh process (a notebook or test
# harness calling the CLI's main): its budget counts from the train() call.
FRESH_PROCESS_SECONDS = 120.0


@dataclass(frozen=True)
class Candidate:
    """One scale of the speednet recipe: block widths and airbench's lr for that width."""

    widths: tuple[int, int, int]
    lr_per_1024: float = 11.5

    @property
    def label(self) -> str:
        return "/".join(map(str, self.widths))


# Narrowest first. airbench94's (64, 256, 256) and airbench95's (128, 384, 384) with its
# lr; speed-cpu's half width (32, 128, 128); the others fill the gaps at ~1.5-2x cost steps
# (a block's cost grows with the square of its width).
CANDIDATES: tuple[Candidate, ...] = (
    Candidate((12, 48, 48)),
    Candidate((16, 64, 64)),
    Candidate((24, 96, 96)),
    Candidate((32, 128, 128)),
    Candidate((48, 192, 192)),
    Candidate((64, 256, 256)),
    Candidate((96, 320, 320), 10.5),
    Candidate((128, 384, 384), 10.0),
)


@dataclass(frozen=True)
class Measured:
    """A candidate's measured rates on this machine (seconds per image)."""

    candidate: Candidate | None  # None: the user's own model and options, not a speednet scale
    train_s_per_image: float
    eval_s_per_image: float
    step_s: float  # one optimizer step at the run's batch size (the first epoch's warm-up)
    precision: tuple[str, str] = ("auto", "auto")  # the (amp, channels_last) it was timed in
    # A net whose first epochs' steps cost more (`early_epochs`, speednet's whitening bias):
    # those epochs' rate, timed apart; train_s_per_image is the later epochs'.
    early_epochs: int = 0
    early_s_per_image: float | None = None

    def epochs_cost(self, epochs: int, n_train: int) -> float:
        """Seconds of `epochs` whole epochs over `n_train` images."""
        late = epochs * n_train * self.train_s_per_image
        early = min(epochs, self.early_epochs)
        if not early or self.early_s_per_image is None:
            return late
        return late + early * n_train * (self.early_s_per_image - self.train_s_per_image)


@dataclass(frozen=True)
class Plan:
    """What a candidate gives in the time left: the epochs it trains (`epochs`), the whole
    epochs that fit (`fit`), and the predicted seconds from now to the evaluation's end."""

    measured: Measured
    epochs: int
    fit: int
    epoch_s: float
    eval_s: float
    predicted_s: float
    usable_s: float = 0.0  # seconds left for the epochs themselves
    train_images: int | None = None  # a budget short of one epoch: one pass over this many


# ------------------------------------------------------------------ durations
def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m" if not secs else f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m" if not secs else f"{minutes}m{secs:02d}s"
    return f"{secs}s"


# ------------------------------------------------------------------ the command's clock
_command_start: float | None = None


def process_age() -> float | None:
    """Seconds since this process started, from /proc (None where it cannot be read)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def mark_command_start() -> None:
    """The CLI's train command: the budget counts from the process's start (Python's and
    torch's imports are part of the command), unless the process is not a fresh one."""
    global _command_start
    age = process_age()
    fresh = age is not None and age < FRESH_PROCESS_SECONDS
    _command_start = time.monotonic() - (age if fresh else 0.0)


def command_start(default: float) -> float:
    """Where the budget's clock started: the CLI's mark, else `default` (the train() call)."""
    global _command_start
    start, _command_start = _command_start, None  # one command, one mark
    return default if start is None else start


# ------------------------------------------------------------------ the choice rule
def plan(
    measured: Measured,
    left_s: float,
    n_train: int,
    n_eval: int,
    eval_views: int,
    epochs: int | None = None,
) -> Plan:
    """Whole epochs of `measured` that fit in `left_s` seconds (the budget less what is
    spent already and the fixed tail); it trains those (at most MAX_EPOCHS) or `epochs`."""
    epoch_s = n_train * measured.train_s_per_image
    eval_s = n_eval * eval_views * measured.eval_s_per_image
    warm_s = 2 * measured.step_s  # the first epoch's new shapes (full and last batch)
    usable = left_s * (1 - SAFETY_SHARE) - eval_s - warm_s
    if epoch_s <= 0:
        fit = MAX_EPOCHS
    else:  # the most whole epochs whose cost (the early ones dearer) fits
        fit = max(0, math.floor(usable / epoch_s))
        while fit > 0 and measured.epochs_cost(fit, n_train) > usable:
            fit -= 1
    chosen = epochs if epochs is not None else min(fit, MAX_EPOCHS)
    total = warm_s + measured.epochs_cost(chosen, n_train) + eval_s
    return Plan(measured, chosen, fit, epoch_s, eval_s, total, usable_s=usable)


def choose(
    plans: Sequence[Plan], fixed_epochs: bool = False, n_train: int = 0
) -> tuple[Plan, bool]:
    """The rule: the widest plan with at least MIN_EPOCHS (with --epochs given: the widest
    whose epochs fit), else the narrowest with the epochs that fit, or, short of one, one
    pass over a part of the `n_train` images; and whether it fits.
    `plans` are narrowest first, each from `plan` with the same time left."""
    if not plans:
        raise AugtrainError("--time-budget: nothing was calibrated")
    if fixed_epochs:
        fitting = [p for p in plans if p.epochs <= p.fit]
    else:
        fitting = [p for p in plans if p.epochs >= MIN_EPOCHS]
    if fitting:
        return fitting[-1], True
    first = plans[0]
    if fixed_epochs or first.epochs >= 1:
        return first, first.epochs <= first.fit
    return short_of_an_epoch(first, n_train)


# A pass shorter than this share of the data trains too little to be worth a run's start.
MIN_TRAIN_SHARE = 0.05


def short_of_an_epoch(p: Plan, n_train: int) -> tuple[Plan, bool]:
    """Not one epoch fits: one pass over as many distinct training images as fit (evenly
    spread over the set, see `training_subset`), at least MIN_TRAIN_SHARE of them."""
    per_image = p.measured.train_s_per_image
    images = int(p.usable_s / per_image) if per_image > 0 else n_train
    floor = max(1, math.ceil(MIN_TRAIN_SHARE * n_train))
    images = min(n_train, max(floor, images))
    total = p.predicted_s + images * per_image
    return replace(p, epochs=1, train_images=images, predicted_s=total), images * per_image <= max(
        p.usable_s, 0.0
    )


# ------------------------------------------------------------------ calibration
def batch_for(n_train: int, recipe_batch: int) -> int:
    """The recipe's batch, smaller on a small training set so an epoch has steps to take:
    a power of two near n/16, at least 16."""
    if n_train >= 16 * recipe_batch:
        return recipe_batch
    return max(16, min(recipe_batch, 2 ** int(math.log2(max(n_train / 16, 1)))))


def given_settings(config: Any, overrides: dict[str, Any]) -> set[str]:
    """The settings the user chose (keywords, or a passed config's non-defaults): the
    budget never changes those."""
    import dataclasses

    from .config import TrainConfig

    given = {k for k, v in overrides.items() if v is not None}
    if config is not None:
        default = TrainConfig()
        for f in dataclasses.fields(TrainConfig):
            if getattr(config, f.name) != getattr(default, f.name):
                given.add(f.name)
    return given


def candidates_for(config: Any, given: set[str]) -> list[Candidate | None]:
    """The scales to try: speednet's table unless the user fixed the widths or chose
    another model (then only the model as given: the budget picks its epochs)."""
    options = config.model_options or {}
    if config.model != "speednet" or ("model_options" in given and "widths" in options):
        return [None]
    return list(CANDIDATES)


def precisions_for(config: Any, given: set[str], device: torch.device) -> list[tuple[str, str]]:
    """The (amp, channels_last) settings to time: the config's own, and on a CPU (unless the
    user chose either) float32 NHWC too, oneDNN's other fast path."""
    own = (config.amp, config.channels_last)
    if device.type != "cpu" or {"amp", "channels_last"} & given:
        return [own]
    return list(dict.fromkeys([own, ("off", "on")]))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def measure(
    candidate: Candidate | None,
    config: Any,
    spec: dict[str, Any],
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    eval_x: torch.Tensor,
    device: torch.device,
    batch_size: int,
    clock: Callable[[], float] = time.perf_counter,
    precision_setting: tuple[str, str] | None = None,
    steps: int | None = None,
    warmup: int = 1,
    early_ratio: float | None = None,
) -> Measured:
    """Time `steps` (TIMED_STEPS) training steps (after one untimed) and one inference batch of a
    candidate on real images (`train_x` uint8 NHWC, on the device), through the run's
    pipeline, optimizer groups and precision (the config's, or `precision_setting`'s
    (amp, channels_last)). A net with dearer first epochs is timed in both kinds of step,
    unless `early_ratio` (a first epoch's cost over a later one's, timed before) is given."""
    from . import checkpoint
    from .loop import DeviceSplit, Trainer
    from .presets import init_from_data, recipe_setup
    from .resolved import make_pipeline

    options = dict(config.model_options or {})
    if candidate is not None:
        options["widths"] = list(candidate.widths)
    cal_config = config.replace(model_options=options, epochs=1, batch_size=len(train_y))
    if precision_setting is not None:
        cal_config = cal_config.replace(
            amp=precision_setting[0], channels_last=precision_setting[1]
        )
    classifier = checkpoint.build_model({**spec, "options": options}, spec["mean"], spec["std"])
    from ..device import DevicePolicy

    precision = DevicePolicy.resolve(device, cal_config.amp, cal_config.channels_last)
    classifier = precision.prepare_model(classifier.to(device))
    init_from_data(classifier, train_x)
    net = getattr(classifier, "net", classifier)
    groups, _ = recipe_setup(net, cal_config, None)
    split = DeviceSplit(train_x, train_y)
    trainer = Trainer(
        classifier,
        split,
        None,
        cal_config,
        make_pipeline(cal_config),
        [],
        device,
        param_groups=groups,
        num_classes=spec["num_classes"] if spec["num_classes"] > 1 else 2,
    )
    index = torch.arange(len(train_y), device=device)
    trainer.set_lr(0.5)

    def timed_step() -> float:
        for _ in range(warmup):  # untimed: primitive creation, allocator warm-up
            trainer.train_step(index, 0)
        sync(device)
        times = []
        for _ in range(steps or TIMED_STEPS):
            t0 = clock()
            trainer.train_step(index, 0)
            sync(device)
            times.append(clock() - t0)
        return statistics.median(times)

    early_epochs = int(getattr(net, "early_epochs", 0) or 0)
    if early_epochs:
        net.set_epoch(10**9)  # the later epochs' steps: most of the run
    step_s = timed_step()
    early_step_s = None
    if early_epochs and early_ratio is not None:
        early_step_s = step_s * early_ratio
    elif early_epochs:
        net.set_epoch(0)
        early_step_s = timed_step()
    from ..report.metrics import predict_logits

    predict_logits(classifier, eval_x, device, policy=precision)  # untimed: same shapes
    t0 = clock()
    predict_logits(classifier, eval_x, device, policy=precision)
    sync(device)
    eval_s = clock() - t0
    per_image = step_s / len(train_y)
    return Measured(
        candidate,
        per_image,
        eval_s / max(len(eval_x), 1),
        per_image * batch_size,
        (cal_config.amp, cal_config.channels_last),
        early_epochs,
        None if early_step_s is None else early_step_s / len(train_y),
    )


def fit_to_budget(
    config: Any,
    given: set[str],
    data: Any,
    spec: dict[str, Any],
    device: torch.device,
    started: float,
    clock: Callable[[], float] = time.perf_counter,
    now: Callable[[], float] = time.monotonic,
) -> Any:
    """The config with the chosen scale (widths, epochs, batch size and the values derived
    from them) and `budget_choice` recording the calibration; `started` is the command's
    start on the `now` clock."""
    from ..report.tta import tta_views
    from .presets import derive_recipe_values

    budget_s = parse_duration(config.time_budget)
    n_train = len(data.train.y)
    split = data.test if data.test is not None else data.val
    n_eval = 0 if split is None else len(split.y)

    def views_of(tta: str) -> int:
        return 0 if split is None else 1 + (len(tta_views(tta)) if tta != "none" else 0)

    batch = config.batch_size
    if "batch_size" not in given and config.preset:
        batch = batch_for(n_train, config.batch_size)
    cal_n = min(batch, n_train) if device.type != "cpu" else min(batch, CPU_CALIBRATION_IMAGES)
    cal_n = max(1, min(cal_n, n_train))

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.linspace(0, n_train - 1, n).long().numpy()  # spread: a folder is sorted
        return (
            torch.from_numpy(data.train.x[pick]).to(device),
            torch.from_numpy(data.train.y[pick]).to(device),
        )

    train_x, train_y = sample(cal_n)
    eval_src = split.x if split is not None else data.train.x
    eval_x = torch.from_numpy(eval_src[: min(len(eval_src), EVAL_CALIBRATION_IMAGES)]).to(device)

    fixed_epochs = "epochs" in given

    def now_left() -> float:  # the budget less what is spent and the fixed tail
        return budget_s - (now() - started) - TAIL_SECONDS

    cal_start = now()
    calibration_cap = CALIBRATION_SHARE * budget_s
    measured_list: list[Measured] = []
    rng_state = torch.get_rng_state()
    threads = torch.get_num_threads()
    precisions = precisions_for(config, given, device)
    by_precision: dict[int, dict[str, float]] = {}  # each candidate's rate in each precision
    for i, candidate in enumerate(candidates_for(config, given)):
        timed = [
            measure(candidate, config, spec, train_x, train_y, eval_x, device, batch, clock, p)
            for p in precisions
        ]
        measured = min(timed, key=lambda m: m.train_s_per_image)
        by_precision[i] = {
            precision_label(*m.precision): round(1 / m.train_s_per_image, 1) for m in timed
        }
        if i == 0 and device.type == "cpu" and threads > 1:
            # On cores shared with other work, torch's threads wait on each other at every
            # op's barrier whenever one is descheduled; one thread can then be faster.
            torch.set_num_threads(1)
            single = measure(
                candidate,
                config,
                spec,
                train_x,
                train_y,
                eval_x,
                device,
                batch,
                clock,
                measured.precision,
            )
            if single.train_s_per_image * ONE_THREAD_GAIN < measured.train_s_per_image:
                measured, threads = single, 1
            else:
                torch.set_num_threads(threads)
        measured_list.append(measured)
        left = now_left()
        least = views_of(config.tta if "tta" in given else "none")  # TTA is chosen below
        fit = plan(measured, left, n_train, n_eval, least).fit
        needed = config.epochs if fixed_epochs else MIN_EPOCHS
        if fit < needed or now() - cal_start > calibration_cap:
            break  # wider candidates are slower still, or calibration has had its share
    # Every candidate is planned with the time left now: the later ones saw less left.
    tta = config.tta
    if "tta" not in given:  # the TTA whose evaluation the budget can afford
        for tta in dict.fromkeys((config.tta, "flip", "none")):
            eval_s = n_eval * views_of(tta) * measured_list[0].eval_s_per_image
            if eval_s <= EVAL_SHARE * budget_s:
                break
    views = views_of(tta)
    epochs = config.epochs if fixed_epochs else None

    def decide() -> tuple[list[Plan], Plan, bool, int]:
        left = now_left()
        final = [plan(m, left, n_train, n_eval, views, epochs) for m in measured_list]
        chosen, fits = choose(final, fixed_epochs, n_train)
        trained = chosen.epochs * (chosen.train_images or n_train)
        run_batch = batch
        if "batch_size" not in given and config.preset and trained < MIN_STEPS * batch:
            # a short run: more, smaller steps (the lr follows the batch, derive_recipe_values)
            run_batch = min(batch, max(32, 2 ** int(math.log2(max(trained / MIN_STEPS, 1)))))
        return final, chosen, fits, run_batch

    # The screen's small steps misjudge a full batch (on a CPU a 1,024-image step of float32
    # activations no longer fits the caches): the chosen candidate is timed again at the
    # batch it will train with, and the choice made again with that rate, until the chosen
    # one is a confirmed one (a narrower one when the confirmed rate no longer fits).
    screened: dict[int, float] = {}
    early_ratio = screened_early_ratio(measured_list)
    while True:
        final, chosen, fits, run_batch = decide()
        index = next(i for i, m in enumerate(measured_list) if m is chosen.measured)
        confirm_n = min(run_batch, n_train)
        if index in screened or confirm_n <= cal_n:
            break
        screened[index] = measured_list[index].train_s_per_image
        full_x, full_y = sample(confirm_n)
        measured_list[index] = measure(
            chosen.measured.candidate,
            config,
            spec,
            full_x,
            full_y,
            eval_x,
            device,
            run_batch,
            clock,
            chosen.measured.precision,
            steps=CONFIRM_STEPS,
            warmup=CONFIRM_WARMUP,
            early_ratio=early_ratio,
        )
    torch.set_rng_state(rng_state)  # calibration leaves the run's randomness as it found it
    calibration_s = now() - cal_start
    batch = run_batch
    elapsed = now() - started
    amp, channels_last = chosen.measured.precision
    changes: dict[str, Any] = {
        "epochs": chosen.epochs,
        "batch_size": batch,
        "tta": tta,
        "amp": amp,
        "channels_last": channels_last,
    }
    lr_per_1024 = None
    if chosen.measured.candidate is not None:
        changes["model_options"] = {
            **(config.model_options or {}),
            "widths": list(chosen.measured.candidate.widths),
        }
        lr_per_1024 = chosen.measured.candidate.lr_per_1024
    values = {**asdict_config(config), **changes}
    if config.preset:
        values = derive_recipe_values(values, given, lr_per_1024)
    record = {
        "budget_s": budget_s,
        "elapsed_before_training_s": round(elapsed, 2),
        "calibration_s": round(calibration_s, 2),
        "calibration_images": cal_n,
        "confirmed_at_images": min(batch, n_train) if screened else None,
        "threads": threads,
        "train_images_all": n_train,
        "device": str(device),
        "rates": [
            {
                "widths": None if p.measured.candidate is None else p.measured.candidate.label,
                "precision": precision_label(*p.measured.precision),
                "train_img_per_s": round(1 / p.measured.train_s_per_image, 1),
                **({"screened_img_per_s": round(1 / screened[i], 1)} if i in screened else {}),
                **(
                    {"early_img_per_s": round(1 / p.measured.early_s_per_image, 1)}
                    if p.measured.early_s_per_image
                    else {}
                ),
                "eval_img_per_s": round(1 / max(p.measured.eval_s_per_image, 1e-12), 1),
                "epoch_s": round(p.epoch_s, 2),
                "epochs_fit": p.fit,
                **({"by_precision": by_precision[i]} if len(precisions) > 1 else {}),
            }
            for i, p in enumerate(final)
        ],
        "chosen": {
            "widths": None
            if chosen.measured.candidate is None
            else chosen.measured.candidate.label,
            "epochs": chosen.epochs,
            "batch_size": batch,
            "train_images": chosen.train_images or n_train,
            "tta": tta,
            "precision": precision_label(amp, channels_last),
            # what the guard (BudgetGuard) needs to re-plan the epochs as training goes
            "eval_s": round(chosen.eval_s, 2),
            "early_epochs": chosen.measured.early_epochs,
            "later_over_early": round(later_over_early(chosen.measured), 4),
        },
        "predicted_total_s": round(elapsed + chosen.predicted_s + TAIL_SECONDS, 1),
        "fits": fits,
    }
    values["budget_choice"] = record
    values["time_budget"] = budget_s
    out = config.replace(**values)
    if config.verbose:
        print(describe(record), flush=True)
        if not fits:
            print(
                f"note: --time-budget {format_duration(budget_s)} is shorter than the smallest "
                f"recipe here needs (predicted {format_duration(record['predicted_total_s'])})",
                file=sys.stderr,
                flush=True,
            )
    return out


def screened_early_ratio(screen: Sequence[Measured]) -> float | None:
    """A first epoch's cost over a later one's, for the confirmation: the median over every
    screened width. One width's screen alone put it at 1.09x to 1.46x in one run, where whole
    runs' epochs held 1.20x to 1.27x at every width (BENCHMARKS.md, time budget)."""
    ratios = [m.early_s_per_image / m.train_s_per_image for m in screen if m.early_s_per_image]
    return statistics.median(ratios) if ratios else None


def later_over_early(m: Measured) -> float:
    """A later epoch's cost over a first one's (1 for a net without dearer first epochs)."""
    if not m.early_epochs or not m.early_s_per_image:
        return 1.0
    return m.train_s_per_image / m.early_s_per_image


# ------------------------------------------------------------------ the guard
def epoch_costs(
    early_walls: Sequence[float], later_walls: Sequence[float], later_over_early: float
) -> tuple[float, float]:
    """The wall seconds of an early and of a later epoch, as the guard reckons them from
    the epochs run so far (at least one). A later epoch's cost is the median of the last
    three, the faster of two before that: one epoch slowed by a passing process (122 s among
    45-51 s ones) is not the machine's pace, and a cut made on it (12 -> 7 epochs, a run 20%
    short) is never given back."""
    ratio = later_over_early if later_over_early > 0 else 1.0
    if len(later_walls) >= 3:
        later = statistics.median(later_walls[-3:])
    elif later_walls:
        later = min(later_walls)
    else:
        later = early_walls[-1] * ratio
    early = early_walls[-1] if early_walls else later / ratio
    return early, later


def guard_epochs(
    done: int,
    planned: int,
    early_walls: Sequence[float],
    later_walls: Sequence[float],
    early_epochs: int,
    later_over_early: float,
    left_s: float,
    spare_s: float,
    most: int = MAX_EPOCHS,
) -> int:
    """The epochs the run should have, `done` trained and `planned` planned, from the wall
    seconds its epochs took (the first `early_epochs` apart: they cost more) and `left_s`
    seconds left for epochs. Fewer when the plan would overrun `left_s`; more when one
    more fits with `spare_s` to spare; else `planned` (the gap between the two keeps noise
    from moving the plan back and forth). `done` (stop now) only when no epoch fits.
    The epochs' costs are `epoch_costs`."""
    if not early_walls and not later_walls:
        return planned
    early, later = epoch_costs(early_walls, later_walls, later_over_early)

    def cost(epochs: int) -> float:
        return sum(early if e < early_epochs else later for e in range(done, epochs))

    fits = done
    while fits < max(planned, most) and cost(fits + 1) <= left_s - spare_s:
        fits += 1
    if cost(planned) > left_s:
        return min(fits, planned)
    return max(fits, planned)


class BudgetGuard(Callback):
    """--time-budget's clock while training. The calibration's rates forecast the epochs;
    a machine shared with other work, or one whose speed drifts, then runs them slower or
    faster (BENCHMARKS.md, time budget: ~20% between runs an hour apart on quiet cores).
    After each epoch this compares the plan with the epochs' own wall times and, where the
    plan would overrun the budget or leave an epoch's time unused, re-plans the run's length
    (`Trainer.replan`: the rest of the schedule squeezed or stretched, the change kept in
    config.json, so a rerun from it, or --resume, is exact and is never re-timed)."""

    def __init__(
        self,
        started: float,
        choice: dict[str, Any],
        now: Callable[[], float] = time.monotonic,
        verbose: int = 1,
    ) -> None:
        chosen = choice["chosen"]
        self.budget_s = float(choice["budget_s"])
        self.started, self.now, self.verbose = started, now, verbose
        self.eval_s = float(chosen.get("eval_s") or 0.0)
        self.early_epochs = int(chosen.get("early_epochs") or 0)
        self.later_over_early = float(chosen.get("later_over_early") or 1.0)
        self.early_walls: list[float] = []
        self.later_walls: list[float] = []
        self.last = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.last = self.now()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from . import distributed

        trainer = self.trainer
        now = self.now()
        (self.early_walls if epoch < self.early_epochs else self.later_walls).append(
            now - self.last
        )
        self.last = now
        done, planned = trainer.epoch, trainer.config.epochs
        if done >= planned or trainer.stop_training:
            return
        if len(self.later_walls) < 2 and planned - done > 1:
            # The later epochs' cost is read from two of them, not guessed from the dearer
            # first ones or one alone: an AVX2-held run's first later epoch took 37 s, the
            # next ones 31 s, and a re-plan on the first cut two epochs it then gave back.
            return
        left = self.budget_s - (now - self.started)
        epochs = guard_epochs(
            done,
            planned,
            self.early_walls,
            self.later_walls,
            self.early_epochs,
            self.later_over_early,
            left - TAIL_SECONDS - self.eval_s,
            SAFETY_SHARE * max(left, 0.0),
        )
        epochs = distributed.broadcast_object(epochs, trainer.dist)  # rank 0's clock decides
        if epochs == planned:
            return
        trainer.replan(epochs)
        if self.verbose and trainer.is_main:
            early, later = epoch_costs(self.early_walls, self.later_walls, self.later_over_early)
            pace = later if self.later_walls else early
            print(
                f"time budget: {planned} epochs -> {epochs} (epochs take {pace:.0f} s, "
                f"{format_duration(max(left, 0.0))} left)",
                flush=True,
            )


def guard_for(config: Any, given: set[str], started: float) -> BudgetGuard | None:
    """The guard of a run the calibration has just fitted (None where the epochs are the
    user's, or the budget affords less than one epoch: nothing then to re-plan)."""
    choice = config.budget_choice or {}
    chosen = choice.get("chosen") or {}
    n = choice.get("train_images_all")
    if "epochs" in given or (chosen.get("train_images") or n) != n:
        return None
    return BudgetGuard(started, choice, verbose=config.verbose)


def apply_choice(config: Any, data: Any) -> Any:
    """What a budget_choice sets beyond the config's fields, on its first run and on every
    rerun from config.json: torch's CPU threads and the training images (`training_subset`)."""
    choice = getattr(config, "budget_choice", None) or {}
    if choice.get("threads") and choice.get("device") == "cpu":
        torch.set_num_threads(int(choice["threads"]))
    return training_subset(config, data)


def training_subset(config: Any, data: Any) -> Any:
    """`data` with the training split cut to the images a budget short of one epoch chose
    (budget_choice's train_images), evenly spread over it: a class-sorted folder keeps
    every class. The same cut on every rerun from config.json."""
    choice = getattr(config, "budget_choice", None) or {}
    images = (choice.get("chosen") or {}).get("train_images")
    n = len(data.train.y)
    if not images or images >= n:
        return data
    pick = np.linspace(0, n - 1, int(images)).round().astype(np.int64)
    train = replace(data.train, x=data.train.x[pick], y=data.train.y[pick], fingerprint=None)
    if data.train.filenames is not None:
        train.filenames = [data.train.filenames[i] for i in pick]
    return replace(data, train=train)


def asdict_config(config: Any) -> dict[str, Any]:
    """A config's fields, shallow: in-memory arrays are not copied."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


def precision_label(amp: str, channels_last: str) -> str:
    """bf16, fp32 or fp16, with +NHWC for channels_last (as timed: on a CPU auto is fp32)."""
    base = {"off": "fp32", "auto": "auto"}.get(amp, amp)
    return base + ("+NHWC" if channels_last == "on" else "")


def describe(record: dict[str, Any]) -> str:
    """The choice and the measured rates in one line."""
    chosen = record["chosen"]
    scale = f"speednet {chosen['widths']}, " if chosen["widths"] else ""
    n = chosen.get("train_images")
    part = f" over {n} training images" if n and n < record.get("train_images_all", n + 1) else ""
    threads = f", {record['threads']} thread" if record.get("threads") == 1 else ""
    epochs = f"{chosen['epochs']} epoch" + ("s" if chosen["epochs"] != 1 else "")
    several = any("by_precision" in r for r in record["rates"])
    rates = ", ".join(
        (f"{r['widths']} " if r["widths"] else "")
        + f"{r['train_img_per_s']:.0f} img/s"
        + (f" {r['precision']}" if several else "")
        + f" ({r['epochs_fit']} ep fit)"
        for r in record["rates"]
    )
    precision = f", {chosen['precision']}" if several and chosen.get("precision") else ""
    return (
        f"time budget {format_duration(record['budget_s'])}: {scale}{epochs}{part}{precision}, "
        f"batch {chosen['batch_size']}; predicted {format_duration(record['predicted_total_s'])} "
        f"(calibration {record['calibration_s']:.1f} s on {record['device']}{threads}: {rates})"
    )
