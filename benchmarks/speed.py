"""The speed presets on the JPEG CIFAR-10: test accuracy and wall time, fixed or budgeted.

    python benchmarks/speed.py [--runs N] [--mode auto|cpu|gpu] [--preset NAME] [--data DIR]
    python benchmarks/speed.py --time-budget 10m --runs 1 --grid 16:19 24:10:fp32 ...

CPU mode (no CUDA): runs the whole CLI command `augtrain train --preset speed` (which
resolves to speed-cpu there) N times (default 3), each as its own process, and reports
the mean and spread of the test accuracy (with the preset's TTA, and without) and of the
whole command's wall time, start to metrics.json. Set AUGTRAIN_CACHE to a warm cache.

GPU mode (CUDA present): one warm-up run, then N runs (default 10) of augtrain's speed
preset in this process, reporting test accuracy and two times per run, CUDA-synchronised:
  fit_s     the training loop alone (Trainer.fit: every step, lookahead, per-epoch checkpoints)
  train_s   from the train() call to the end of training: data from the cache to the GPU,
            input statistics, model, patch-whitening init, and the loop; comparable to
            airbench's train_s, which likewise times its train() call without evaluation
and one or more whole CLI commands (`--cli-runs`, default 1) for the end-to-end wall time.
`--mode gpu` without CUDA runs the same in-process measurement on the CPU (unsynchronised),
for dry runs of that path.
Run it beside ../shared/bench/peer_airbench.py in the same device call:

    python3 .peer/peer_airbench.py --data .peer/cifar10-jpeg --variant 94 --runs 10
    CIFAR_JPEG=.peer/cifar10-jpeg python3 benchmarks/speed.py --runs 10

Budget mode (`--time-budget 3m 10m ...`, any device): the whole command
`augtrain train --preset PRESET --time-budget T` N times per budget, each its own process,
with a warm cache (AUGTRAIN_CACHE as set) or with `--cold` a fresh empty cache per run (the
JPEGs decoded inside the budget). Per run: the wall time against the budget (the check:
within T + 3%), the calibration's predicted total against it, the chosen scale and rates
(config.json's budget_choice), and the test accuracy.

Grid mode (`--grid W:E[:PRECISION] ...`, e.g. `--grid 16:10 24:10:fp32 32:13`): fixed
speednet recipes (width W/4W/4W, E epochs; PRECISION bf16 or fp32, both NHWC, default the
preset's) as whole commands, for the best-choice check: the budget's pick against the best
of the hand-run grid at the same wall time. Given with --time-budget, the budgeted runs
come first and the grid follows in the same invocation, each with its own record.

Records go through _common.record (`--json PATH`, default .bench/speed_*.json), rewritten
after every run, so a run cut short by a time limit keeps the runs it finished
(benchmarks/gpu_check.py reads them).

The last lines are a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import CIFAR_JPEG, machine, record, run_cli, today


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def cpu_mode(args: argparse.Namespace, runs_dir: Path) -> None:
    rows = []
    for i in range(args.runs):
        name = f"cpu{i}"
        seed = args.first_seed + i
        cmd = ["train", "--data", args.data, "--preset", args.preset, "--seed", str(seed)]
        cmd += ["--runs-dir", str(runs_dir), "--name", name, "--verbose", "2", *args.extra]
        seconds, out = run_cli(cmd)
        print(out, flush=True)
        metrics, config, _ = finished(runs_dir / name)
        rows.append((metrics["accuracy"], metrics.get("accuracy_without_tta"), seconds))
        keys = ("accuracy", "accuracy_without_tta", "wall_s")
        record(
            "speed_cpu",
            {"preset": args.preset, "runs": [dict(zip(keys, r)) for r in rows]},
            args.json,
        )
        print(
            f"run {i}: acc={metrics['accuracy']:.4f} "
            f"(without TTA {metrics.get('accuracy_without_tta', float('nan')):.4f}) "
            f"wall_s={seconds:.1f}",
            flush=True,
        )
    acc, acc_sd = spread([r[0] for r in rows])
    plain = [r[1] for r in rows if r[1] is not None]
    wall, wall_sd = spread([r[2] for r in rows])
    recipe = (
        f"{config['preset']}: speednet {config['model_options'].get('widths')}, "
        f"{config['epochs']} epochs, batch {config['batch_size']}, amp {config['amp']}"
    )
    print(f"\n{today()} - {machine()} - {recipe}, JPEG CIFAR-10, {args.runs} runs")
    print("| recipe | test accuracy (TTA) | without TTA | whole command |")
    print("|---|---|---|---|")
    plain_s = f"{statistics.mean(plain):.4f}" if plain else "-"
    print(
        f"| augtrain --preset {args.preset} ({config['preset']}) | {acc:.4f} ± {acc_sd:.4f} "
        f"| {plain_s} | {wall / 60:.1f} ± {wall_sd / 60:.1f} min |"
    )


ISA_HOLDS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "NUMBA_CPU_NAME")


def budget_mode(args: argparse.Namespace, runs_dir: Path) -> None:
    from augtrain.training.budget import format_duration
    from augtrain.training.config import parse_duration

    report = {"preset": args.preset, "runs": [], "cold_cache": bool(args.cold)}
    for text in args.time_budget:
        budget = parse_duration(text)
        for i in range(args.runs):
            name = f"budget-{text}-{i}"
            env = {}
            if args.cold:
                env["AUGTRAIN_CACHE"] = tempfile.mkdtemp(prefix="cold-cache-")
            seed = args.first_seed + i
            cmd = ["train", "--data", args.data, "--preset", args.preset, "--seed", str(seed)]
            cmd += ["--time-budget", text, "--runs-dir", str(runs_dir), "--name", name]
            cmd += ["--verbose", "1", *args.extra]
            seconds, stdout = run_cli(cmd, env)
            choice_line = next((x for x in stdout.splitlines() if x.startswith("time budget")), "")
            metrics, config, epoch_seconds = finished(runs_dir / name)
            choice = config.get("budget_choice") or {}
            row = {
                "budget": text,
                "budget_s": budget,
                "seed": seed,
                "wall_s": round(seconds, 1),
                "over_budget": round(seconds / budget - 1, 4),
                "predicted_total_s": choice.get("predicted_total_s"),
                "calibration_s": choice.get("calibration_s"),
                "elapsed_before_training_s": choice.get("elapsed_before_training_s"),
                "chosen": choice.get("chosen"),
                # the guard's re-plans (budget.BudgetGuard): the epochs trained in the end
                "trained_epochs": config["epochs"],
                "replans": config.get("replans") or [],
                "guard_lines": [x for x in stdout.splitlines() if " epochs -> " in x],
                "rates": choice.get("rates"),
                "accuracy": metrics["accuracy"],
                "accuracy_without_tta": metrics.get("accuracy_without_tta"),
                "epoch_seconds": epoch_seconds,
                "choice_line": choice_line,
                "load_average": os.getloadavg()[0],
                # benchmarks/cpu_class.sh's imitation of an AVX2-only CPU, when it is set
                "isa_held": {k: os.environ[k] for k in ISA_HOLDS if k in os.environ},
            }
            report["runs"].append(row)
            record("speed_budget", report, args.json)
            print(
                f"budget {text} run {i}: wall {seconds:.1f} s ({row['over_budget']:+.1%}), "
                f"predicted {row['predicted_total_s']} s, acc {row['accuracy']:.4f}, "
                f"chosen {row['chosen']}\n  {choice_line}",
                flush=True,
            )
    print(f"\n{today()} - {machine()} - --preset {args.preset}, JPEG CIFAR-10")
    print("| budget | run | chosen | predicted | whole command | vs budget | accuracy (TTA) |")
    print("|---|---|---|---|---|---|---|")
    for r in report["runs"]:
        c = r["chosen"] or {}
        print(
            f"| {format_duration(r['budget_s'])} | {r['seed']} | {c.get('widths')} x "
            f"{c.get('epochs')} ep, batch {c.get('batch_size')} | {r['predicted_total_s']} s "
            f"| {r['wall_s']} s | {r['over_budget']:+.1%} | {r['accuracy']:.4f} |"
        )


def finished(run: Path) -> tuple[dict, dict, list[float]]:
    """A finished run folder's metrics.json, config.json's config and each epoch's seconds
    (history.csv)."""
    import csv

    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())["config"]
    with open(run / "history.csv", newline="") as f:
        seconds = [float(r["seconds"]) for r in csv.DictReader(f) if r.get("seconds")]
    return metrics, config, seconds


# --grid's precisions: the calibration's two CPU paths (budget.precisions_for)
GRID_PRECISIONS = {
    "bf16": ["--amp", "bf16", "--channels-last", "on"],
    "fp32": ["--amp", "off", "--channels-last", "on"],
}


def grid_mode(args: argparse.Namespace, runs_dir: Path) -> None:
    report: dict = {"runs": []}
    path = args.grid_json or (args.json and str(Path(args.json).with_suffix("")) + "_grid.json")
    for item in args.grid:
        width, epochs, *precision = item.split(":")
        widths = f"[{width},{4 * int(width)},{4 * int(width)}]"
        name = f"grid-{item.replace(':', '-')}"
        cmd = ["train", "--data", args.data, "--preset", "speed-cpu", "--epochs", epochs]
        cmd += ["--model-option", f"widths={widths}", "--runs-dir", str(runs_dir)]
        cmd += [*(GRID_PRECISIONS[precision[0]] if precision else [])]
        cmd += ["--name", name, "--verbose", "2", *args.extra]
        seconds, _ = run_cli(cmd)
        metrics, config, epoch_seconds = finished(runs_dir / name)
        row = {"width": int(width), "epochs": int(epochs), "wall_s": round(seconds, 1)}
        row["amp"], row["channels_last"] = config["amp"], config["channels_last"]
        row["accuracy"] = metrics["accuracy"]
        row["accuracy_without_tta"] = metrics.get("accuracy_without_tta")
        row["epoch_seconds"] = epoch_seconds
        row["load_average"] = os.getloadavg()[0]
        report["runs"].append(row)
        record("speed_grid", report, path)
        print(
            f"grid {widths} x {epochs} {row['amp']}: {seconds:.1f} s, acc {metrics['accuracy']:.4f}",
            flush=True,
        )
    print(f"\n{today()} - {machine()} - fixed speednet recipes, JPEG CIFAR-10")
    print("| widths | epochs | precision | whole command | accuracy (TTA) |")
    print("|---|---|---|---|---|")
    for r in report["runs"]:
        print(
            f"| {r['width']}/{4 * r['width']}/{4 * r['width']} | {r['epochs']} | {r['amp']} "
            f"| {r['wall_s']} s | {r['accuracy']:.4f} |"
        )


def gpu_mode(args: argparse.Namespace, runs_dir: Path) -> None:
    import torch

    import augtrain
    from augtrain.training.callbacks import Callback

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    class Timer(Callback):
        def on_train_begin(self, logs=None):
            sync()
            self.begin = time.perf_counter()

        def on_train_end(self, logs=None):
            sync()
            self.end = time.perf_counter()

    def one(name: str, seed: int, **kw):
        timer = Timer()
        sync()
        t0 = time.perf_counter()
        run = augtrain.train(
            data=args.data,
            preset=args.preset,
            seed=seed,
            runs_dir=str(runs_dir),
            name=name,
            verbose=0,
            callbacks=[timer],
            **kw,
        )
        return run, timer.end - timer.begin, timer.end - t0

    extra = json.loads(args.api_overrides) if args.api_overrides else {}
    report = {"preset": args.preset, "data": str(args.data)}
    report.update(overrides=extra, runs=[], cli_runs=[])

    def save() -> None:
        record("speed_gpu", report, args.json)

    if not args.no_warmup:
        one("warmup", 1000, **extra)  # CUDA context, cuDNN autotuning, (--compile) compilation
    rows = []
    for i in range(args.runs):
        run, fit_s, train_s = one(f"gpu{i}", i, **extra)
        rows.append(
            (run.metrics["accuracy"], run.metrics.get("accuracy_without_tta"), fit_s, train_s)
        )
        print(
            f"run {i}: acc={rows[-1][0]:.4f} plain={rows[-1][1]:.4f} "
            f"fit_s={fit_s:.2f} train_s={train_s:.2f}",
            flush=True,
        )
        report["resolved_preset"] = run.config.preset
        keys = ("accuracy", "accuracy_without_tta", "fit_s", "train_s")
        report["runs"].append(dict(zip(keys, rows[-1])))
        save()
    cli = []
    for i in range(args.cli_runs):
        cmd = ["train", "--data", args.data, "--preset", args.preset, "--seed", str(100 + i)]
        cmd += ["--runs-dir", str(runs_dir), "--name", f"cli{i}", "--verbose", "0", *args.extra]
        seconds, _ = run_cli(cmd)
        cli.append(seconds)
        print(f"cli run {i}: wall_s={seconds:.1f}", flush=True)
        report["cli_runs"].append({"wall_s": seconds})
        save()
    acc, acc_sd = spread([r[0] for r in rows])
    fit, fit_sd = spread([r[2] for r in rows])
    tr, tr_sd = spread([r[3] for r in rows])
    plain = statistics.mean(r[1] for r in rows)
    print(
        f"augtrain-{args.preset} runs={args.runs} acc_mean={acc:.4f} acc_std={acc_sd:.4f} "
        f"plain_mean={plain:.4f} fit_s_mean={fit:.2f} fit_s_std={fit_sd:.2f} "
        f"train_s_mean={tr:.2f} train_s_std={tr_sd:.2f} "
        f"cli_s_mean={statistics.mean(cli) if cli else float('nan'):.1f}"
    )
    print(f"\n{today()} - {machine()} - JPEG CIFAR-10, {args.runs} runs after a warm-up")
    print("| recipe | test accuracy (TTA) | without TTA | train_s | fit_s | whole command |")
    print("|---|---|---|---|---|---|")
    cli_s = f"{statistics.mean(cli):.1f} s" if cli else "-"
    print(
        f"| augtrain --preset {args.preset} | {acc:.4f} ± {acc_sd:.4f} | {plain:.4f} "
        f"| {tr:.2f} ± {tr_sd:.2f} s | {fit:.2f} ± {fit_sd:.2f} s | {cli_s} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["auto", "cpu", "gpu"], default="auto")
    ap.add_argument("--runs", type=int, help="default: 3 on the CPU, 10 on a GPU")
    ap.add_argument("--cli-runs", type=int, default=1, help="GPU mode: whole-command runs")
    ap.add_argument("--preset", default="speed")
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--api-overrides", help="GPU mode: JSON of augtrain.train keyword overrides")
    ap.add_argument("--json", help="the record (default .bench/speed_MODE.json)")
    ap.add_argument("--grid-json", help="with --time-budget and --grid: the grid's record")
    ap.add_argument("--no-warmup", action="store_true", help="GPU mode: time the first run too")
    ap.add_argument(
        "--time-budget", nargs="+", metavar="T", help="budget mode: these budgets (3m 10m 30m)"
    )
    ap.add_argument("--first-seed", type=int, default=0, help="CPU and budget modes: run i's seed")
    ap.add_argument("--cold", action="store_true", help="budget mode: a fresh cache per run")
    ap.add_argument(
        "--grid", nargs="+", metavar="W:E[:P]", help="grid mode: fixed (width, epochs, bf16|fp32)"
    )
    ap.add_argument("extra", nargs="*", help="more `augtrain train` flags (after --)")
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.is_available() if args.mode == "auto" else args.mode == "gpu"
    args.runs = args.runs or (3 if args.time_budget or not gpu else 10)
    if "AUGTRAIN_CACHE" not in os.environ:
        print("note: AUGTRAIN_CACHE is not set; the default cache is used", file=sys.stderr)
    runs_dir = Path(tempfile.mkdtemp(prefix="speed-runs-"))
    if args.time_budget:
        budget_mode(args, runs_dir)
    if args.grid:
        grid_mode(args, runs_dir)
    if args.time_budget or args.grid:
        return
    (gpu_mode if gpu else cpu_mode)(args, runs_dir)


if __name__ == "__main__":
    main()
