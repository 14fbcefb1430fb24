"""The benchmark scripts, without running a benchmark: each one says what it measures (not
an issue number), answers --help, and writes its JSON record through one helper,
_common.record (commit, machine, date, command and the figures)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))
import _common  # noqa: E402
import gpu_check  # noqa: E402
import photo_folder  # noqa: E402

SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "_common.py")
# Writes results.json of its own, holding the stage scripts' records.
OWN_RESULTS = {"gpu_check.py"}


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def calls(module: ast.Module, name: str) -> int:
    return sum(
        1
        for node in ast.walk(module)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    )


def test_there_are_scripts():
    assert len(SCRIPTS) >= 12


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_docstring_says_what_is_measured(path):
    doc = ast.get_docstring(tree(path))
    assert doc, f"{path.name} has no docstring"
    first = doc.splitlines()[0]
    assert not re.search(r"\bissue \d+", first, re.I), f"{path.name}: {first!r}"


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_writes_its_record_one_way(path):
    module = tree(path)
    if path.name in OWN_RESULTS:
        assert calls(module, "child_record") >= 3 and "commit()" in path.read_text()
        return
    assert calls(module, "record") >= 1, f"{path.name} never calls _common.record"
    assert calls(module, "write_json") == 0, f"{path.name}: write JSON through record() only"


def test_every_help_works():
    """All scripts' --help in one interpreter (torch imported once): exit 0 and a usage."""
    child = (
        "import contextlib, io, json, runpy, sys\n"
        f"sys.path.insert(0, {str(BENCH)!r})\n"
        "for path in sys.argv[1:]:\n"
        "    sys.argv = [path, '--help']\n"
        "    out = io.StringIO()\n"
        "    code = 'no exit'\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(out):\n"
        "            runpy.run_path(path, run_name='__main__')\n"
        "    except SystemExit as e:\n"
        "        code = e.code or 0\n"
        "    print(json.dumps([path, code, out.getvalue()]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", child, *map(str, SCRIPTS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]
    assert [Path(p).name for p, _, _ in results] == [p.name for p in SCRIPTS]
    for path, code, out in results:
        assert code == 0 and "usage:" in out, (path, code, out[-500:])


def test_record_holds_commit_machine_date_command_and_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/x.py", "--repeats", "2"])
    path = _common.record("x", {"images_per_s": 12.5}, tmp_path / "sub" / "x.json")
    data = json.loads(path.read_text())
    assert set(data) == {"benchmark", "commit", "machine", "date", "command", "figures"}
    assert data["benchmark"] == "x" and data["figures"] == {"images_per_s": 12.5}
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", data["commit"]), data["commit"]
    assert data["command"].endswith("benchmarks/x.py --repeats 2")
    assert "torch" in data["machine"] and re.match(r"\d{4}-\d\d-\d\d ", data["date"])
    monkeypatch.setattr(_common, "RECORDS", tmp_path / "records")
    assert _common.record("y", {}) == tmp_path / "records" / "y.json"


def test_gpu_check_reads_records_and_bare_figures(tmp_path):
    path = tmp_path / "r.json"
    assert gpu_check.child_record(path) == {}
    path.write_text(json.dumps({"commit": "abc", "figures": {"rows": [1]}, "machine": "m"}))
    assert gpu_check.child_record(path) == {"rows": [1], "commit": "abc"}
    path.write_text(json.dumps({"runs": [2]}))
    assert gpu_check.child_record(path) == {"runs": [2]}


def test_photo_folder_alternates_the_order_of_its_configurations():
    order = photo_folder.alternating(["host", "mmap", "loader"], 3)
    assert [c for _, c in order] == ["host", "mmap", "loader", "loader", "mmap", "host"] + [
        "host",
        "mmap",
        "loader",
    ]
    assert [r for r, _ in order] == [0] * 3 + [1] * 3 + [2] * 3


def test_photo_folder_ratios_compare_within_one_repeat():
    def row(repeat, ips, cpu, **what):
        return {"model": "m", "repeat": repeat, "images_per_s": ips, "cpu_ms_per_image": cpu,
                **what}  # fmt: skip

    rows = [
        {"what": "first start", "model": "m"},
        row(0, 100.0, 2.0, placement="host"),
        row(0, 50.0, 4.0, placement="mmap"),
        row(0, 40.0, 8.0, workers=2),
        row(1, 300.0, 2.0, placement="host"),  # a later, faster repeat: its own ratios
        row(1, 150.0, 1.0, placement="mmap"),
        row(1, 100.0, 4.0, workers=2),
    ]
    got = {(e["repeat"], e["placement"]): e for e in photo_folder.ratios(rows, ["host", "mmap"])}
    assert got[0, "host"]["over_dataloader_2w"] == pytest.approx(2.5)
    assert got[0, "host"]["cpu_dataloader_2w_over_augtrain"] == pytest.approx(4.0)
    assert "over_host" not in got[0, "host"]
    assert got[0, "mmap"]["over_host"] == pytest.approx(0.5)
    assert got[1, "mmap"]["over_host"] == pytest.approx(0.5)
    assert got[1, "mmap"]["over_dataloader_2w"] == pytest.approx(1.5)
    assert got[1, "mmap"]["cpu_dataloader_2w_over_augtrain"] == pytest.approx(4.0)
