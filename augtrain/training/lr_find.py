"""The learning-rate range test (Smith, "Cyclical learning rates", 2015; fastai's lr_find).

    result = augtrain.lr_find(data="cifar10", model="cnn4")   # train()'s keywords
    result.suggestion, result.plot(), result.save("out/")      # lr_find.png, lr_find.csv

The configured model trains on the configured data and augmentation, one optimizer step
per batch (of batch_size x accumulate, as training's), while the learning rate rises
exponentially from `start_lr` (1e-6) to `end_lr` (10) over `steps` steps (40 a decade,
280; fastai's 100 from 1e-7 take 12 a decade, too few for a model trained from scratch,
whose loss then only starts to fall where it already diverges). The test stops early once
fastai's running average of the loss (beta 0.98, bias-corrected) exceeds 4 x its best (it
diverged). Afterwards the model is as it was: weights, batch-norm statistics,
requires_grad flags, train/eval mode and the random-number generators are put back, and
the test's optimizer is thrown away; nothing is written but the outputs asked for.

The curve that is plotted and judged is the loss smoothed without lag (`centred`: a
Gaussian over log lr), not the running average: that lags by some 50 steps, so its lowest
point and its steepest fall sit at the blow-up. The suggestion ("minimum/3", the default)
is a third of the rate at the smoothed loss's lowest point: the lowest point is the
largest rate that still makes progress, and a constant rate trains best some way below
it (Smith, 2015, puts a cycle's lowest rate at a third to a quarter of its largest). Unlike fastai's "valley"
(the middle of the longest stretch over which the loss keeps falling) it does not depend
on where the fall starts: a model trained from scratch falls over two decades and more,
fastest where it first learns, and valley and "steepest" (where the smoothed loss falls
fastest against log lr) then suggest the slow start of the fall. They and "minimum/10"
are there too (`rule=`, `--rule`; `result.other_rules()` gives them on the same curve).
BENCHMARKS.md ("Learning-rate finder against a grid of fixed rates") trains each rule's
suggestion against a grid of rates.

`augtrain train --lr auto` runs this before training (`resolve_auto_lr`) and trains with
the suggestion, which config.json records as a number.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..augment import epoch_order
from ..errors import AugtrainError
from ..io import make_folder, write_text
from .config import TrainConfig, check_number

START_LR = 1e-6
END_LR = 10.0
# the default resolution: a from-scratch model needs this many steps a decade for its loss to
# follow the rate (fastai's 100 steps over 8 decades mostly measure how fast it first learns)
STEPS_PER_DECADE = 40
MIN_DEFAULT_STEPS = 20
MAX_DEFAULT_PASSES = 8  # the default never passes over the training data more often
SMOOTHING = 0.98  # fastai's beta, for the running average that decides when to stop
DIVERGENCE = 4.0  # stop once the running average exceeds this multiple of its best
SMOOTHING_DECADES = 0.1  # the centred smoothing's width (a Gaussian's sigma, in log10 lr)
RULES = ("minimum/3", "valley", "steepest", "minimum/10")
RULE = "minimum/3"
PNG, CSV = "lr_find.png", "lr_find.csv"


@dataclass
class LRFinderResult:
    """The range test's curve and its suggestion; in a notebook it shows as its plot."""

    lrs: list[float]  # the rate of each step taken
    losses: list[float]  # each step's training loss
    smoothed: list[float]  # their centred smoothing (`centred`: what is plotted and judged)
    suggestion: float
    steps: int  # steps asked for; len(lrs) is fewer when it diverged
    start_lr: float
    end_lr: float
    diverged: bool
    rule: str = RULE
    running: list[float] = field(default_factory=list)  # fastai's running average: the stop

    @property
    def suggestion_index(self) -> int:
        """The step whose rate is nearest the suggestion (minimum/10 lies between steps)."""
        distance = [abs(math.log(lr / self.suggestion)) for lr in self.lrs]
        return int(np.argmin(distance))

    def other_rules(self) -> dict[str, float]:
        """What the other rules suggest on the same curve, for comparison."""
        return {r: suggest(self.lrs, self.smoothed, r) for r in RULES if r != self.rule}

    def describe(self) -> str:
        """The one line the CLI and `train --lr auto` print."""
        stop = f", stopped at step {len(self.lrs)} (diverged)" if self.diverged else ""
        return (
            f"suggested lr {self.suggestion:.3g} ({self.rule} rule; {self.steps} steps from "
            f"{self.start_lr:g} to {self.end_lr:g}{stop})"
        )

    def plot(self) -> Any:
        """The smoothed loss against the learning rate (log axis), the suggestion marked:
        a matplotlib Figure (shown inline when a notebook cell ends with it)."""
        from ..report.plots import new_figure

        fig = new_figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot(self.lrs, self.losses, color="#c7c7c7", lw=0.8, label="loss")
        ax.plot(self.lrs, self.smoothed, color="#1f77b4", label="smoothed loss")
        i = self.suggestion_index
        ax.plot(
            [self.suggestion],
            [self.smoothed[i]],
            "o",
            color="#d62728",
            label=f"suggestion {self.suggestion:.3g} ({self.rule})",
        )
        ax.axvline(self.suggestion, color="#d62728", lw=0.8, ls="--")
        if self.rule.startswith("minimum/") and self.lrs:  # the point it is a fraction of
            low = lowest(self.lrs, self.smoothed)
            ax.plot([self.lrs[low]], [self.smoothed[low]], "x", color="#d62728", label="lowest")
        ax.set_xscale("log")
        # the curve's interesting part: the diverging tail can be orders of magnitude higher
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:  # everything up to the lowest point, and a little of the climb after it
            low = min(finite)
            high = max(finite[: finite.index(low) + 1])
            pad = 0.1 * max(high - low, 1e-3)
            ax.set_ylim(low - pad, high + 2 * pad)
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss")
        ax.set_title("learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        fig.tight_layout()
        return fig

    def _repr_png_(self) -> bytes:
        from ..report.plots import png_bytes

        return png_bytes(self.plot())

    def csv_text(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["step", "lr", "loss", "smoothed_loss"])
        for i, (lr, loss, smooth) in enumerate(zip(self.lrs, self.losses, self.smoothed)):
            writer.writerow([i, f"{lr:.6g}", f"{loss:.6g}", f"{smooth:.6g}"])
        return buf.getvalue()

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write lr_find.png and lr_find.csv (step, lr, loss, smoothed_loss) into `folder`,
        atomically; returns their paths."""
        from ..report.plots import save

        folder = make_folder(Path(folder).expanduser())
        png, table = folder / PNG, folder / CSV
        save(self.plot(), png)
        write_text(table, self.csv_text())
        return png, table


def check_range(steps: int | None, start_lr: float, end_lr: float, rule: str = RULE) -> None:
    """One-line errors for a range test that cannot run."""
    if rule not in RULES:
        raise AugtrainError(f"--rule {rule!r}: choose from {', '.join(RULES)}")
    if steps is not None:
        check_number("steps", steps, 2, integer=True)
    check_number("start_lr", start_lr, 0.0, low_open=True)
    check_number("end_lr", end_lr, 0.0, low_open=True)
    if end_lr <= start_lr:
        raise AugtrainError(
            f"--end-lr {end_lr:g} must be above --start-lr {start_lr:g}: the rate rises"
        )


def default_steps(steps_per_pass: int, start_lr: float = START_LR, end_lr: float = END_LR) -> int:
    """STEPS_PER_DECADE steps for each decade from start_lr to end_lr (280 by default; the
    test usually stops well before, at the divergence), but at most MAX_DEFAULT_PASSES passes
    over a small training set (a test that repeats a few dozen images many times measures
    their memorisation), and never fewer than MIN_DEFAULT_STEPS (fewer points give no curve
    to judge)."""
    wanted = round(STEPS_PER_DECADE * math.log10(end_lr / start_lr))
    return max(MIN_DEFAULT_STEPS, min(wanted, MAX_DEFAULT_PASSES * steps_per_pass))


def lr_at(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    """Step `step` of `steps`: start_lr at the first, end_lr at the last, exponential between."""
    return start_lr * (end_lr / start_lr) ** (step / max(steps - 1, 1))


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """fastai's smoothed loss: a moving average debiased by 1 - beta^(i + 1). It lags the
    loss by about 1 / (1 - beta) steps, so the test stops on it but the rules judge
    `centred`."""
    average, out = 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** (i + 1)))
    return out


def centred(
    lrs: list[float], losses: list[float], cap: float, width: float = SMOOTHING_DECADES
) -> list[float]:
    """The loss smoothed without lag: at each rate, the mean of every step's loss weighted by
    a Gaussian in log10(lr) of sigma `width` (whatever the test's steps per decade). A
    running average's lowest point sits late, where the loss already climbs back; this one's
    sits where the loss is lowest. Losses above `cap` (the divergence threshold) and
    non-finite ones count as `cap`, so a blow-up raises its neighbours without swamping
    them."""
    x = np.log10(np.asarray(lrs, dtype=np.float64))
    y = np.asarray(losses, dtype=np.float64)
    if not math.isfinite(cap):  # nothing finite to stop on: the largest finite loss
        cap = float(np.max(y[np.isfinite(y)], initial=0.0))
    y = np.where(np.isfinite(y), np.minimum(y, cap), cap)
    out: list[float] = []
    for rows in np.array_split(x, max(1, len(x) // 1024)):  # a block of rows at a time
        weights = np.exp(-0.5 * ((rows[:, None] - x[None, :]) / width) ** 2)
        out.extend(float(v) for v in weights @ y / weights.sum(axis=1))
    return out


def valley(losses: list[float]) -> int:
    """fastai's valley rule: the index halfway along the longest stretch of steps whose
    losses keep falling (a longest decreasing subsequence, measured from where it starts)."""
    n = len(losses)
    longest = [1] * n  # longest falling run ending at i
    max_start, max_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[max_end] < longest[i]:
                max_end = i
                max_start = max_end - longest[max_end]
    sections = (max_end - max_start) / 3
    return max(0, max_start + int(sections) + int(sections / 2))


def judged_range(n: int) -> tuple[int, int]:
    """Which of a curve's n points a rule judges, as fastai: without its first tenth (the
    lowest rates, where nothing trains) and its last 5 points (where it diverges); a short
    curve whole. Returns (start, end), end excluded."""
    skip_start, skip_end = n // 10, 5
    if n - skip_start - skip_end < 5:
        skip_start, skip_end = 0, 0
    return skip_start, n - skip_end


def judged(lrs: list[float], smoothed: list[float]) -> tuple[list[float], list[float]]:
    """The part of the curve a rule judges (`judged_range`)."""
    start, end = judged_range(len(lrs))
    return lrs[start:end], smoothed[start:end]


def lowest(lrs: list[float], smoothed: list[float]) -> int:
    """The index of the judged curve's lowest point (the minimum rules' reference)."""
    start, end = judged_range(len(lrs))
    finite = [v if math.isfinite(v) else math.inf for v in smoothed[start:end]]
    return start + int(np.argmin(finite))


def steepest(lrs: list[float], losses: list[float]) -> int:
    """The index where the loss falls fastest against log lr (the left end of that step;
    fastai's steep rule)."""
    if len(lrs) < 2:
        return 0
    slopes = np.diff(np.asarray(losses, dtype=np.float64)) / np.diff(np.log(lrs))
    slopes[~np.isfinite(slopes)] = np.inf
    return int(np.argmin(slopes))


def suggest(lrs: list[float], smoothed: list[float], rule: str = RULE) -> float:
    """The rate `rule` suggests on the judged part of the curve: minimum/3 and minimum/10 a
    third and a tenth of the rate at the curve's lowest point, valley and steepest as
    fastai's."""
    if rule.startswith("minimum/"):
        return lrs[lowest(lrs, smoothed)] / float(rule.partition("/")[2])
    window_lrs, window = judged(lrs, smoothed)
    finite = [v if math.isfinite(v) else math.inf for v in window]
    if rule == "valley":
        return window_lrs[valley(finite)]
    return window_lrs[steepest(window_lrs, finite)]


def range_test(
    job: Any,
    steps: int | None = None,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    verbose: int | None = None,
    rule: str = RULE,
) -> LRFinderResult:
    """Run the range test on a prepared run (`job.prepare_job`) in this process, and put
    the model back as it was."""
    from .loop import Trainer

    check_range(steps, start_lr, end_lr, rule)
    config: TrainConfig = job.config
    verbose = config.verbose if verbose is None else verbose
    model, split = job.classifier, job.train_split
    n, batch = len(split), config.batch_size
    step_size = batch * config.accumulate
    per_pass = max(1, n // step_size)  # full steps only (fastai drops the last batch)
    steps = default_steps(per_pass, start_lr, end_lr) if steps is None else steps
    # The test's own Trainer on the same model, groups and pipeline: its optimizer is thrown
    # away after; nothing is averaged, scheduled or compiled, no run folder is involved.
    from .resolved import make_pipeline

    test_config = config.replace(
        lr=start_lr,
        ema=None,
        lookahead=False,
        compile=False,
        schedule="constant",
        warmup_epochs=0.0,
    )
    from .lookahead import Lookahead

    # transfer learning's frozen base and the net's epoch hook apply; lookahead's averaging
    # would mix the rates of several steps into each point of the curve
    setup = [cb for cb in job.setup_callbacks if not isinstance(cb, Lookahead)]
    saved = Snapshot.of(model)
    try:
        trainer = Trainer(
            model,
            split,
            None,
            test_config,
            make_pipeline(test_config),
            setup,
            job.device,
            param_groups=job.groups,
            num_classes=job.data.num_classes,
        )
        lrs: list[float] = []
        losses: list[float] = []
        running: list[float] = []
        average, best, diverged = 0.0, math.inf, False
        bar = _bar(steps, verbose)
        trainer.callbacks.train_begin({})
        order, epoch = None, -1
        model.train()
        for i in range(steps):
            pass_number, b = divmod(i, per_pass)
            if pass_number != epoch:
                epoch = pass_number
                order = epoch_order(config.seed, epoch, n)
                trainer.callbacks.epoch_begin(epoch, {})
                model.train()
            index = order[b * step_size : (b + 1) * step_size]
            micro = [index[k : k + batch].to(job.device) for k in range(0, len(index), batch)]
            lr = lr_at(i, steps, start_lr, end_lr)
            trainer.callbacks.batch_begin(b, {"batch": b, "size": len(index)})
            trainer.set_current_lr(lr)
            loss, *_ = trainer.train_step(micro, epoch, len(index), batch=b)
            value = float(loss.detach())
            lrs.append(lr)
            losses.append(value)
            average = SMOOTHING * average + (1 - SMOOTHING) * value  # as `smooth`
            running.append(average / (1 - SMOOTHING ** len(losses)))
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"lr {lr:.2e} loss {running[-1]:.4f}")
            best = min(best, running[-1])
            if not math.isfinite(running[-1]) or running[-1] > DIVERGENCE * best:
                diverged = True
                break
        if bar is not None:
            bar.close()
    finally:
        saved.restore(model)
    smoothed = centred(lrs, losses, DIVERGENCE * best)
    suggestion = suggest(lrs, smoothed, rule)
    return LRFinderResult(
        lrs, losses, smoothed, suggestion, steps, start_lr, end_lr, diverged, rule, running
    )


def _bar(steps: int, verbose: int) -> Any:
    if verbose != 1:
        return None
    from ..progress import progress_bar

    bar = progress_bar(steps, "lr-find", "step")
    return None if bar.disable else bar


def random_state() -> tuple[Any, ...]:
    """torch's (CPU and CUDA) and numpy's global generators, to put back after."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return torch.get_rng_state(), cuda, np.random.get_state()


def set_random_state(saved: tuple[Any, ...]) -> None:
    cpu, cuda, numpy_state = saved
    torch.set_rng_state(cpu)
    if cuda:
        torch.cuda.set_rng_state_all(cuda)
    np.random.set_state(numpy_state)


@dataclass
class Snapshot:
    """What the range test changes in a model, to put back exactly."""

    state: dict[str, torch.Tensor]
    requires_grad: list[bool]
    training: list[bool]
    rng: tuple[Any, ...]

    @classmethod
    def of(cls, model: torch.nn.Module) -> Snapshot:
        return cls(
            {k: v.detach().clone() for k, v in model.state_dict().items()},
            [p.requires_grad for p in model.parameters()],
            [m.training for m in model.modules()],
            random_state(),  # the test seeds dropout per step, as training does
        )

    def restore(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.state)
        for p, flag in zip(model.parameters(), self.requires_grad):
            p.requires_grad_(flag)
            p.grad = None  # the test's last gradients are no part of the model
        for m, flag in zip(model.modules(), self.training):
            m.training = flag
        set_random_state(self.rng)


def lr_find(
    config: TrainConfig | None = None,
    network: torch.nn.Module | None = None,
    network_factory: str | Any | None = None,
    steps: int | None = None,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    rule: str = RULE,
    **overrides: Any,
) -> LRFinderResult:
    """The learning-rate range test on the model and data `augtrain.train` would train
    with the same arguments (see `TrainConfig`): the rate rises exponentially from
    `start_lr` to `end_lr` over `steps` optimizer steps (40 a decade, fewer on a small
    training set), stopping early when the loss diverges. Returns the curve and a
    suggested rate (`rule`: minimum/3, valley, steepest or minimum/10; see the module's
    docstring); `network=` is left with the weights it came with, and nothing is written
    (`result.save(folder)` writes lr_find.png and lr_find.csv)."""
    from ..device import DevicePolicy, resolve_device
    from .job import prepare_job, settle_config

    check_range(steps, start_lr, end_lr, rule)
    overrides.pop("lr", None)  # the test sets the rate itself: lr="auto" or a number is moot
    config, _, _, _, given = settle_config(config, None, network, network_factory, overrides)
    config = config.replace(lr=None) if config.lr == "auto" else config
    from .distributed import under_torchrun

    if under_torchrun():
        raise AugtrainError(
            "lr-find runs in one process: start it without torchrun or --gpus "
            "(`augtrain train --gpus N --lr auto` runs it on the first process for you)"
        )
    if config.head == "logistic" or config.features:
        raise AugtrainError("lr-find trains a network; --head logistic has no learning rate")
    device = resolve_device(config.device)
    precision = DevicePolicy.resolve(device, config.amp, config.channels_last)
    callers = random_state()  # the set-up seeds the generators as train() does: not the caller's
    try:
        job = prepare_job(
            config, device, precision, None, network, network_factory, None, None, False,
            given=given,  # a --label-mode given decides how a --labels CSV is read
        )  # fmt: skip
        return range_test(job, steps, start_lr, end_lr, rule=rule)
    finally:
        set_random_state(callers)


def resolve_auto_lr(job: Any) -> TrainConfig:
    """`--lr auto`: the range test's suggestion as the run's lr. Under torchrun the first
    process runs the test alone (the same effective batch, as accumulated micro-batches of
    one rank's share) and every rank trains with its number."""
    from . import distributed

    dist_info = job.dist_info
    if dist_info.enabled and job.config.sync_bn:  # SyncBatchNorm would wait for the others
        raise AugtrainError(
            "--lr auto with --sync-bn on several processes: run `augtrain lr-find` first "
            "(one process) and pass its number as --lr"
        )
    value: Any = None
    if dist_info.is_main:
        test_job = job
        if dist_info.enabled:
            world = dist_info.world_size
            share = max(1, job.config.batch_size // world)
            test_job = _with_config(
                job,
                job.config.replace(batch_size=share, accumulate=job.config.accumulate * world),
            )
        try:
            value = range_test(test_job, verbose=job.config.verbose)
        except AugtrainError as e:  # every rank raises it, not only the first
            value = e
    value = distributed.broadcast_object(value, dist_info)
    if isinstance(value, AugtrainError):
        raise value
    result: LRFinderResult = value
    job.lr_finder = result
    if dist_info.is_main and job.config.verbose:
        print(f"--lr auto: {result.describe()}", file=sys.stdout, flush=True)
    return job.config.replace(lr=float(result.suggestion))


def _with_config(job: Any, config: TrainConfig) -> Any:
    import dataclasses

    return dataclasses.replace(job, config=config)
