"""The numba CPU kernels against the torch route (the GPU's), which the other geometry
tests pin to their definitions and to keras-preprocessing: every fill mode, both
interpolations, uint8 and float, NCHW and channels-last batches."""

import functools
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from augtrain.augment import cpu_kernels, geometry
from augtrain.augment import functional as F

pytest.importorskip("numba")


@pytest.fixture(autouse=True, params=["serial", "threads"])
def split(request, monkeypatch):
    """Every test twice: the serial compilation on the calling thread (small batches, the
    training loop), and the parallel one on numba's threads (large batches) however small."""
    if request.param == "threads":
        monkeypatch.setattr(cpu_kernels, "PARALLEL_MIN_VALUES", 0)
        monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # even if torch runs on one
    return request.param


def images(b=6, c=3, h=9, w=11, seed=0, dtype=torch.uint8, channels_last=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)
    x = x if dtype == torch.uint8 else x.to(dtype) / 255
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def wild_matrices(b: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    """Rotations, shears, zooms in and out, shifts past the edge: every fill path is hit."""
    g = torch.Generator().manual_seed(seed)

    def u(lo, hi):
        return torch.rand(b, generator=g, dtype=torch.float64) * (hi - lo) + lo

    return geometry.keras_matrix(
        h,
        w,
        theta=u(-180, 180),
        tx=u(-h, h),
        ty=u(-w, w),
        shear=u(-30, 30),
        zx=u(0.4, 2.5),
        zy=u(0.4, 2.5),
        flip_horizontal=torch.rand(b, generator=g) < 0.5,
    )


def torch_route(monkeypatch, fn):
    with monkeypatch.context() as m:
        m.setenv("AUGTRAIN_CPU_KERNELS", "0")
        assert not cpu_kernels.enabled()
        return fn()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
@pytest.mark.parametrize("mode", geometry.WARP_FILL_MODES)
def test_warp_matches_the_torch_route(monkeypatch, mode, interp, dtype, channels_last):
    x = images(dtype=dtype, channels_last=channels_last)
    m = wild_matrices(len(x), 9, 11)
    assert cpu_kernels.usable(x)

    def run():
        return geometry.warp(
            x,
            m,
            out_size=(8, 13),
            mode=mode,
            cval=77.0,
            interpolation=interp,
            memory_format=torch.preserve_format,
        )

    ours, theirs = run(), torch_route(monkeypatch, run)
    assert ours.shape == theirs.shape == (6, 3, 8, 13) and ours.dtype == dtype
    if dtype == torch.uint8:
        diff = (ours.int() - theirs.int()).abs()
        # the torch route rounds a float32 grid; ties can land one level apart
        assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
    else:
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    # preserve_format keeps the input's memory layout (the Keras front end's NHWC arrays
    # come back NHWC without a copy); by default the output is contiguous NCHW
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert ours.is_contiguous(memory_format=layout) and theirs.is_contiguous(memory_format=layout)
    default = geometry.warp(x, m, mode=mode, interpolation=interp)
    assert default.is_contiguous()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("mode", geometry.WARP_FILL_MODES)
def test_uint8_to_float_warp_equals_warping_the_float_copy(monkeypatch, mode, channels_last):
    """out_dtype=float32 reads uint8 and samples exactly what the cast batch gives."""
    x = images(h=16, w=16, channels_last=channels_last)
    m = wild_matrices(len(x), 16, 16, seed=3)
    ours = geometry.warp(x, m, mode=mode, cval=9.0, out_dtype=torch.float32)
    assert ours.dtype == torch.float32
    cast_first = geometry.warp(x.float(), m, mode=mode, cval=9.0)
    torch.testing.assert_close(ours, cast_first, atol=1e-4, rtol=0)
    theirs = torch_route(
        monkeypatch, lambda: geometry.warp(x, m, mode=mode, cval=9.0, out_dtype=torch.float32)
    )
    torch.testing.assert_close(ours, theirs, atol=2e-3, rtol=0)
    with pytest.raises(ValueError, match="cannot give"):
        geometry.warp(x.float(), m, out_dtype=torch.uint8)


def test_uint8_equals_float_rounded():
    x = images(h=16, w=16)
    m = wild_matrices(len(x), 16, 16, seed=5)
    a = geometry.warp(x, m, mode="reflect")
    b = geometry.warp(x.double(), m, mode="reflect")
    assert (a.double() - b).abs().max() <= 0.5 + 1e-3


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("mode", F.FILL_MODES)
def test_crop_matches_the_torch_route(monkeypatch, mode, dtype, channels_last):
    x = images(b=8, dtype=dtype, channels_last=channels_last)
    g = torch.Generator().manual_seed(2)
    # windows from far outside to far inside, larger and smaller than the image
    top = torch.randint(-12, 12, (8,), generator=g)
    left = torch.randint(-14, 14, (8,), generator=g)
    fh = torch.rand(8, generator=g) < 0.5
    fv = torch.rand(8, generator=g) < 0.5
    for out_h, out_w in ((9, 11), (5, 7), (20, 3)):
        # with rows flipped too the torch kernel gathers, without it copies padded rows
        gather = functools.partial(F.crop, x, top, left, out_h, out_w, fh, fv)
        rows = functools.partial(F.crop, x, top, left, out_h, out_w, fh)
        for fn in (gather, rows):
            ours = fn(mode=mode, fill=0.25)
            theirs = torch_route(monkeypatch, lambda: fn(mode=mode, fill=0.25))  # noqa: B023
            assert torch.equal(ours, theirs), (fn is gather, out_h, out_w)


def test_without_numba_the_torch_route_runs(monkeypatch):
    monkeypatch.setattr(cpu_kernels, "_kernels", False)  # as when `import numba` failed
    assert not cpu_kernels.enabled()
    x = images()
    out = geometry.warp(x, geometry.identity(len(x)), mode="wrap")
    assert torch.equal(out, x)


def test_concurrent_calls_from_threads_are_safe():
    """The prefetching iterators may augment from a worker thread while the main
    thread augments too."""
    x = images(b=64, h=32, w=32)
    m = wild_matrices(64, 32, 32)
    expected = geometry.warp(x, m, mode="nearest")
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(torch.equal(geometry.warp(x, m, mode="nearest"), expected))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 60 and all(results)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_makes_its_own_threads(monkeypatch):
    """A child forked after the kernels' threads ran (DataLoader workers, multiprocessing)
    must not hang on threads that exist only in its parent, nor be terminated (as numba's
    OpenMP layer does)."""
    monkeypatch.setattr(cpu_kernels, "PARALLEL_MIN_VALUES", 0)  # threads, small or not
    x = images(b=64, h=32, w=32)
    m = wild_matrices(64, 32, 32)
    with cpu_kernels.limit_threads(2):
        expected = geometry.warp(x, m, mode="nearest")  # numba's threads have now run
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the warp completes and matches
        ok = False
        try:
            # torch's own OpenMP pool is unusable after a fork too (data-loader workers set
            # one thread); the kernels' threads are what is tested here
            torch.set_num_threads(1)
            with cpu_kernels.limit_threads(2):
                out = geometry.warp(x, m, mode="nearest")
            ok = np.array_equal(out.numpy(), expected.numpy())
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the forked child hung on its parent's kernel threads")


def test_one_torch_thread_drops_to_one_thread_on_the_cpu_only_and_restores(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    with cpu_kernels.one_torch_thread("cpu"):
        assert calls == [1]
    assert calls == [1, 3]
    with pytest.raises(RuntimeError), cpu_kernels.one_torch_thread(torch.device("cpu")):
        raise RuntimeError  # restored on the way out of an error too
    assert calls == [1, 3, 1, 3]
    with cpu_kernels.one_torch_thread("meta"):  # other devices: torch's threads untouched
        pass
    assert calls == [1, 3, 1, 3]


@pytest.mark.parametrize("channels", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_warp_other_channel_counts_match_the_torch_route(monkeypatch, channels, dtype):
    """The kernel unrolls RGB; grayscale, two-channel and RGBA batches take its general loop."""
    x = images(c=channels, dtype=dtype)
    m = wild_matrices(len(x), 9, 11)
    for mode in ("nearest", "constant"):

        def run(mode=mode):
            return geometry.warp(x, m, mode=mode, cval=77.0, interpolation="bilinear")

        ours, theirs = run(), torch_route(monkeypatch, run)
        assert ours.shape == theirs.shape == (6, channels, 9, 11)
        if dtype == torch.uint8:
            diff = (ours.int() - theirs.int()).abs()
            assert diff.max() <= 1 and (diff > 0).float().mean() < 0.01
        else:
            torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


def test_a_batch_split_over_many_tasks_equals_its_images_done_one_by_one():
    """The kernels hand out runs of whole images (`task_images`, MAX_TASKS at most); a
    batch not a multiple of that count, float64 included (the warp's plane stays float64),
    loses no image at a run's edges."""
    from augtrain.augment import numba_kernels

    n = 2 * numba_kernels.MAX_TASKS + 5
    g = torch.Generator().manual_seed(11)
    top, left = torch.randint(-5, 6, (n,), generator=g), torch.randint(-5, 6, (n,), generator=g)
    flips = torch.rand(n, generator=g) < 0.5
    for dtype in (torch.uint8, torch.float64):
        x = images(b=n, dtype=dtype)
        m = wild_matrices(n, 9, 11, seed=7)
        whole = geometry.warp(x, m, mode="reflect")
        one_by_one = [geometry.warp(x[i : i + 1], m[i : i + 1], mode="reflect") for i in range(n)]
        assert whole.dtype == dtype and torch.equal(whole, torch.cat(one_by_one))
        for mode in ("reflect", "constant"):
            whole = F.crop(x, top, left, 8, 8, flips, flips, mode, 3.0)
            one_by_one = [
                F.crop(x[s], top[s], left[s], 8, 8, flips[s], flips[s], mode, 3.0)
                for s in (slice(i, i + 1) for i in range(n))
            ]
            assert torch.equal(whole, torch.cat(one_by_one))


def test_parameter_math_in_numpy_equals_the_torch_route(monkeypatch):
    """On the CPU hashes and matrices run in NumPy; the torch code (the GPU's) must give
    the same numbers, so a sample's transform does not depend on the device."""
    from augtrain.augment.random import Draw

    def both(fn):
        numpy_route = fn()
        with monkeypatch.context() as m:
            m.setattr(cpu_kernels, "array_module", lambda device: torch)
            return numpy_route, fn()

    index = torch.tensor([0, 7, 123456789, 2**31 + 5])
    ours, theirs = both(lambda: Draw(3, 2, index, "0:RandomAffine").bits(10))
    assert ours.dtype == theirs.dtype == torch.int64
    assert torch.equal(ours, theirs) and int(ours.max()) < 2**32
    for low, high in ((0.0, 1.0), (-0.2, 0.7), (0.8, 1.2)):
        ours, theirs = both(lambda low=low, high=high: Draw(3, 2, index, "u").uniform(low, high, 4))
        assert ours.dtype == theirs.dtype == torch.float32 and torch.equal(ours, theirs)

    # every parameter of the Keras op, with shifts as fractions, pixel counts and choices
    from augtrain.augment import RandomAffine

    many = torch.arange(300) * 7919
    for shifts in (0.1, 3, [-2, 0, 2.5]):
        op = RandomAffine(
            rotation_range=30,
            width_shift_range=shifts,
            height_shift_range=shifts,
            shear_range=10,
            zoom_range=0.2,
            horizontal_flip=True,
            vertical_flip=True,
        )
        ours, theirs = both(lambda op=op: op.params(Draw(1, 0, many, "0:RandomAffine"), (9, 11)))
        for key, value in ours.items():
            theirs_value = torch.as_tensor(theirs[key])
            assert torch.equal(torch.as_tensor(value), theirs_value), key
        x = images(b=300)
        ours, theirs = both(lambda op=op, x=x: op(x, Draw(1, 0, many, "0:RandomAffine")))
        diff = (ours.int() - theirs.int()).abs()
        assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3

    from augtrain.augment import RandomCrop

    crop = RandomCrop(padding=4, flip=True, padding_mode="reflect")
    x = images(b=300)
    ours, theirs = both(lambda: crop(x, Draw(1, 0, many, "0:RandomCrop")))
    assert torch.equal(ours, theirs)  # same offsets and flips: the same pixels

    ours, theirs = both(lambda: wild_matrices(64, 9, 11))  # every parameter per sample
    assert ours.dtype == theirs.dtype == torch.float64 and ours.shape == (64, 2, 3)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
    scalars = dict(theta=90.0, tx=1.0, shear=0.0, flip_vertical=True, batch=3)
    ours, theirs = both(lambda: geometry.keras_matrix(5, 7, **scalars, center="true"))
    assert torch.equal(ours, theirs)  # snapped to exact integers on both routes


_THREADING_SCRIPT = """
import sys
if sys.argv[1] == "hidden":
    sys.modules["numba.np.ufunc.tbbpool"] = None  # the TBB layer's library cannot be loaded
import numpy as np, torch
from augtrain.augment import cpu_kernels, geometry
torch.manual_seed(0)
x = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)  # large: the parallel route
m = geometry.keras_matrix(32, 32, theta=torch.linspace(-40, 40, 256, dtype=torch.float64))
with cpu_kernels.limit_threads(2):
    out = geometry.warp(x, m, mode="reflect")
with cpu_kernels.limit_threads(1):
    serial = geometry.warp(x, m, mode="reflect")
import numba
layer = numba.threading_layer() if cpu_kernels._load().PARALLEL else "serial"
print(layer, bool(torch.equal(out, serial)))
"""


@pytest.mark.parametrize("library", ["found", "hidden"])
def test_parallel_kernels_load_tbb_in_this_environment_or_fall_back_quietly(split, library):
    """In a virtual environment (as users install) pip's tbb library lies outside the
    loader's path; the kernels load it themselves. Where no threading layer loads at all,
    large batches run the serial kernels: same pixels, no crash, nothing printed."""
    import importlib.metadata
    import subprocess
    import sys

    if split == "threads":
        pytest.skip("one run per case is enough: the script picks its own routes")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONWARNINGS"] = "default"  # a warning would show on stderr
    done = subprocess.run(
        [sys.executable, "-c", _THREADING_SCRIPT, library],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    try:
        importlib.metadata.version("tbb")
        expected = "tbb" if library == "found" else "serial"
    except importlib.metadata.PackageNotFoundError:
        expected = "serial"
    assert done.stdout.split() == [expected, "True"]
