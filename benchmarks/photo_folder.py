"""A folder of 20,000 photo-sized JPEGs: augtrain's start-up (first start decodes to the
cache, a later start reads it) and its training images/s with RandomResizedCrop + flip,
against a plain PyTorch DataLoader with per-image PIL transforms, same model, same batch
size, same number of steps, in the same run.

    python benchmarks/photo_folder.py [--folder /tmp/photos20k] [--batch-size 32]
                                      [--cache 256] [--size 224] [--placements host mmap]
                                      [--device cuda] [--workers 2 16] [--repeats 2]

The folder (made once, outside the repository): CIFAR-10's first 2,000 training images of
each class, upsampled to 224x224 with PIL (bicubic) and saved as JPEG quality 90.

augtrain: `augtrain.train` (the TrainConfig the CLI's flags make: --cache-size 256 256
--target-size 224 224 --augment rrc-flip --validation none) in a fresh process; a callback
marks the first training step and times --steps steps after --warmup steps, then the
process exits. The first start runs with an empty cache folder, the later ones find it.
Each --placements value is one later start, passed as TrainConfig's `placement` (device:
the cache resident on the device; host: read into host memory, pinned for CUDA; mmap:
batches read from the memory-mapped cache file).

--device cuda: the model and augtrain's augmentation on the GPU, bf16 autocast and
channels_last for both pipelines (augtrain's defaults there); the DataLoader's batches
pinned (pin_memory) and copied without blocking. Each timed span starts and ends with a
CUDA synchronize. --no-pretrained: the same networks with random weights (images/s does
not depend on them; for machines without the weights), both pipelines then only scale to
0..1 (augtrain's --input-norm rescale).

--repeats N: every configuration N times, the order reversed on every other repeat
(host, mmap, DataLoader, then DataLoader, mmap, host), so that ratios between
placements compare neighbours in time on shared cores.

DataLoader: --workers workers (each value one run), shuffled, each image opened with PIL, torchvision's
RandomResizedCrop (scale 0.08..1, ratio 3/4..4/3, 10 tries then a centre crop) written by
hand, resized to 224 bilinear, mirrored half the time, to a float tensor and normalised
with the model's mean and std in numpy; the same model, Adam 1e-3 and cross-entropy in a
plain loop in a fresh process.

Two models: efficientnet_lite0 with its ImageNet weights (everything trains), and a
pooled linear classifier (global average pool + one dense layer), whose step costs almost
nothing, so its images/s is the data pipeline's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CIFAR_JPEG, machine, record, today

BENCH = Path(__file__).resolve().parent
LITE0_MEAN, LITE0_STD = (127 / 255,) * 3, (128 / 255,) * 3
MODELS = ("efficientnet_lite0", "pooled_linear")
PLACEMENTS = ("auto", "device", "host", "mmap")


def pooled_linear(num_classes: int = 10, in_channels: int = 3):
    """Global average pool + one dense layer: a step that costs almost nothing."""
    import torch.nn as nn

    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes))


def _upsample(job: tuple[str, str, int]) -> None:
    from PIL import Image

    src, dst, size = job
    with Image.open(src) as im:
        im.convert("RGB").resize((size, size), Image.BICUBIC).save(dst, quality=90)


def make_folder(source: Path, out: Path, per_class: int, size: int) -> float:
    """The photo folder (kept when complete); returns the seconds it took (0 if kept)."""
    from multiprocessing import Pool

    jobs = []
    for cls in sorted(p.name for p in (source / "train").iterdir() if p.is_dir()):
        (out / cls).mkdir(parents=True, exist_ok=True)
        for f in sorted((source / "train" / cls).iterdir())[:per_class]:
            dst = out / cls / f"{f.stem}.jpg"  # JPEG whatever the source's format
            if not dst.exists():
                jobs.append((str(f), str(dst), size))
    if not jobs:
        return 0.0
    t0 = time.perf_counter()
    with Pool(os.cpu_count()) as pool:
        pool.map(_upsample, jobs, chunksize=max(1, min(64, len(jobs) // (4 * os.cpu_count()))))
    return time.perf_counter() - t0


AUGTRAIN_CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[4])
import augtrain, torch
from augtrain.training.callbacks import Callback
spawn, warmup, steps = float(sys.argv[2]), *map(int, sys.argv[3].split(","))
sync = torch.cuda.synchronize if torch.cuda.is_available() else lambda: None

class Steps(Callback):
    done, t0 = 0, None
    def on_batch_begin(self, batch, logs=None):
        if self.done == 0:
            print("RESULT " + json.dumps({"first_step_s": time.time() - spawn}), flush=True)
            if steps == 0:
                os._exit(0)
    def on_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == warmup:
            sync()
            self.t0, self.c0 = time.perf_counter(), time.process_time()
        if self.done == warmup + steps:
            sync()
            seconds, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
            size = self.trainer.config.batch_size
            print("RESULT " + json.dumps({"step_s": seconds / steps,
                  "images_per_s": steps * size / seconds,
                  "cpu_ms_per_image": 1000 * cpu / (steps * size)}), flush=True)
            os._exit(0)

augtrain.train(callbacks=[Steps()], **json.loads(sys.argv[1]))
"""

DATALOADER_CHILD = """
import json, math, os, random, sys, time
spawn, warmup, steps = float(sys.argv[2]), *map(int, sys.argv[3].split(","))
sys.path.insert(0, sys.argv[4])
import numpy as np, torch
from PIL import Image
cfg = json.loads(sys.argv[1])
SIZE = cfg["size"]
MEAN = np.array(cfg["mean"], np.float32) * 255
STD = np.array(cfg["std"], np.float32) * 255

def rrc_box(w, h, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    # torchvision's RandomResizedCrop.get_params
    area = w * h
    for _ in range(10):
        target = area * random.uniform(*scale)
        ar = math.exp(random.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = random.randint(0, h - ch), random.randint(0, w - cw)
            return left, top, left + cw, top + ch
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        cw, ch = int(round(h * ratio[1])), h
    else:
        cw, ch = w, h
    top, left = (h - ch) // 2, (w - cw) // 2
    return left, top, left + cw, top + ch

class Folder(torch.utils.data.Dataset):
    def __init__(self, root):
        classes = sorted(p.name for p in os.scandir(root) if p.is_dir())
        self.items = [(os.path.join(root, c, f), i) for i, c in enumerate(classes)
                      for f in sorted(os.listdir(os.path.join(root, c)))]
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        path, label = self.items[i]
        with Image.open(path) as im:
            im = im.convert("RGB")
            box = rrc_box(*im.size)
            im = im.resize((SIZE, SIZE), Image.BILINEAR, box=box)
        if random.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        x = (np.asarray(im, np.float32) - MEAN) / STD
        return torch.from_numpy(x.transpose(2, 0, 1).copy()), label

from augtrain.models import create_model
if cfg["model"] == "pooled_linear":
    from photo_folder import pooled_linear
    net = pooled_linear(10)
else:
    net = create_model(cfg["model"], 10, 3, (SIZE, SIZE), pretrained=cfg["pretrained"])
device = torch.device(cfg["device"])
cuda = device.type == "cuda"
layout = torch.channels_last if cuda else torch.contiguous_format
net.to(device, memory_format=layout).train()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
loader = torch.utils.data.DataLoader(Folder(cfg["folder"]), batch_size=cfg["batch_size"],
                                     shuffle=True, num_workers=cfg["workers"], drop_last=True,
                                     persistent_workers=True, pin_memory=cuda)
autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg["amp"] == "bf16")
sync = torch.cuda.synchronize if cuda else lambda: None
def cpu_seconds(workers):
    # this process's CPU plus its live workers' (utime + stime from /proc)
    tick = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for w in workers:
        fields = open(f"/proc/{w.pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total

done, t0 = 0, None
batches = iter(loader)
for x, y in batches:
    if done == 0:
        print("RESULT " + json.dumps({"first_step_s": time.time() - spawn}), flush=True)
    x = x.to(device, non_blocking=True).contiguous(memory_format=layout)
    y = y.to(device, non_blocking=True)
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    done += 1
    if done == warmup:
        sync()
        t0, c0 = time.perf_counter(), cpu_seconds(batches._workers)
    if done == warmup + steps:
        sync()
        seconds, cpu = time.perf_counter() - t0, cpu_seconds(batches._workers) - c0
        print("RESULT " + json.dumps({"step_s": seconds / steps,
              "images_per_s": steps * cfg["batch_size"] / seconds,
              "cpu_ms_per_image": 1000 * cpu / (steps * cfg["batch_size"])}), flush=True)
        os._exit(0)
"""


def child(code: str, cfg: dict, warmup: int, steps: int, env: dict) -> dict:
    """Run one measuring process; its RESULT lines merged, plus its wall seconds."""
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(cfg), str(t0), f"{warmup},{steps}", str(BENCH)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    found: dict = {"wall_s": time.time() - t0, "load_at_start": None}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            found.update(json.loads(line[7:]))
    if proc.returncode != 0 or (steps and "images_per_s" not in found):
        raise SystemExit(f"measuring process failed ({cfg}):\n{proc.stderr[-3000:]}")
    return found


def alternating(configs: list, repeats: int) -> list[tuple[int, object]]:
    """(repeat, config) in run order: the configs in order, then reversed, and so on."""
    order = []
    for r in range(repeats):
        order += [(r, c) for c in (configs if r % 2 == 0 else configs[::-1])]
    return order


def ratios(rows: list[dict], placements: list[str]) -> list[dict]:
    """Per model and repeat: each augtrain placement's images/s over each DataLoader's and
    over the first placement's, all from the same repeat (neighbours in time)."""
    out = []
    keys = sorted({(r["model"], r["repeat"]) for r in rows if "repeat" in r})
    for model, repeat in keys:
        same = [r for r in rows if r.get("model") == model and r.get("repeat") == repeat]
        ours = {r["placement"]: r for r in same if "placement" in r}
        peers = {r["workers"]: r for r in same if "workers" in r}
        first = ours.get(placements[0])
        for placement, r in ours.items():
            entry = {"model": model, "repeat": repeat, "placement": placement}
            for w, peer in peers.items():
                entry[f"over_dataloader_{w}w"] = r["images_per_s"] / peer["images_per_s"]
                entry[f"cpu_dataloader_{w}w_over_augtrain"] = (
                    peer["cpu_ms_per_image"] / r["cpu_ms_per_image"]
                )
            if first is not None and placement != placements[0]:
                entry[f"over_{placements[0]}"] = r["images_per_s"] / first["images_per_s"]
            out.append(entry)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(CIFAR_JPEG), help="CIFAR-10 JPEG folder to upsample")
    ap.add_argument("--folder", default="/tmp/photos20k")
    ap.add_argument("--per-class", type=int, default=2000)
    ap.add_argument("--photo-size", type=int, default=224)
    ap.add_argument("--cache", type=int, default=256, help="--cache-size of augtrain")
    ap.add_argument("--size", type=int, default=224, help="training crop (--target-size)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[2], help="DataLoader workers")
    ap.add_argument("--warmup", type=int, default=2, help="steps before timing (at least 1)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps, efficientnet_lite0")
    ap.add_argument("--pipeline-steps", type=int, default=30, help="timed steps, pooled linear")
    ap.add_argument("--placements", nargs="+", default=["host"], choices=PLACEMENTS)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each configuration")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (augtrain's --device)")
    ap.add_argument(
        "--pretrained",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="efficientnet_lite0's ImageNet weights (--no-pretrained: random ones)",
    )
    ap.add_argument(
        "--threads", type=int, help="torch threads of each training process (OMP_NUM_THREADS)"
    )
    ap.add_argument("--cache-dir", help="augtrain cache (default: a new, empty temp folder)")
    ap.add_argument("--out", default=str(BENCH / "results/photo_folder.json"))
    args = ap.parse_args()
    if args.warmup < 1:
        ap.error("--warmup: at least 1 (the timed span starts at the end of a step)")
    workers = list(dict.fromkeys(args.workers))  # os.cpu_count() may equal 2
    placements = list(dict.fromkeys(args.placements))
    cuda = args.device.startswith("cuda")
    amp = "bf16" if cuda else "off"

    folder = Path(args.folder)
    made_s = make_folder(Path(args.data), folder, args.per_class, args.photo_size)
    n = sum(1 for _ in folder.rglob("*.jpg"))
    print(f"{folder}: {n} JPEGs of {args.photo_size}x{args.photo_size} ({made_s:.0f} s to make)")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="photo-cache-")
    env = {"AUGTRAIN_CACHE": cache}
    if args.threads:  # oversubscribed cores: two OpenMP threads stall at every barrier
        env["OMP_NUM_THREADS"] = str(args.threads)
    runs = tempfile.mkdtemp(prefix="photo-runs-")

    def augtrain_cfg(model: str, placement: str) -> dict:
        cfg = {
            "data": str(folder),
            "cache_size": [args.cache, args.cache],
            "target_size": [args.size, args.size],
            "augment": "rrc-flip",
            "batch_size": args.batch_size,
            "optimizer": "adam",
            "lr": 1e-3,
            "epochs": 1,
            "validation": "none",
            "placement": placement,
            "device": args.device,
            "amp": amp,
            "channels_last": "on" if cuda else "off",
            "runs_dir": runs,
            "name": "photos",
            "overwrite": True,
            "verbose": 0,
        }
        if model == "pooled_linear":
            cfg["model"] = "photo_folder:pooled_linear"
        else:
            cfg.update(model=model, pretrained=args.pretrained)
        if not args.pretrained:
            cfg["input_norm"] = "rescale"
        return cfg

    rows: list[dict] = []

    def add_row(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    load = os.getloadavg()[0]
    cold = child(AUGTRAIN_CHILD, augtrain_cfg(args.models[0], "auto"), 0, 0, env)
    add_row(
        {"what": "augtrain first start (decode to cache)", "model": args.models[0], **cold,
         "load_at_start": load}
    )  # fmt: skip
    steps_of = {"efficientnet_lite0": args.steps, "pooled_linear": args.pipeline_steps}
    configs = [("augtrain", p) for p in placements] + [("DataLoader", w) for w in workers]
    for model in args.models:
        steps = steps_of[model]
        for repeat, (pipeline, setting) in alternating(configs, args.repeats):
            load = os.getloadavg()[0]
            if pipeline == "augtrain":
                r = child(AUGTRAIN_CHILD, augtrain_cfg(model, setting), args.warmup, steps, env)
                what = {"what": f"augtrain, later start ({setting})", "placement": setting}
            else:
                if args.pretrained and model == "efficientnet_lite0":
                    mean, std = LITE0_MEAN, LITE0_STD
                else:  # augtrain's standardize (pooled linear) or rescale
                    mean, std = (
                        ((0.5,) * 3, (0.5,) * 3) if args.pretrained else ((0,) * 3, (1,) * 3)
                    )
                cfg = {"folder": str(folder), "size": args.size, "model": model, "mean": mean,
                       "std": std, "batch_size": args.batch_size, "workers": setting,
                       "device": args.device, "amp": amp, "pretrained": args.pretrained}  # fmt: skip
                r = child(DATALOADER_CHILD, cfg, args.warmup, steps, env)
                what = {"what": f"DataLoader, {setting} workers, PIL", "workers": setting}
            add_row(
                {**what, "model": model, "repeat": repeat, "steps": steps, **r,
                 "load_at_start": load}
            )  # fmt: skip

    header = (
        f"{today()} - {machine()} - {args.device} - {n} JPEGs {args.photo_size}x"
        f"{args.photo_size}; augtrain cache {args.cache}, crop {args.size}, rrc-flip; batch "
        f"{args.batch_size}, {args.warmup} warm-up steps; torch threads "
        f"{args.threads or 'default'}; weights {'pretrained' if args.pretrained else 'random'}; "
        "processes one after another"
    )
    print("\n" + header)
    print(
        "| pipeline | model | repeat | spawn to first step | images/s (timed steps) | "
        "CPU ms per image | load at start |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ips = f"{r['images_per_s']:.1f} ({r['steps']})" if "images_per_s" in r else "-"
        cpu = f"{r['cpu_ms_per_image']:.1f}" if "cpu_ms_per_image" in r else "-"
        print(
            f"| {r['what']} | {r['model']} | {r.get('repeat', '-')} "
            f"| {r['first_step_s']:.1f} s | {ips} | {cpu} | {r['load_at_start']:.1f} |"
        )
    compared = ratios(rows, placements)
    for entry in compared:
        print(
            f"{entry['model']}, repeat {entry['repeat']}, augtrain {entry['placement']}: "
            + ", ".join(f"{k} {v:.2f}x" for k, v in entry.items() if k.startswith(("over", "cpu")))
        )
    record(
        path=args.out,
        name="photo_folder",
        figures={
            "settings": vars(args),
            "rows": rows,
            "ratios": compared,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
