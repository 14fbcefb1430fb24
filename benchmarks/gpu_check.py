"""The prepared GPU check: every GPU figure in one command of under 8 minutes.

    python benchmarks/gpu_check.py [--dry-run] [--out DIR] [--only STAGES] [--deadline S]

Normally started by benchmarks/gpu_check.sh, which installs augtrain and the carried
wheels first (see the recipe at its top). Stages, each a child process with its own time
limit inside one overall deadline; a stage that fails or runs out of time is recorded
and the next one still runs:

  env      versions, the GPU, whether augtrain's optional pieces import
  smoke    the user's commands on a small generated folder: train (speed preset, and
           resnet18 with the strong augmentation), evaluate --tta flip-translate,
           predict, export torchscript and onnx; every exit code checked
  speed    benchmarks/speed.py: `--preset speed`, 10 runs after a warm-up, on the
           CIFAR-10 JPEG tree
  peer     ../shared/bench/peer_airbench.py --variant 94 --runs 10 on the same tree
  augment  benchmarks/augment_speed.py --device-only: augtrain against Kornia, batch 1024
  ddp      benchmarks/ddp_scaling.py --wrapper: 1-process DDP against plain, resnet18
  photo    benchmarks/photo_folder.py --device cuda: a 20,000-JPEG 224x224 folder made from
           the CIFAR-10 tree, augtrain (RandomResizedCrop + flip on the GPU, placements
           device, host and mmap) against a PIL DataLoader with 2 and os.cpu_count()
           workers, efficientnet_lite0 (random weights: the machine lacks the package of
           the ImageNet ones; images/s does not depend on them), images/s and the ratios

Results: DIR/results.json (every stage with a status: ok, failed: ..., timeout: ...,
skipped: ...) and DIR/results.txt (a readable summary with Markdown tables), rewritten
after every stage, so a run cut short still leaves what it measured; DIR/gpu_check.log
holds every child's whole output. DIR is --out, else $OUT, else .bench/gpu_check.

--only smoke,ddp reruns some stages (env always runs), e.g. with a shorter --deadline in
the device time that the first call left.

--dry-run: the same stages on the CPU (or the GPU, where there is one) with tiny data,
one run each and an epoch or a few steps, in about a minute: CI runs it (.ci/smoke).
The peer stage needs CUDA and airbench; without them it is recorded as skipped.

The photo stage comes last and runs only with PHOTO_MIN_S of the deadline left (the other
stages' limits take most of it); else it is skipped, and a second call runs it alone:
`bash benchmarks/gpu_check.sh --only photo --deadline 200`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import commit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STAGES = ("env", "smoke", "speed", "peer", "augment", "ddp", "photo")
# Seconds per stage on a GPU (sum 455 before photo with a 465 s deadline, under 8 minutes
# with the install step of gpu_check.sh; photo gets what the others leave, or a call of
# its own) and in a dry run. A stage also ends at the deadline.
GPU_BUDGET = {"env": 25, "smoke": 80, "speed": 170, "peer": 90, "augment": 40, "ddp": 50}
GPU_BUDGET["photo"] = 180
DRY_BUDGET = {"env": 30, "smoke": 150, "speed": 90, "peer": 60, "augment": 60, "ddp": 60}
DRY_BUDGET["photo"] = 120
# the photo stage's shortest useful run on a GPU: folder, first start, six timed processes
PHOTO_MIN_S = 120.0
GPU_DEADLINE, DRY_DEADLINE = 465.0, 420.0


def write_atomic(path: Path, text: str) -> None:
    """Temp file, fsync, rename. Not augtrain.io's helper on purpose: the results must be
    written even when augtrain itself fails to import there."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class Check:
    """The stages' shared state: time plan, child processes, log and results."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dry = args.dry_run
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.start = time.monotonic()
        self.deadline = self.start + (args.deadline or (DRY_DEADLINE if self.dry else GPU_DEADLINE))
        self.budget = DRY_BUDGET if self.dry else GPU_BUDGET
        self.log = open(self.out / "gpu_check.log", "w", encoding="utf-8")  # noqa: SIM115
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            "AUGTRAIN_CACHE": str(self.work / "cache"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self.cuda = False
        self.results: dict[str, Any] = {
            "check": "benchmarks/gpu_check.py",
            "mode": "dry-run" if self.dry else "gpu",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "commit": commit(),
            "install": os.environ.get("GPU_CHECK_INSTALL", "not through gpu_check.sh"),
            "stages": {name: {"status": "not run"} for name in STAGES},
        }

    # ------------------------------------------------------------ child processes
    def left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, label: str, cmd: list[str], limit: float, env: dict | None = None) -> dict:
        """Run `cmd` in its own process group, its output appended to the log; kill the
        group at `limit` seconds or the deadline. Returns rc (None on a timeout), seconds
        and the output."""
        limit = max(1.0, min(limit, self.left()))
        self.log.write(f"\n===== {label}: {' '.join(cmd)} (limit {limit:.0f} s)\n")
        self.log.flush()
        capture = self.work / f"{re.sub(r'[^A-Za-z0-9]+', '-', label)}.out"
        t0 = time.monotonic()
        with open(capture, "w+", encoding="utf-8", errors="replace") as sink:
            proc = subprocess.Popen(
                cmd,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=str(ROOT),
                env={**self.env, **(env or {})},
                start_new_session=True,  # its own group: a timeout ends its children too
            )
            try:
                rc: int | None = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                rc = None
                self._kill(proc)
            sink.seek(0)
            output = sink.read()
        seconds = time.monotonic() - t0
        self.log.write(output)
        self.log.write(f"===== {label}: rc {rc} after {seconds:.1f} s\n")
        self.log.flush()
        state = "ok" if rc == 0 else ("TIMEOUT" if rc is None else f"rc {rc}")
        print(f"  {label}: {state} ({seconds:.1f} s)", flush=True)
        return {"rc": rc, "seconds": round(seconds, 2), "output": output}

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def python(self, *args: str) -> list[str]:
        return [sys.executable, *args]

    def plan(self, gpu: list[str], dry: list[str]) -> list[str]:
        """The GPU plan's command, and in a dry run the tiny sizes after it: the last of a
        flag wins, so the dry run (CI) also checks every flag the GPU plan passes."""
        return gpu + dry if self.dry else gpu

    def augtrain(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "augtrain", *args]

    # ------------------------------------------------------------ results
    def save(self) -> None:
        self.results["elapsed_s"] = round(time.monotonic() - self.start, 1)
        write_atomic(self.out / "results.json", json.dumps(self.results, indent=2) + "\n")
        write_atomic(self.out / "results.txt", summary(self.results))

    def stage(self, name: str, fn: Callable[[Check, float], dict]) -> None:
        print(f"stage {name} (left {self.left():.0f} s)", flush=True)
        t0 = time.monotonic()
        limit = min(self.budget[name], self.left())
        if limit < 5:
            result = {"status": "skipped: out of time (the overall deadline)"}
        else:
            try:
                result = fn(self, limit)
            except Exception as e:  # a bug of this script must not cost the later stages
                result = {"status": f"failed: {type(e).__name__}: {e}"}
        result["seconds"] = round(time.monotonic() - t0, 1)
        result["limit_s"] = round(limit, 1)
        self.results["stages"][name] = result
        print(f"stage {name}: {result['status']} ({result['seconds']} s)", flush=True)
        self.save()


def failure(step: dict, what: str) -> str:
    if step["rc"] is None:
        return f"timeout: {what} ran out of time after {step['seconds']:.0f} s"
    lines = [ln for ln in step["output"].strip().splitlines() if ln.strip()]
    return f"failed: {what} exited {step['rc']}: {lines[-1][:300] if lines else 'no output'}"


def tail(text: str, chars: int = 1500) -> str:
    return text[-chars:]


# ---------------------------------------------------------------- stages
ENV_SCRIPT = r"""
import importlib, json, platform, sys
out = {"python": sys.version.split()[0], "platform": platform.platform()}
import torch
out["torch"] = torch.__version__
out["cuda"] = torch.cuda.is_available()
out["torch_cuda"] = torch.version.cuda
if out["cuda"]:
    p = torch.cuda.get_device_properties(0)
    out["gpu"] = torch.cuda.get_device_name(0)
    out["gpu_memory_gib"] = round(p.total_memory / 2**30, 1)
    out["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    out["cudnn"] = torch.backends.cudnn.version()
    out["bf16"] = torch.cuda.is_bf16_supported()
from importlib import metadata
packages = {}
for name in ("augtrain", "numpy", "pillow", "numba", "llvmlite", "tbb", "kornia", "kornia_rs",
             "airbench", "torchvision", "onnx", "onnxruntime", "matplotlib", "scikit-learn", "tqdm"):
    try:
        packages[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        packages[name] = "missing"
imports = {}
for name in ("numba", "kornia", "airbench", "torchvision", "onnxruntime"):
    try:
        importlib.import_module(name)
        imports[name] = "ok"
    except Exception as e:
        imports[name] = f"{type(e).__name__}: {e}"[:200]
out["imports"] = imports
out["packages"] = packages
import augtrain
out["augtrain_path"] = augtrain.__file__
try:
    from augtrain.augment import cpu_kernels
    out["cpu_kernels"] = bool(cpu_kernels.enabled())
    import numba
    out["numba_threading_layer"] = numba.config.THREADING_LAYER
except Exception as e:
    out["cpu_kernels"] = f"unavailable ({type(e).__name__}: {e})"[:200]
print("ENV " + json.dumps(out))
"""


def stage_env(c: Check, limit: float) -> dict:
    step = c.run("env", c.python("-c", ENV_SCRIPT), limit)
    found = re.search(r"^ENV (\{.*\})$", step["output"], re.M)
    if step["rc"] != 0 or not found:
        return {"status": failure(step, "the environment probe"), "output": tail(step["output"])}
    info = json.loads(found.group(1))
    c.cuda = bool(info["cuda"])
    c.results["machine"] = info.get("gpu") or f"{os.cpu_count()} CPU cores, no CUDA"
    return {"status": "ok", **info}


def make_folder(root: Path, train: int, test: int, size: int = 32) -> None:
    """10 classes of random PNGs, each class with a colour signal to learn."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", train), ("test", test)):
        for c in range(10):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                pixels[..., c % 3] = 25 * c
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def smoke_folder(c: Check) -> Path:
    """The smoke stage's folder; the dry run's speed stage trains on it too."""
    folder = c.work / "smoke-data"
    if not folder.exists():
        make_folder(folder, *((20, 5) if c.dry else (60, 10)))
    return folder


def stage_smoke(c: Check, limit: float) -> dict:
    end = time.monotonic() + limit
    data, runs = smoke_folder(c), c.work / "smoke-runs"
    speed_run, strong_run = runs / "speed", runs / "strong"
    common = ["--data", str(data), "--runs-dir", str(runs), "--verbose", "1"]

    def files_exist(*paths: Path) -> str | None:
        missing = [str(p) for p in paths if not p.exists()]
        return f"missing {', '.join(missing)}" if missing else None

    def predicted(step: dict) -> str | None:
        start = re.search(r"^\[", step["output"], re.M)  # stderr notes may come first
        if start is None:
            return "no JSON list in the output"
        rows, _ = json.JSONDecoder().raw_decode(step["output"], start.start())
        want = len(list((data / "test").rglob("*.png")))
        return None if len(rows) == want else f"{len(rows)} predictions for {want} files"

    steps: list[tuple[str, list[str], Callable[[dict], str | None]]] = [
        (
            "train --preset speed",
            c.plan(
                c.augtrain("train", "--preset", "speed", "--epochs", "2", *common),
                ["--epochs", "1"],
            )
            + ["--name", "speed"],
            lambda s: files_exist(speed_run / "metrics.json", speed_run / "last.pt"),
        ),
        (
            # the budget's calibration and choice end to end: the whole command in ~5 s
            "train --time-budget 5s",
            c.augtrain("train", "--preset", "speed", "--time-budget", "5s", *common)
            + ["--name", "budget"],
            lambda s: (
                files_exist(runs / "budget" / "metrics.json")
                or (None if "time budget 5s:" in s["output"] else "no budget line in the output")
            ),
        ),
        (
            "train --augment strong",
            c.plan(
                c.augtrain("train", "--model", "resnet18", "--amp", "bf16", "--augment", "strong")
                + ["--epochs", "1", "--batch-size", "64", *common],
                ["--model", "cnn4", "--amp", "auto"],
            )
            + ["--name", "strong"],
            lambda s: files_exist(strong_run / "metrics.json"),
        ),
        (
            "evaluate --tta flip-translate",
            c.augtrain("evaluate", str(speed_run), "--tta", "flip-translate"),
            lambda s: files_exist(speed_run / "evaluation.json"),
        ),
        (
            "predict",
            c.augtrain("predict", str(speed_run), str(data / "test"), "--format", "json"),
            predicted,
        ),
        (
            "export torchscript",
            c.augtrain("export", str(speed_run), "--format", "torchscript"),
            lambda s: files_exist(speed_run / "model.torchscript.pt"),
        ),
        (
            "export onnx",
            c.augtrain("export", str(speed_run), "--format", "onnx"),
            lambda s: files_exist(speed_run / "model.onnx"),
        ),
    ]
    report: dict[str, Any] = {"steps": {}}
    failed = []
    for label, cmd, check in steps:
        step = c.run(f"smoke {label}", cmd, end - time.monotonic())
        entry: dict[str, Any] = {"rc": step["rc"], "seconds": step["seconds"]}
        problem = None if step["rc"] == 0 else failure(step, label)
        if problem is None:
            try:
                problem = check(step)
            except (ValueError, KeyError) as e:
                problem = f"unreadable output: {e}"
        found = re.search(r"max abs difference vs PyTorch: (\S+)", step["output"])
        if found:
            entry["max_abs_difference"] = float(found.group(1))
        entry["status"] = problem or "ok"
        if problem:
            failed.append(label)
            entry["output"] = tail(step["output"])
        report["steps"][label] = entry
    for name, run_dir in (("speed", speed_run), ("strong", strong_run)):
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
            config = json.loads((run_dir / "config.json").read_text())
            report[f"{name}_run"] = {
                "accuracy": metrics["accuracy"],
                "preset": config["config"].get("preset"),
                "cuda": config["environment"].get("cuda"),
            }
        except (OSError, ValueError, KeyError):
            pass
    report["status"] = "ok" if not failed else f"failed: {', '.join(failed)}"
    return report


def settle(report: dict[str, Any], step: dict[str, Any], script: str) -> dict[str, Any]:
    """A stage's report after its step: status ok, or the failure naming `script` with the
    tail of its output."""
    report["status"] = "ok" if step["rc"] == 0 else failure(step, script)
    if step["rc"] != 0:
        report["output"] = tail(step["output"])
    return report


def child_record(path: Path) -> dict[str, Any]:
    """A stage script's JSON record (_common.record) as the stage's report: its figures and
    the commit they were measured at; {} when the script wrote none."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if isinstance(data.get("figures"), dict):
        return {**data["figures"], "commit": data.get("commit")}
    return data  # figures written bare


def cifar(c: Check) -> Path | None:
    data = Path(c.args.data)
    return data if (data / "train").is_dir() and (data / "test").is_dir() else None


def stage_speed(c: Check, limit: float) -> dict:
    out = c.work / "speed.json"
    data = smoke_folder(c) if c.dry else cifar(c)
    if data is None:
        return {"status": f"skipped: no CIFAR-10 folder at {c.args.data}"}
    gpu = c.python(str(HERE / "speed.py"), "--mode", "gpu", "--json", str(out), "--data", str(data))
    dry = ["--runs", "1", "--cli-runs", "0", "--no-warmup"]  # the smoke stage ran the CLI
    dry += ["--api-overrides", '{"epochs": 1}', "--", "--epochs", "1"]
    step = c.run("speed", c.plan([*gpu, "--runs", "10", "--cli-runs", "1"], dry), limit)
    report = child_record(out)
    accs = [r["accuracy"] for r in report.get("runs", [])]
    if accs:
        report["summary"] = {
            "runs": len(accs),
            **spread("accuracy", accs),
            **spread("accuracy_without_tta", [r["accuracy_without_tta"] for r in report["runs"]]),
            **spread("train_s", [r["train_s"] for r in report["runs"]]),
            **spread("fit_s", [r["fit_s"] for r in report["runs"]]),
        }
    settle(report, step, "speed.py")
    # --time-budget 5s on the whole tree: calibration, choice and the wall time against it
    budget_json = c.work / "speed_budget.json"
    budget = c.python(str(HERE / "speed.py"), "--time-budget", "5s", "--runs", "1")
    budget += ["--data", str(data), "--json", str(budget_json)]
    step = c.run("speed --time-budget 5s", budget, min(25.0, c.left()))
    if budget_json.exists():
        report["budget_5s"] = child_record(budget_json).get("runs")
    if step["rc"] != 0:
        report["budget_5s_status"] = failure(step, "speed.py --time-budget 5s")
    return report


def spread(name: str, values: list[float]) -> dict[str, float]:
    import statistics

    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {f"{name}_mean": statistics.mean(values), f"{name}_std": sd}


def peer_script(c: Check) -> Path | None:
    for path in (
        Path(c.args.peer) / "peer_airbench.py",
        ROOT.parent / "shared/bench/peer_airbench.py",
    ):
        if path.exists():
            return path
    return None


PEER_RUN = re.compile(r"^run (\d+): acc=([\d.]+) train_s=([\d.]+) eval_s=([\d.]+)$", re.M)


def parse_peer(output: str) -> dict[str, Any]:
    """peer_airbench.py's per-run lines and summary line, as numbers."""
    runs = [
        {"accuracy": float(a), "train_s": float(t), "eval_s": float(e)}
        for _, a, t, e in PEER_RUN.findall(output)
    ]
    report: dict[str, Any] = {"runs": runs}
    if runs:
        report["summary"] = {
            "runs": len(runs),
            **spread("accuracy", [r["accuracy"] for r in runs]),
            **spread("train_s", [r["train_s"] for r in runs]),
            **spread("eval_s", [r["eval_s"] for r in runs]),
        }
    found = re.search(r"^(airbench\d+ runs=.*)$", output, re.M)
    if found:
        report["summary_line"] = found.group(1)
    return report


def stage_peer(c: Check, limit: float) -> dict:
    if not c.cuda:
        return {"status": "skipped: no CUDA"}
    script = peer_script(c)
    if script is None:
        return {"status": f"skipped: no peer_airbench.py in {c.args.peer}"}
    check = c.run("peer import", c.python("-c", "import airbench"), min(limit, 60))
    if check["rc"] != 0:
        return {"status": "skipped: airbench not installed (carry .peer/wheels)"}
    data = cifar(c)
    if data is None:
        return {"status": f"skipped: no CIFAR-10 folder at {c.args.data}"}
    cmd = c.python(str(script), "--data", str(data), "--variant", "94", "--runs", "10")
    cmd = c.plan([*cmd, "--workdir", str(c.work / "airbench")], ["--runs", "1"])
    step = c.run("peer", cmd, limit - check["seconds"])
    report = parse_peer(step["output"])
    settle(report, step, "peer_airbench.py")
    return report


def stage_augment(c: Check, limit: float) -> dict:
    out = c.work / "augment.json"
    cmd = c.python(str(HERE / "augment_speed.py"), "--device-only", "--json", str(out))
    cmd += ["--device-batch", "1024", "--device-calls", "20"]
    cmd = c.plan(cmd, ["--images", "256", "--device-batch", "64", "--device-calls", "1"])
    if c.dry or cifar(c) is None:
        cmd.append("--quick")  # random images
    if not c.cuda:
        cmd += ["--device", "cpu"]
    step = c.run("augment", cmd, limit, env={"CIFAR_JPEG": c.args.data})
    report = child_record(out)
    settle(report, step, "augment_speed.py")
    return report


def stage_ddp(c: Check, limit: float) -> dict:
    out = c.work / "ddp.json"
    cmd = c.python(str(HERE / "ddp_scaling.py"), "--wrapper", "--json", str(out))
    cmd += ["--model", "resnet18", "--images", "12288", "--epochs", "4", "--batch-size", "512"]
    cmd += ["--repeats", "2", "--warmup-rounds", "1"]
    dry = ["--model", "cnn4", "--images", "128", "--epochs", "2", "--batch-size", "64"]
    cmd = c.plan(cmd, [*dry, "--repeats", "1", "--warmup-rounds", "0"])
    if not c.cuda:
        cmd += ["--device", "cpu"]
    step = c.run("ddp", cmd, limit)
    report = child_record(out)
    settle(report, step, "ddp_scaling.py --wrapper")
    return report


def photo_source(c: Check) -> Path | None:
    """Where the photo folder's images come from: the CIFAR-10 tree (train/<class>/), in
    a dry run the smoke stage's folder when there is no tree."""
    data = cifar(c)
    if data is None and c.dry:
        data = smoke_folder(c)
    return data


def stage_photo(c: Check, limit: float) -> dict:
    if not c.dry and limit < PHOTO_MIN_S:
        return {
            "status": f"skipped: {limit:.0f} s left, under {PHOTO_MIN_S:.0f} "
            "(rerun: gpu_check.sh --only photo --deadline 200)"
        }
    data = photo_source(c)
    if data is None:
        return {"status": f"skipped: no CIFAR-10 folder at {c.args.data}"}
    out = c.work / "photo.json"
    cmd = c.python(str(HERE / "photo_folder.py"), "--data", str(data), "--out", str(out))
    cmd += ["--folder", str(c.work / "photos"), "--cache-dir", str(c.work / "photo-cache")]
    # 2 workers as asked, and one per core: the fairer peer on a machine with many
    cmd += ["--workers", "2", str(os.cpu_count() or 2), "--placements", "device", "host", "mmap"]
    cmd += ["--models", "efficientnet_lite0", "--no-pretrained", "--batch-size", "128"]
    cmd += ["--warmup", "5", "--steps", "30", "--per-class", "2000", "--photo-size", "224"]
    dry = ["--per-class", "4", "--photo-size", "48", "--cache", "40", "--size", "32"]
    # three processes (first start, mmap, one DataLoader): a minute on 2 loaded cores
    dry += ["--batch-size", "4", "--warmup", "1", "--steps", "1"]
    dry += ["--placements", "mmap", "--workers", "2"]
    cmd = c.plan(cmd, dry)
    cmd += ["--device", "cuda" if c.cuda else "cpu"]
    step = c.run("photo", cmd, limit)
    report = child_record(out)
    settle(report, step, "photo_folder.py")
    return report


# ---------------------------------------------------------------- summary
def summary(results: dict[str, Any]) -> str:
    """The readable summary: one line per stage, then Markdown tables for BENCHMARKS.md."""
    s = results["stages"]
    env = s.get("env", {})
    lines = [
        f"# augtrain GPU check ({results['mode']}), {results['date']}, "
        f"{results.get('elapsed_s', 0):.0f} s",
        f"machine: {results.get('machine', '?')}; torch {env.get('torch', '?')} "
        f"(CUDA {env.get('torch_cuda')}), Python {env.get('python', '?')}; "
        f"install: {results['install']}",
        "",
        "| stage | status | seconds (limit) |",
        "|---|---|---|",
    ]
    for name in STAGES:
        st = s.get(name, {})
        lines.append(
            f"| {name} | {st.get('status', '?')} | {st.get('seconds', '-')} ({st.get('limit_s', '-')}) |"
        )
    if isinstance(env.get("packages"), dict):
        lines += ["", "packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items())]
        broken = {k: v for k, v in env.get("imports", {}).items() if v != "ok"}
        lines += [f"not importable: {broken}"] if broken else []
    smoke = s.get("smoke", {})
    if smoke.get("steps"):
        lines += ["", "| smoke step | status | seconds |", "|---|---|---|"]
        for label, st in smoke["steps"].items():
            diff = (
                f" (max abs diff {st['max_abs_difference']:.2e})"
                if "max_abs_difference" in st
                else ""
            )
            lines.append(f"| {label} | {st['status']}{diff} | {st['seconds']} |")
    speed, peer = s.get("speed", {}).get("summary"), s.get("peer", {}).get("summary")
    if speed or peer:
        lines += [
            "",
            "| recipe | runs | test accuracy (TTA) | without TTA | train_s | fit_s |",
            "|---|---|---|---|---|---|",
        ]
        if speed:
            preset = s["speed"].get("resolved_preset", "speed")
            lines.append(
                f"| augtrain --preset speed ({preset}) | {speed['runs']} "
                f"| {speed['accuracy_mean']:.4f} ± {speed['accuracy_std']:.4f} "
                f"| {speed['accuracy_without_tta_mean']:.4f} "
                f"| {speed['train_s_mean']:.2f} ± {speed['train_s_std']:.2f} s "
                f"| {speed['fit_s_mean']:.2f} ± {speed['fit_s_std']:.2f} s |"
            )
            cli = s["speed"].get("cli_runs") or []
            if cli:
                lines.append(
                    f"| (whole `augtrain train` command: {cli[0]['wall_s']:.1f} s) | | | | | |"
                )
        if peer:
            lines.append(
                f"| airbench94 (peer_airbench.py) | {peer['runs']} "
                f"| {peer['accuracy_mean']:.4f} ± {peer['accuracy_std']:.4f} | - "
                f"| {peer['train_s_mean']:.2f} ± {peer['train_s_std']:.2f} s | - |"
            )
    aug = s.get("augment", {}).get("rows")
    if aug:
        lines += ["", f"kornia {s['augment'].get('kornia', '?')}; data {s['augment'].get('data')}"]
        lines += ["| transform | peer | device | batch | img/s |", "|---|---|---|---|---|"]
        for r in aug:
            lines.append(
                f"| {r['transform']} | {r['peer']} | {r['device']} | {r['batch']} "
                f"| {r['images_per_s']:,.0f} |"
            )
    ddp = s.get("ddp", {})
    if "ddp_over_plain" in ddp:
        m = ddp["median_images_per_s"]
        lines += [
            "",
            f"{ddp['model']} on {ddp['device']}, {ddp['images']} images, batch "
            f"{ddp['batch_size']}, {ddp['epochs']} epochs",
            "| configuration | images/s (median, epochs 2+) |",
            "|---|---|",
            f"| plain | {m['plain']:,.0f} |",
            f"| 1-process DDP | {m['ddp']:,.0f} |",
            f"| ratio DDP / plain | {ddp['ddp_over_plain']:.3f} |",
        ]
    lines += photo_summary(s.get("photo", {}))
    return "\n".join(lines) + "\n"


def photo_summary(photo: dict[str, Any]) -> list[str]:
    """The photo stage's table: images/s of every process, then each augtrain placement's
    ratio to each DataLoader."""
    rows = [r for r in photo.get("rows", []) if "images_per_s" in r]
    if not rows:
        return []
    cfg = photo.get("settings", {})
    lines = [
        "",
        f"photo folder: {cfg.get('per_class', '?')} x 10 JPEGs {cfg.get('photo_size')}, cache "
        f"{cfg.get('cache')}, crop {cfg.get('size')}, rrc-flip, batch {cfg.get('batch_size')}, "
        f"{cfg.get('device')}",
        "| pipeline | model | images/s (timed steps) | CPU ms per image |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['model']} | {r['images_per_s']:,.1f} ({r['steps']}) "
            f"| {r['cpu_ms_per_image']:.2f} |"
        )
    for entry in photo.get("ratios", []):
        over = ", ".join(f"{k[5:]} {v:.2f}x" for k, v in entry.items() if k.startswith("over_"))
        lines.append(f"augtrain {entry['placement']}: {over}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny data, a few steps each")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / ".bench/gpu_check"))
    ap.add_argument("--data", default=str(ROOT / ".peer/cifar10-jpeg"), help="CIFAR-10 tree")
    ap.add_argument("--peer", default=str(ROOT / ".peer"), help="folder of peer_airbench.py")
    ap.add_argument("--deadline", type=float, help="overall seconds (default 465; dry 420)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument(
        "--only", help=f"comma-separated stages to run (env always runs): {','.join(STAGES)}"
    )
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(STAGES)
    if only - set(STAGES):
        ap.error(f"unknown stage(s) in --only: {', '.join(sorted(only - set(STAGES)))}")
    check = Check(args)
    print(f"gpu_check: results in {check.out}, work in {check.work}", flush=True)
    check.save()
    stages = {"env": stage_env, "smoke": stage_smoke, "speed": stage_speed}
    stages.update(peer=stage_peer, augment=stage_augment, ddp=stage_ddp, photo=stage_photo)
    no_cuda = False
    try:
        for name in STAGES:
            if name != "env" and name not in only:
                check.results["stages"][name] = {"status": "skipped: not in --only"}
                continue
            check.stage(name, stages[name])
            if name == "env" and not check.cuda and not check.dry:
                no_cuda = True
                for rest in STAGES[1:]:
                    check.results["stages"][rest] = {"status": "skipped: no CUDA (use --dry-run)"}
                break
    finally:
        check.save()
        check.log.close()
        if not args.keep:
            shutil.rmtree(check.work, ignore_errors=True)
    print("\n" + (check.out / "results.txt").read_text(), flush=True)
    statuses = [st["status"] for st in check.results["stages"].values()]
    failed = [st for st in statuses if st != "ok" and not st.startswith("skipped")]
    return 1 if failed or no_cuda else 0


if __name__ == "__main__":
    sys.exit(main())
