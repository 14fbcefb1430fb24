"""Whether `--compile` pays off for the speed preset's network on this machine: epoch time
eager against torch.compile, and the compile time.

    python benchmarks/compile_payoff.py [--widths 32 128 128] [--batch 1024] [--steps 5]

Times speednet's training step (forward, loss, backward, Nesterov SGD step) on random
32x32 batches, eager against torch.compile, with the autocast and memory format the preset
uses here (bf16 + channels_last on a CPU with native bf16, else float32; bf16 on CUDA),
and reports the compile time and the epoch time each would give (49 steps = 50,000
images). Compiling pays off when (eager - compiled) * epochs exceeds the compile time.
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import machine, record, today

from augtrain.device import cpu_has_fast_bf16
from augtrain.models import create_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", type=int, nargs=3, default=[32, 128, 128])
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=13, help="epochs of the recipe")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    bf16 = cuda or cpu_has_fast_bf16()
    torch.manual_seed(0)
    net = create_model("speednet", num_classes=10, widths=args.widths).to(dev)
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, 32, 32, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), device=dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.85, nesterov=True)

    def step(model) -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def per_step(model) -> float:
        best = float("inf")
        for _ in range(3):
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(model)
            sync()
            best = min(best, (time.perf_counter() - t0) / args.steps)
        return best

    step(net)
    eager = per_step(net)
    compiled_net = torch.compile(net)
    sync()
    t0 = time.perf_counter()
    step(compiled_net)
    step(compiled_net)
    sync()
    compile_s = time.perf_counter() - t0
    compiled = per_step(compiled_net)
    steps_per_epoch = -(-50_000 // args.batch)
    e, c = eager * steps_per_epoch, compiled * steps_per_epoch
    saving = (e - c) * args.epochs
    print(f"\n{today()} - {machine()} - speednet {args.widths}, batch {args.batch}, bf16 {bf16}")
    print("| mode | epoch seconds (49 steps) | compile seconds |")
    print("|---|---|---|")
    print(f"| eager | {e:.1f} | - |")
    print(f"| torch.compile | {c:.1f} | {compile_s:.1f} |")
    print(
        f"over {args.epochs} epochs compiling saves {saving:.1f} s against {compile_s:.1f} s "
        f"of compilation: {'pays off' if saving > compile_s else 'does not pay off'}"
    )
    figures = {"widths": args.widths, "batch": args.batch, "bf16": bf16, "epochs": args.epochs}
    figures.update(eager_epoch_s=e, compiled_epoch_s=c, compile_s=compile_s, saving_s=saving)
    print(f"record: {record('compile_payoff', figures)}")


if __name__ == "__main__":
    main()
