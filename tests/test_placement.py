"""Data larger than device memory (data/placement.py, device.plan_placement): each split on
the device, in host memory or memory-mapped from disk, chosen by free memory (--placement
auto) or forced; the same batches, history and weights in every placement, resume included."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from fixtures import synthetic_arrays, synthetic_images, write_image_folder

import augtrain
from augtrain import device as dp
from augtrain.cli import main
from augtrain.data import load_data
from augtrain.data.arrays import ImageArrays
from augtrain.data.placement import (
    DeviceSplit,
    gather_sorted,
    is_memory_mapped,
    memory_mapped,
    place_splits,
)
from augtrain.device import plan_placement
from augtrain.errors import AugtrainError

GIB = 1 << 30
CPU = torch.device("cpu")


def arrays(n=40, size=12, seed=0):
    return synthetic_arrays(n, size, 12, seed)


def train_small(tmp_path, name, **kw):
    opts = dict(
        data=arrays(),
        model="cnn4",
        epochs=1,
        batch_size=8,
        runs_dir=str(tmp_path / "runs"),
        name=name,
        verbose=0,
        augment="crop-flip",
        seed=3,
    )
    opts.update(kw)
    return augtrain.train(**opts)


def without_timing(history):
    return [{k: v for k, v in h.items() if k not in ("seconds", "images_per_s")} for h in history]


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def mapping_of(t: torch.Tensor) -> str:
    """The /proc/self/maps line of the memory a tensor's data lies in."""
    address = t.data_ptr()
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
            if lo <= address < hi:
                return line
    return ""


# ----------------------------------------------------------------------------- batches
def test_every_placement_gives_the_same_batches(tmp_path):
    x, y = synthetic_images(30, 8, 3)
    split = ImageArrays(x, y)
    index = torch.tensor([7, 3, 29, 3, 0, 15])  # unsorted, one repeated
    want_x = torch.from_numpy(x)[index].permute(0, 3, 1, 2)
    placed = {
        kind: DeviceSplit.from_arrays(split, CPU, placement=kind, spill_dir=tmp_path)
        for kind in ("device", "host", "mmap")
    }
    for kind, s in placed.items():
        assert s.placement == kind
        bx, by = s.batch(index)
        assert torch.equal(bx, want_x), kind
        assert torch.equal(by, torch.from_numpy(y)[index]), kind
    if os.path.exists("/proc/self/maps"):  # the tensor's memory is the (unlinked) spill file
        assert ".spill." in mapping_of(placed["mmap"].x)
        assert ".spill." not in mapping_of(placed["host"].x)
    # the spill file is unlinked once mapped: nothing left in the folder
    assert list(tmp_path.iterdir()) == []


def test_gather_sorted_reads_in_file_order_and_restores_the_batch_order(monkeypatch):
    import augtrain.data.placement as placement

    data = torch.arange(50, dtype=torch.uint8).reshape(50, 1, 1, 1).expand(50, 2, 2, 1).clone()
    index = torch.tensor([40, 2, 17, 2, 9])
    seen = []

    def spy(host, idx, device):
        seen.append(idx.tolist())
        return dp.gather_to_device(host, idx, device)

    monkeypatch.setattr(placement, "gather_to_device", spy)
    out = gather_sorted(data, index, CPU)
    assert seen == [sorted(index.tolist())]
    assert out[:, 0, 0, 0].tolist() == index.tolist()


def test_a_cache_entry_is_mapped_as_it_is_and_arrays_are_spilled(tmp_path):
    folder = write_image_folder(tmp_path / "imgs", per_class=4, size=8)
    load_data(folder, cache=tmp_path / "cache")  # decodes and writes the entry
    again = load_data(folder, cache=tmp_path / "cache")
    assert is_memory_mapped(again.train.x)
    assert memory_mapped(again.train.x, tmp_path / "spill") is again.train.x
    assert not (tmp_path / "spill").exists()  # no copy of what is mapped already
    plain = np.array(again.train.x)
    mapped = memory_mapped(plain, tmp_path / "spill")
    assert is_memory_mapped(mapped) and np.array_equal(mapped, plain)
    assert list((tmp_path / "spill").iterdir()) == []


# ------------------------------------------------------------------------------- choice
def probe(free):
    return lambda *a: (free, free)


def test_auto_picks_device_then_host_then_mmap_by_free_memory():
    sizes, names = [3 * GIB, 2 * GIB], ["train", "val"]
    big = probe(64 * GIB)
    plan = plan_placement(sizes, CPU, names, "auto", [False, False], big, big)
    assert plan.kinds == ("device", "device") and plan.message is None
    # the device holds 6 - 1.2 headroom: train only; the host has room for val
    plan = plan_placement(sizes, CPU, names, "auto", [False, False], probe(6 * GIB), big)
    assert plan.kinds == ("device", "host")
    assert plan.message.startswith("data: val (2.00 GiB) does not fit in cpu's 6.00 GiB")
    # the host is short too (4 GiB - 1 GiB headroom): train (first in need) read into host
    # memory, val left mapped
    small = probe(GIB // 2)
    plan = plan_placement(sizes, CPU, names, "auto", [False, False], small, probe(4 * GIB))
    assert plan.kinds == ("host", "mmap")
    assert "\n" not in plan.message and "nor the host's 4.00 GiB available" in plan.message
    assert "train kept in host memory" in plan.message and "val memory-mapped" in plan.message
    assert plan.pinned == (True, False)  # read into (pinned) memory; mapped
    # nothing fits anywhere: both mapped; a split already in memory stays there, unpinned
    # (no room for a pinned second copy)
    plan = plan_placement(sizes, CPU, names, "auto", [False, True], small, small)
    assert plan.kinds == ("mmap", "host") and plan.pinned == (False, False)
    plan = plan_placement(sizes, CPU, names, "auto", [True, True], small, big)
    assert plan.kinds == ("host", "host") and plan.pinned == (True, True)
    # a plain CPU (no device figure): in-memory data stays as it is; a mapped split too
    # large for the host's memory stays mapped
    plan = plan_placement(sizes, CPU, names, "auto", [True, False], None, small)
    assert plan.kinds == ("device", "mmap")
    plan = plan_placement(sizes, CPU, names, "auto", [False, False], None, big)
    assert plan.kinds == ("device", "device")


def test_forced_placements_and_a_bad_one():
    plan = plan_placement([GIB], CPU, ["train"], "mmap")
    assert plan.kinds == ("mmap",)
    assert plan.message == (
        "data: --placement mmap: train (1.00 GiB) for cpu: memory-mapped from disk, each "
        "batch read by index"
    )
    assert plan_placement([GIB], CPU, ["train"], "device").message is None
    with pytest.raises(AugtrainError, match=r"--placement 'disk': choose from auto, device"):
        plan_placement([GIB], CPU, ["train"], "disk")


def test_place_splits_with_short_memory_maps_a_cached_folder(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "imgs", per_class=4, size=8)
    load_data(folder, cache=tmp_path / "cache", validation_split=0.5)
    data = load_data(folder, cache=tmp_path / "cache", validation_split=0.5)
    placed = place_splits(
        {"train": data.train, "val": data.val, "test": None},
        CPU,
        device_memory=probe(0),
        host_memory=probe(0),
    )
    assert placed["test"] is None
    assert placed["train"].placement == "mmap" and placed["val"].placement == "mmap"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "memory-mapped from disk" in lines[0]


def test_host_memory_probe_reads_the_os_or_the_test_switch(monkeypatch):
    monkeypatch.delenv(dp.TEST_HOST_FREE_BYTES_ENV, raising=False)
    found = dp.host_free_memory()
    if found is not None:
        free, total = found
        assert 0 < free <= total
    monkeypatch.setenv(dp.TEST_HOST_FREE_BYTES_ENV, "12345")
    assert dp.host_free_memory() == (12345, 12345)


# ----------------------------------------------------------------------------- training
def test_each_forced_placement_trains_the_same_run(tmp_path):
    runs = {
        kind: train_small(tmp_path, kind, placement=kind) for kind in ("device", "host", "mmap")
    }
    for kind, run in runs.items():
        assert run.trainer.train.placement == kind
        assert run.trainer.val.placement == kind
        config = json.loads((run.path / "config.json").read_text())
        assert config["config"]["placement"] == kind
    base = runs["device"]
    for kind in ("host", "mmap"):
        assert without_timing(runs[kind].history) == without_timing(base.history), kind
        assert same_weights(runs[kind].model, base.model), kind


def test_resume_across_placements_is_exact(tmp_path):
    straight = train_small(tmp_path, "straight", epochs=2, placement="device")
    first = train_small(tmp_path, "split", epochs=1, placement="mmap")
    resumed = augtrain.train(
        resume=str(first.path), data=arrays(), epochs=2, placement="host", verbose=0
    )
    assert resumed.trainer.train.placement == "host"
    assert without_timing(resumed.history) == without_timing(straight.history)
    assert same_weights(resumed.model, straight.model)


def test_auto_under_short_memory_trains_from_the_mapped_cache(tmp_path, monkeypatch, capsys):
    """The GPU path on the CPU: too little device and host memory -> the folder's cache
    entry stays memory-mapped; said once, before training."""
    monkeypatch.setenv(dp.TEST_ACCELERATOR_ENV, "1")
    monkeypatch.setenv(dp.TEST_FREE_BYTES_ENV, str(GIB // 2))
    monkeypatch.setenv(dp.TEST_HOST_FREE_BYTES_ENV, str(GIB // 2))
    folder = write_image_folder(tmp_path / "imgs", per_class=6, size=12)
    kw = dict(data=str(folder), validation_split=0.34, amp="off", channels_last="off")
    # the first run decodes (arrays in memory: kept in host memory), the second maps the cache
    first = train_small(tmp_path, "first", **kw)
    assert first.trainer.train.placement == "host"
    capsys.readouterr()
    run = train_small(tmp_path, "mapped", verbose=1, **kw)
    assert run.trainer.train.placement == "mmap" and run.trainer.val.placement == "mmap"
    out = capsys.readouterr().out.splitlines()
    said = [line for line in out if "memory-mapped" in line]
    assert len(said) == 1 and said[0].startswith("data: train (")
    assert without_timing(run.history) == without_timing(first.history)


def test_cli_placement_flag_and_its_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    np.savez(tmp_path / "d.npz", **arrays())
    args = ["train", "--data", str(tmp_path / "d.npz"), "--epochs", "1", "--batch-size", "8"]
    args += ["--runs-dir", str(runs), "--name", "r", "--verbose", "0"]
    assert main([*args, "--placement", "mmap"]) == 0
    assert json.loads((runs / "r" / "config.json").read_text())["config"]["placement"] == "mmap"
    assert main([*args, "--placement", "disk", "--name", "bad"]) == 2
    assert "--placement" in capsys.readouterr().err
    with pytest.raises(
        AugtrainError, match="--placement .gpu.: must be one of auto, device, host, mmap"
    ):
        train_small(tmp_path, "bad", placement="gpu")
    assert os.listdir(runs) == ["r"]
