"""The run folder: the one owner of its layout, its files' formats and claiming it.

    runs/<name>/config.json           resolved configuration, command line, versions, data fingerprint
                history.csv           one row per epoch
                last.pt / best.pt     checkpoints (model, optimizer, schedule, epoch, RNG, callbacks)
                metrics.json          test loss, accuracy, per-class accuracy, confusion matrix
                learning_curves.png, confusion_matrix.png, confusion_matrix.csv
                model.pkl             a --head logistic run's scikit-learn model (no checkpoint)
                evaluation.json, ...  `augtrain evaluate` (eval-<checkpoint>-<tta>[-data]/ unless
                                      the evaluation is the run's own), report.html, model.onnx

Every other module asks this one for a file's name or content; none spells a name itself,
so a run folder written by any version reads back the same way.

A checkpoint file:

    {"format": "augtrain-checkpoint", "version": 1,
     "model": {"name", "options", "num_classes", "in_channels", "input_size"},
     "classes": [...], "config": {...}, "trainer": Trainer.state_dict()}

`trainer["model_state"]` holds the trained weights (what a resume continues from);
with --ema, `trainer["ema"]["state"]` holds the moving average beside them. Every file is
written atomically (`augtrain.io`: temp file, fsync, rename): a kill during a write leaves
the previous file intact and never a truncated one under the real name.

This module is part of the foundation (see tests/test_architecture.py): it imports nothing
of augtrain but `errors` and `io`, so models, report and training all may use it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AugtrainError
from .io import read_json, save_torch, write_error, write_json, write_text

# ------------------------------------------------------------------ the layout
CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
LAST = "last.pt"
BEST = "best.pt"
CHECKPOINTS = (LAST, BEST)
LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX_PNG = "confusion_matrix.png"
CONFUSION_MATRIX_CSV = "confusion_matrix.csv"
LOGISTIC_MODEL = "model.pkl"  # --head logistic: scikit-learn's fitted pipeline
REPORT = "report.html"
EXPORT_STEM = "model"  # model.onnx, model.torchscript.pt (+ .json sidecars)
# What `augtrain evaluate` writes (into the run folder, or `evaluation_folder`'s subfolder)
EVALUATION = "evaluation.json"
CONFUSION_MATRIX_NORMALIZED_PNG = "confusion_matrix_normalized.png"
CONFUSION_MATRIX_NORMALIZED_CSV = "confusion_matrix_normalized.csv"
PER_CLASS = "per_class.csv"
PREDICTIONS = "predictions.csv"
SAMPLE_PREDICTIONS = "sample_predictions.png"
WRONG_PREDICTIONS = "wrong_predictions.png"
# Kept inside a run folder while it is being claimed (see `claim_run_dir`).
CLAIM_FILE = ".claim"
# A run name is one folder name; longer ones fail in the file system (255 bytes) once the
# temp names of atomic writes and --overwrite's aside folder are added.
MAX_NAME_BYTES = 200


# ------------------------------------------------------------------ the folder
def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether `path` is a run folder: a folder holding config.json."""
    return (Path(path) / CONFIG).is_file()


def check_run_dir(path: str | os.PathLike) -> Path:
    """A run folder (holding config.json), or a one-line error."""
    path = Path(path)
    if not path.exists():
        raise AugtrainError(f"{path}: no such run folder")
    if not path.is_dir():
        raise AugtrainError(f"{path}: not a run folder (a run folder holds {CONFIG})")
    if not (path / CONFIG).exists():
        raise AugtrainError(f"{path}: not a run folder (no {CONFIG})")
    return path


def run_dirs(root: str | os.PathLike) -> list[Path]:
    """`root` itself if it is a run folder, else its run subfolders (sorted, hidden skipped)."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and is_run_dir(p)
    )


def checkpoint_name(which: str) -> str:
    """'last', 'best' or a file name, as the file name in the run folder."""
    return which if which.endswith(".pt") else f"{which}.pt"


def checkpoint_path(run_dir: str | os.PathLike, which: str = LAST) -> Path:
    """The file of checkpoint `which` ('last.pt', 'best', ...) of a run folder, which must
    hold it; the error names the checkpoints it has."""
    run_dir = check_run_dir(run_dir)
    name = checkpoint_name(which)
    if not (run_dir / name).exists():
        present = [c for c in CHECKPOINTS if (run_dir / c).exists()]
        hint = f" (it has {', '.join(present)})" if present else ""
        raise AugtrainError(f"{run_dir}: run folder has no checkpoint {name}{hint}")
    return run_dir / name


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    return any((Path(run_dir) / name).exists() for name in CHECKPOINTS)


def evaluation_folder(run_dir: Path, checkpoint: str, tta: str, data: str | None) -> Path:
    """Where an evaluation other than the run's own (`is_own`) writes: a subfolder
    named after its settings."""
    tag = f"eval-{Path(checkpoint).stem}-{tta}"
    if data is not None:
        tag += "-" + (Path(data).stem or "data")
    return run_dir / tag


# ------------------------------------------------------------------ config.json
def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """config.json of a run folder: {"config": settings, "model", "classes", "data", ...}."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise AugtrainError(f"{run_dir}: not a run folder (no {CONFIG})")
    return read_json(run_dir / CONFIG)


def write_config(run_dir: str | os.PathLike, record: dict[str, Any]) -> None:
    write_json(Path(run_dir) / CONFIG, record)


# ------------------------------------------------------------------ history.csv
def write_history(run_dir: str | os.PathLike, history: list[dict[str, Any]]) -> None:
    """One row per epoch, the first epoch's keys as the columns."""
    if not history:
        return
    keys = list(history[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in keys})
    write_text(Path(run_dir) / HISTORY, buf.getvalue())


def read_history(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """history.csv of a run folder as a list of dicts with numbers (empty if missing)."""
    path = Path(run_dir) / HISTORY
    if not path.exists():
        return []
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                parsed: dict[str, Any] = {}
                for k, v in row.items():
                    try:
                        parsed[k] = int(v) if k == "epoch" else float(v)
                    except (TypeError, ValueError):
                        parsed[k] = None if v in ("", None) else v
                rows.append(parsed)
    except (UnicodeDecodeError, csv.Error) as e:
        raise AugtrainError(f"{path}: damaged file ({str(e).splitlines()[0][:80]})") from None
    return rows


# ------------------------------------------------------------------ metrics.json
def has_metrics(run_dir: str | os.PathLike) -> bool:
    return (Path(run_dir) / METRICS).exists()


def read_metrics(run_dir: str | os.PathLike, strict: bool = True) -> dict[str, Any]:
    """metrics.json of a run folder ({} while there is none); a file that is JSON but no
    table is a one-line error (`strict`) or read as {}."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return {}
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        if not strict:
            return {}
        raise AugtrainError(f"{path}: damaged file (not a metrics table)")
    return metrics


def write_metrics(run_dir: str | os.PathLike, metrics: dict[str, Any]) -> None:
    write_json(Path(run_dir) / METRICS, metrics)


# ------------------------------------------------------------------ checkpoint files
FORMAT = "augtrain-checkpoint"


def save_checkpoint(
    path: Path, model_spec: dict[str, Any], classes: list[str], config: dict, trainer_state: dict
) -> None:
    save_torch(
        path,
        {
            "format": FORMAT,
            "version": 1,
            "model": model_spec,
            "classes": classes,
            "config": config,
            "trainer": trainer_state,
        },
    )


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete what killed writes left behind (`.NAME.XXXXXX.tmp`, see `io.atomic_path`).
    Such files are never read: a checkpoint is only ever loaded under its real name."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file, or a run folder's last.pt; one-line errors for anything else."""
    import torch

    path = Path(path)
    if path.is_dir():
        if not (path / CONFIG).exists():
            raise AugtrainError(f"{path}: not a run folder (no {CONFIG})")
        path = path / LAST
        if not path.exists():
            raise AugtrainError(f"{path.parent}: run folder has no checkpoint ({LAST})")
    if not path.exists():
        raise AugtrainError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise AugtrainError(f"{path}: a folder, not a checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise AugtrainError(f"{path}: not a readable checkpoint ({load_error(e)})") from None
    if not is_checkpoint(ckpt):
        raise AugtrainError(f"{path}: not an augtrain checkpoint")
    return ckpt


def is_checkpoint(obj: Any) -> bool:
    """Whether a loaded object is an augtrain checkpoint (rather than a plain state_dict)."""
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load_error(error: BaseException) -> str:
    """Why torch.load failed, in a few words: its own text is a paragraph that points
    at weights_only=False, which augtrain never uses on files it did not write."""
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"it holds a Python object ({found.group(1)}) beyond tensors and plain data, "
            "which augtrain does not load"
        )
    if isinstance(error, EOFError) or not text:
        return "empty or truncated file"
    if "PytorchStreamReader" in text or "zip" in text.lower() or "Weights only" in text:
        return "damaged or truncated file"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return "not a file torch.save wrote"


def check_rebuildable(
    spec: dict[str, Any], remedy: str = "train it with network_factory='module:function'"
) -> None:
    """A run of a `network=` that nothing can rebuild: one line saying so."""
    if spec.get("rebuildable") is False:
        raise AugtrainError(
            f"this run trained network={spec['name']}, which cannot be rebuilt (its "
            f"constructor needs arguments): {remedy}"
        )


def model_weights(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The weights a checkpoint stands for: its EMA's when the run was trained with --ema
    and --use-ema (the default then), else the trained ones."""
    trainer, config = ckpt["trainer"], ckpt.get("config") or {}
    ema = trainer.get("ema")
    if ema and config.get("ema") is not None and config.get("use_ema", True):
        return ema["state"]
    return trainer["model_state"]


# ------------------------------------------------------------------ claiming a run folder
def check_run_name(
    runs_dir: str | os.PathLike, name: str | None, overwrite: bool = False, is_main: bool = True
) -> Path | None:
    """Before any data is read: is the run folder's name usable, and free (or `overwrite`)?
    The folder itself is claimed only when training starts (`claim_run_dir`). `is_main`:
    whether this process is the one that makes the folder (rank 0 under torchrun)."""
    runs = Path(runs_dir).expanduser()
    for folder in (runs, *runs.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "" if folder == runs else f" ({folder})"
                raise AugtrainError(f"--runs-dir {runs}: is a file, not a folder{where}")
            break
    if name is None:
        return None
    name = str(name)
    if "/" in name or os.sep in name or name in ("", ".", "..") or name.startswith("."):
        raise AugtrainError(f"--name {name!r}: a run name must be a plain folder name")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise AugtrainError(
            f"--name: {len(name)} characters is too long for a folder name "
            f"(at most {MAX_NAME_BYTES} bytes)"
        )
    path = runs / name
    if path.exists() and not path.is_dir():
        raise AugtrainError(f"--name {name}: {path} is a file, not a run folder")
    # Under torchrun only rank 0 asks: it makes the folder, and may have made it already
    # when a slower rank gets here (that rank then left without the others and aborted).
    taken = path.is_dir() and any(path.iterdir()) and not overwrite
    if taken and is_main:
        raise AugtrainError(f"run {path} already exists; pass --overwrite or choose another --name")
    return path


@dataclass
class RunDirClaim:
    """A run folder this process owns: made by it (`made`), or an empty one it found;
    `aside` is the old run that --overwrite moved out of the way until the new run's
    first checkpoint (`commit`) or a failure before it (`abort`: put back)."""

    path: Path
    made: bool
    aside: Path | None = None
    locked: bool = True

    def release(self) -> None:
        """config.json is written: the folder is visibly taken; drop the claim file."""
        if self.locked:
            (self.path / CLAIM_FILE).unlink(missing_ok=True)
            self.locked = False

    def commit(self) -> None:
        """The new run has a checkpoint: the old one it replaces can go."""
        self.release()
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def abort(self) -> None:
        """Set-up failed before any checkpoint: leave no half-made folder behind."""
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:  # an empty folder the user made: empty again
            for child in self.path.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink(missing_ok=True)
        if self.aside is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            os.rename(self.aside, self.path)
            self.aside = None


def default_run_name(prefix: str) -> str:
    """PREFIX-YYYYmmdd-HHMMSS: a run folder's name when none is given."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def claim_run_dir(
    runs_dir: str | os.PathLike, name: str | None, base: str, overwrite: bool = False
) -> RunDirClaim:
    """Take the run folder for a run, atomically: of two runs started together with the
    same `name` exactly one gets it; without a name (`base`, e.g. cnn4-20261123-120000)
    the second gets BASE-2."""
    check_run_name(runs_dir, name, overwrite)
    runs = Path(runs_dir).expanduser()
    base = name or base
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(runs, e) from None
    for attempt in range(1, 1000):
        path = runs / (base if attempt == 1 else f"{base}-{attempt}")
        claim = _try_claim(path, bool(overwrite and name))
        if claim is not None:
            return claim
        if name:
            raise AugtrainError(
                f"run {path} already exists (another run just took it); choose another --name"
            )
    raise AugtrainError(f"{runs}: no free run name {base}-N")


def _try_claim(path: Path, overwrite: bool) -> RunDirClaim | None:
    """The claim of `path`, or None when another run holds it."""
    aside = None
    try:
        if overwrite and path.is_dir() and not (path / CLAIM_FILE).exists() and any(path.iterdir()):
            aside = path.with_name(f".{path.name}.replaced-{os.getpid()}")
            os.rename(path, aside)  # atomic: the old run stays whole until the new one saves
        try:
            os.mkdir(path)
            made = True
        except FileExistsError:
            if not path.is_dir():
                raise AugtrainError(f"{path} is a file, not a run folder") from None
            made = False
        try:  # the exclusive create is the claim: of two runs exactly one succeeds
            os.close(os.open(path / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            _restore(path, aside)
            return None
        if any(p.name != CLAIM_FILE for p in path.iterdir()):  # a finished run: not ours
            (path / CLAIM_FILE).unlink(missing_ok=True)
            _restore(path, aside)
            return None
    except AugtrainError:
        _restore(path, aside)
        raise
    except OSError as e:
        _restore(path, aside)
        raise write_error(path, e) from None
    return RunDirClaim(path, made, aside)


def _restore(path: Path, aside: Path | None) -> None:
    if aside is not None:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        os.rename(aside, path)
