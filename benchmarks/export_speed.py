"""CPU inference speed of the exported model: ONNX Runtime against PyTorch eager (and the
TorchScript export), same cnn4 weights, same CIFAR-10 test images, same threads.

    python benchmarks/export_speed.py [--run RUN] [--batch-sizes 1 32 256] [--threads 2]

Without --run a 1-epoch cnn4 run on every 10th training image is made in a temp folder (speed
does not depend on the weights). Each backend runs the 10,000 test images (float32 NCHW
in [0, 1], normalisation inside the model) in batches; rounds alternate between backends
and the median is kept. The exports are checked first: max abs difference of the logits.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import CIFAR_JPEG, machine, quick_cnn4_run, record, today

from augtrain.data import load_data
from augtrain.report.export import export_run
from augtrain.training.checkpoint import load_model


def timed(fn, x: np.ndarray, batch: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        fn(x[i : i + batch])
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=10000)
    args = ap.parse_args()
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    data = load_data(str(CIFAR_JPEG))
    x = np.ascontiguousarray(data.test.x[: args.images].transpose(0, 3, 1, 2), dtype=np.float32)
    x /= 255.0
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = quick_cnn4_run(data, tmp)
        onnx_file, ts_file = Path(tmp) / "m.onnx", Path(tmp) / "m.pt"
        diff_onnx = export_run(run, "onnx", onnx_file)["max_abs_diff"]
        diff_ts = export_run(run, "torchscript", ts_file)["max_abs_diff"]
        model, ckpt = load_model(run)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
        scripted = torch.jit.load(str(ts_file))

        def eager(b: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(torch.from_numpy(b)).numpy()

        def torchscript(b: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return scripted(torch.from_numpy(b)).numpy()

        def onnxruntime(b: np.ndarray) -> np.ndarray:
            return session.run(None, {"images": b})[0]

        backends = {
            "PyTorch eager": eager,
            "TorchScript export": torchscript,
            "ONNX Runtime": onnxruntime,
        }
        ref = eager(x[:512])
        for name, fn in backends.items():
            assert np.abs(fn(x[:512]) - ref).max() < 1e-4, name
        results: dict[tuple[str, int], list[float]] = {}
        for batch in args.batch_sizes:
            n = min(len(x), 2000) if batch == 1 else len(x)  # batch 1 is slow: fewer images
            for fn in backends.values():
                timed(fn, x[: min(n, 512)], batch)  # warm-up
            for _ in range(args.repeats):
                for name, fn in backends.items():
                    results.setdefault((name, batch), []).append(n / timed(fn, x[:n], batch))

    print(
        f"{today()} - {machine()}, {args.threads} threads - {ckpt['model']['name']} "
        f"{ckpt['model']['input_size']}, CIFAR-10 test images; onnxruntime {ort.__version__}; "
        f"max abs diff vs eager: ONNX {diff_onnx:.1e}, TorchScript {diff_ts:.1e}"
    )
    names = list(backends)
    print("| batch | " + " | ".join(f"{n} img/s" for n in names) + " | ONNX Runtime / eager |")
    print("|---|" + "---|" * (len(names) + 1))
    rows = []
    for batch in args.batch_sizes:
        med = {n: statistics.median(results[(n, batch)]) for n in names}
        cells = " | ".join(f"{med[n]:,.0f}" for n in names)
        print(f"| {batch} | {cells} | {med['ONNX Runtime'] / med['PyTorch eager']:.2f}x |")
        rows.append(
            {"batch": batch, "images_per_s": med, "runs": {n: results[(n, batch)] for n in names}}
        )
    figures = {
        "model": ckpt["model"]["name"],
        "threads": args.threads,
        "onnxruntime": ort.__version__,
    }
    figures.update(max_abs_diff_onnx=diff_onnx, max_abs_diff_torchscript=diff_ts, rows=rows)
    print(f"record: {record('export_speed', figures)}")


if __name__ == "__main__":
    main()
