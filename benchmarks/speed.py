"""Issue 8: the speed presets on the JPEG CIFAR-10.

    python benchmarks/speed.py [--runs N] [--mode auto|cpu|gpu] [--preset NAME] [--data DIR]

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
`--json PATH` also writes these figures as JSON, rewritten after every run, so a run cut
short by a time limit still leaves the runs it finished (benchmarks/gpu_check.py reads it).
`--mode gpu` without CUDA runs the same in-process measurement on the CPU (unsynchronised),
for dry runs of that path.
Run it beside ../shared/bench/peer_airbench.py in the same device call:

    python3 .peer/peer_airbench.py --data .peer/cifar10-jpeg --variant 94 --runs 10
    CIFAR_JPEG=.peer/cifar10-jpeg python3 benchmarks/speed.py --runs 10

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

from _common import CIFAR_JPEG, machine, run_cli, today, write_json


def spread(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def cpu_mode(args: argparse.Namespace, runs_dir: Path) -> None:
    rows = []
    for i in range(args.runs):
        name = f"cpu{i}"
        cmd = ["train", "--data", args.data, "--preset", args.preset, "--seed", str(i)]
        cmd += ["--runs-dir", str(runs_dir), "--name", name, "--verbose", "2", *args.extra]
        seconds, out = run_cli(cmd)
        print(out, flush=True)
        metrics = json.loads((runs_dir / name / "metrics.json").read_text())
        config = json.loads((runs_dir / name / "config.json").read_text())["config"]
        rows.append((metrics["accuracy"], metrics.get("accuracy_without_tta"), seconds))
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
    report = {"machine": machine(), "preset": args.preset, "data": str(args.data)}
    report.update(overrides=extra, runs=[], cli_runs=[])

    def save() -> None:
        if args.json:
            write_json(args.json, report)

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
    ap.add_argument("--json", help="GPU mode: also write the figures to this JSON file")
    ap.add_argument("--no-warmup", action="store_true", help="GPU mode: time the first run too")
    ap.add_argument("extra", nargs="*", help="more `augtrain train` flags (after --)")
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.is_available() if args.mode == "auto" else args.mode == "gpu"
    args.runs = args.runs or (10 if gpu else 3)
    if "AUGTRAIN_CACHE" not in os.environ:
        print("note: AUGTRAIN_CACHE is not set; the default cache is used", file=sys.stderr)
    runs_dir = Path(tempfile.mkdtemp(prefix="speed-runs-"))
    (gpu_mode if gpu else cpu_mode)(args, runs_dir)


if __name__ == "__main__":
    main()
