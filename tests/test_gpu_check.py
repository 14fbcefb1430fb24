"""benchmarks/gpu_check.py, the prepared GPU check: its bookkeeping (every stage gets a
status, a failing or overrunning stage does not stop the later ones, the child of a stage
that overran is killed), its reading of the peer's output, and its plan (the dry run
passes every flag that the GPU plan passes). The dry run itself runs in .ci/smoke."""

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402

PEER_OUTPUT = """prepared /tmp/x/cifar10/train.pt: 50000 images, classes [...]
run 0: acc=0.9041 train_s=3.31 eval_s=0.21
run 1: acc=0.9049 train_s=3.29 eval_s=0.20
airbench94 runs=2 acc_mean=0.9045 acc_std=0.0006 train_s_mean=3.30 eval_s_mean=0.20
"""


def test_parse_peer_reads_runs_and_summary():
    report = gpu_check.parse_peer(PEER_OUTPUT)
    assert [r["accuracy"] for r in report["runs"]] == [0.9041, 0.9049]
    assert report["summary"]["runs"] == 2
    assert report["summary"]["accuracy_mean"] == pytest.approx(0.9045)
    assert report["summary"]["train_s_mean"] == pytest.approx(3.30)
    assert report["summary_line"].startswith("airbench94 runs=2")
    assert gpu_check.parse_peer("Traceback ...\nRuntimeError: no GPU\n") == {"runs": []}


def alive(pid: int) -> bool:
    """Running, not gone nor a zombie (whose parent, killed, left it to a reaper)."""
    time.sleep(0.3)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_every_stage_gets_a_status_and_failures_do_not_stop_the_rest(tmp_path, monkeypatch):
    pid_file = tmp_path / "grandchild.pid"

    def env(c, limit):
        c.cuda = False
        return {"status": "ok", "torch": "test"}

    def smoke(c, limit):
        raise RuntimeError("the smoke broke")

    def speed(c, limit):
        # a child that starts a grandchild and outlives its limit: both must be killed
        code = (
            "import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
        )
        step = c.run("speed", c.python("-c", code), 3)
        return {"status": gpu_check.failure(step, "speed.py")}

    ran = []

    def later(name):
        def stage(c, limit):
            ran.append(name)
            return {"status": "ok"}

        return stage

    monkeypatch.setattr(gpu_check, "stage_env", env)
    monkeypatch.setattr(gpu_check, "stage_smoke", smoke)
    monkeypatch.setattr(gpu_check, "stage_speed", speed)
    monkeypatch.setattr(gpu_check, "stage_augment", later("augment"))
    monkeypatch.setattr(gpu_check, "stage_ddp", later("ddp"))
    monkeypatch.setattr(gpu_check, "stage_photo", later("photo"))
    t0 = time.monotonic()
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path / "out")])
    assert time.monotonic() - t0 < 30
    assert code == 1  # a stage failed

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    stages = results["stages"]
    assert list(stages) == list(gpu_check.STAGES)
    assert stages["env"]["status"] == "ok"
    assert stages["smoke"]["status"] == "failed: RuntimeError: the smoke broke"
    assert stages["speed"]["status"].startswith("timeout: speed.py ran out of time")
    assert stages["peer"]["status"] == "skipped: no CUDA"
    assert stages["augment"]["status"] == stages["ddp"]["status"] == "ok"
    assert ran == ["augment", "ddp", "photo"]
    assert all("seconds" in st and "limit_s" in st for st in stages.values())
    assert not alive(int(pid_file.read_text()))

    text = (tmp_path / "out" / "results.txt").read_text()
    for name in gpu_check.STAGES:
        assert f"| {name} | {stages[name]['status']} |" in text
    assert "===== speed:" in (tmp_path / "out" / "gpu_check.log").read_text()


def test_the_overall_deadline_skips_what_no_longer_fits(tmp_path, monkeypatch):
    def slow_env(c, limit):  # leaves less than the 5 s that a stage needs at least
        time.sleep(2.5)
        return {"status": "ok"}

    monkeypatch.setattr(gpu_check, "stage_env", slow_env)
    code = gpu_check.main(["--dry-run", "--out", str(tmp_path), "--deadline", "7"])
    stages = json.loads((tmp_path / "results.json").read_text())["stages"]
    assert stages["env"]["status"] == "ok"
    for name in gpu_check.STAGES[1:]:
        assert stages[name]["status"] == "skipped: out of time (the overall deadline)"
    assert code == 0  # skipped is no failure


def planned_commands(tmp_path: Path, dry: bool, monkeypatch) -> dict[str, list[list[str]]]:
    """The commands each stage would run (a CUDA machine, every child succeeding)."""
    monkeypatch.setattr(gpu_check, "make_folder", lambda root, *sizes: root.mkdir(parents=True))
    for split in ("train", "test"):
        (tmp_path / "cifar" / split).mkdir(parents=True, exist_ok=True)
    (tmp_path / "peer_airbench.py").write_text("")
    args = gpu_check.argparse.Namespace(
        dry_run=dry, out=str(tmp_path / "out"), data=str(tmp_path / "cifar"), peer=str(tmp_path)
    )
    args.deadline = None
    check = gpu_check.Check(args)
    check.cuda = True
    commands: dict[str, list[list[str]]] = {}
    current = []

    def record(label, cmd, limit, env=None):
        current.append(cmd)
        return {"rc": 0, "seconds": 0.0, "output": ""}

    check.run = record
    for name in ("speed", "peer", "augment", "ddp", "photo"):
        current = commands.setdefault(name, [])
        getattr(gpu_check, f"stage_{name}")(check, 200 if name == "photo" else 60)
    current = commands.setdefault("smoke", [])
    gpu_check.stage_smoke(check, 60)
    check.log.close()
    shutil.rmtree(check.work)
    return commands


def test_the_dry_run_passes_every_flag_of_the_gpu_plan(tmp_path, monkeypatch):
    gpu = planned_commands(tmp_path / "gpu", dry=False, monkeypatch=monkeypatch)
    dry = planned_commands(tmp_path / "dry", dry=True, monkeypatch=monkeypatch)
    assert ["--runs", "10"] == gpu["speed"][0][gpu["speed"][0].index("--runs") :][:2]
    assert "--variant" in gpu["peer"][-1] and gpu["peer"][-1][-2:] != ["--runs", "1"]
    assert gpu["augment"][0][gpu["augment"][0].index("--device-batch") + 1] == "1024"
    assert "resnet18" in gpu["ddp"][0]
    photo = gpu["photo"][0]
    assert photo[photo.index("--device") + 1] == "cuda"
    assert photo[photo.index("--placements") + 1 :][:3] == ["device", "host", "mmap"]
    assert photo[photo.index("--workers") + 1] == "2"
    assert photo[photo.index("--per-class") + 1] == "2000"  # the 20,000-image folder
    assert dry["photo"][0][-2:] == ["--device", "cuda"]  # this fake check has CUDA
    for name in gpu:
        assert len(gpu[name]) == len(dry[name]), name
        for g, d in zip(gpu[name], dry[name]):
            flags = {t for t in g if t.startswith("--")}
            assert flags <= set(d), (name, flags - set(d))


def test_only_runs_the_stages_named(tmp_path, monkeypatch):
    ran = []

    def recorder(name):
        def stage(c, limit):
            ran.append(name)
            return {"status": "ok"}

        return stage

    for name in gpu_check.STAGES:
        monkeypatch.setattr(gpu_check, f"stage_{name}", recorder(name))
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path), "--only", "ddp,speed"]) == 0
    assert ran == ["env", "speed", "ddp"]  # env always: it finds out whether there is CUDA
    stages = json.loads((tmp_path / "results.json").read_text())["stages"]
    assert stages["smoke"]["status"] == "skipped: not in --only"
    with pytest.raises(SystemExit):
        gpu_check.main(["--dry-run", "--out", str(tmp_path), "--only", "speeed"])


def test_the_photo_stage_skips_when_too_little_time_is_left(tmp_path):
    args = gpu_check.argparse.Namespace(
        dry_run=False, out=str(tmp_path / "out"), data=str(tmp_path), peer=str(tmp_path)
    )
    args.deadline = None
    check = gpu_check.Check(args)
    ran = []
    check.run = lambda *a, **k: ran.append(a) or {"rc": 0, "seconds": 0.0, "output": ""}
    report = gpu_check.stage_photo(check, gpu_check.PHOTO_MIN_S - 1)
    check.log.close()
    shutil.rmtree(check.work)
    assert report["status"].startswith("skipped: ") and "--only photo" in report["status"]
    assert ran == []


def test_the_summary_holds_the_photo_table():
    photo = {
        "status": "ok",
        "settings": {
            "per_class": 2000,
            "photo_size": 224,
            "cache": 256,
            "size": 224,
            "batch_size": 128,
            "device": "cuda",
        },  # fmt: skip
        "rows": [
            {"what": "augtrain first start (decode to cache)", "model": "m", "first_step_s": 9},
            {
                "what": "augtrain, later start (mmap)",
                "model": "m",
                "steps": 30,
                "images_per_s": 4321.0,
                "cpu_ms_per_image": 0.25,
            },  # fmt: skip
            {
                "what": "DataLoader, 2 workers, PIL",
                "model": "m",
                "steps": 30,
                "images_per_s": 987.0,
                "cpu_ms_per_image": 3.5,
            },  # fmt: skip
        ],
        "ratios": [{"model": "m", "repeat": 0, "placement": "mmap", "over_dataloader_2w": 4.378}],
    }
    results = {"mode": "gpu", "date": "d", "install": "i", "stages": {"photo": photo}}
    text = gpu_check.summary(results)
    assert "| augtrain, later start (mmap) | m | 4,321.0 (30) | 0.25 |" in text
    assert "| DataLoader, 2 workers, PIL | m | 987.0 (30) | 3.50 |" in text
    assert "first start" not in text  # no images/s: not a row of the table
    assert "augtrain mmap: dataloader_2w 4.38x" in text
