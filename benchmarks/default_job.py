"""The default job against a plain PyTorch CNN at equal wall time.

    python benchmarks/default_job.py [--data DIR] [--gray DIR] [--epochs 2]

1. The baseline: a hand-written PyTorch CNN (2 conv layers, Adam lr 1e-3, batch 128, no
   augmentation, 2 epochs) trained and tested on the folder, as its own process, timed
   whole (start to printed accuracy). It reads the images through augtrain's decoded cache
   (`augtrain.data.load_data`), which makes its wall time shorter than a PIL data loader's:
   the budget it hands on is the tighter one.
2. `augtrain train --data DIR --time-budget T` with T = the baseline's wall time: the
   default job (no --model, no --preset), also timed whole.
Both on the CIFAR-10 JPEG tree and (`--gray DIR`, made with `--make-gray` from it when
missing) on a grayscale 28x28 copy. Set AUGTRAIN_CACHE to a warm cache (both read it).
Writes benchmarks/results/default_job.json; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CIFAR_JPEG, machine, record, run_cli, today

BASELINE = r"""
import sys, time, json
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from augtrain.data import load_data

torch.manual_seed(int(sys.argv[3]))
data = load_data(sys.argv[1])
x = torch.from_numpy(data.train.x).permute(0, 3, 1, 2).float() / 255
y = torch.from_numpy(data.train.y)
xt = torch.from_numpy(data.test.x).permute(0, 3, 1, 2).float() / 255
yt = torch.from_numpy(data.test.y)
c, h, w = x.shape[1:]

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * (h // 4) * (w // 4), data.num_classes)
    def forward(self, v):
        v = F.max_pool2d(F.relu(self.conv1(v)), 2)
        v = F.max_pool2d(F.relu(self.conv2(v)), 2)
        return self.fc(v.flatten(1))

net = Net()
opt = torch.optim.Adam(net.parameters(), 1e-3)
for epoch in range(int(sys.argv[2])):
    net.train()
    for idx in torch.randperm(len(y)).split(128):
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
net.eval()
with torch.no_grad():
    pred = torch.cat([net(b).argmax(1) for b in xt.split(1000)])
print(json.dumps({"accuracy": float((pred == yt).float().mean())}))
"""


def make_gray(source: Path, dest: Path) -> None:
    """A grayscale 28x28 PNG copy of a train/ and test/ class-folder tree."""
    from PIL import Image

    for path in sorted(source.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        out = (dest / path.relative_to(source)).with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            im.convert("L").resize((28, 28), Image.BILINEAR).save(out)


def baseline(data: Path, epochs: int, seed: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", BASELINE, str(data), str(epochs), str(seed)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"baseline failed:\n{proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])["accuracy"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG))
    ap.add_argument("--gray", help="the grayscale 28x28 copy (made from --data when missing)")
    ap.add_argument("--make-gray", action="store_true", help="make --gray first if missing")
    ap.add_argument("--epochs", type=int, default=2, help="the baseline's epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results" / "default_job.json"))
    args = ap.parse_args()
    trees = [("CIFAR-10 JPEG", Path(args.data))]
    if args.gray:
        gray = Path(args.gray)
        if args.make_gray and not gray.exists():
            make_gray(Path(args.data), gray)
        trees.append(("grayscale 28x28 copy", gray))
    report = {"machine": machine(), "date": today(), "rows": []}
    runs = Path(tempfile.mkdtemp(prefix="default-job-"))
    for label, tree in trees:
        base_s, base_acc = baseline(tree, args.epochs, args.seed)
        budget = f"{max(1, round(base_s))}s"
        name = f"default-{len(report['rows'])}"
        cmd = ["train", "--data", str(tree), "--time-budget", budget, "--seed", str(args.seed)]
        cmd += ["--runs-dir", str(runs), "--name", name, "--verbose", "1"]
        seconds, out = run_cli(cmd)
        metrics = json.loads((runs / name / "metrics.json").read_text())
        config = json.loads((runs / name / "config.json").read_text())["config"]
        row = {
            "data": label,
            "baseline_s": round(base_s, 1),
            "baseline_accuracy": base_acc,
            "budget": budget,
            "augtrain_s": round(seconds, 1),
            "augtrain_accuracy": metrics["accuracy"],
            "chosen": (config.get("budget_choice") or {}).get("chosen"),
            "choice_line": next((x for x in out.splitlines() if x.startswith("time budget")), ""),
        }
        report["rows"].append(row)
        record("default_job", report, args.json)
        print(json.dumps(row), flush=True)
    print(f"\n{today()} - {machine()}")
    print("| data | plain CNN (2 conv, Adam, 2 epochs) | augtrain --time-budget T | chosen |")
    print("|---|---|---|---|")
    for r in report["rows"]:
        c = r["chosen"] or {}
        print(
            f"| {r['data']} | {r['baseline_accuracy']:.4f} in {r['baseline_s']} s "
            f"| {r['augtrain_accuracy']:.4f} in {r['augtrain_s']} s (T = {r['budget']}) "
            f"| {c.get('widths')} x {c.get('epochs')} ep, batch {c.get('batch_size')} |"
        )


if __name__ == "__main__":
    main()
