"""Settings from a file: `augtrain train --config FILE`.

    .yaml / .yml    a mapping of TrainConfig settings (PyYAML)
    .toml           the same as a TOML table (tomllib; tomli on Python 3.10)
    .json           the same as a JSON object, or a run's own config.json, whose "config"
                    section is the run's resolved settings: `--config runs/NAME/config.json`
                    (or just `--config runs/NAME`) trains that run again

Keys are TrainConfig's field names (`batch_size`; `batch-size` as on the command line works
too). Flags given on the command line win over the file. Relative paths in the file are
taken from the current folder, as flags are.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

from .. import runfolder
from ..errors import AugtrainError, missing_package
from .config import TrainConfig, from_plain

SUFFIXES = (".yaml", ".yml", ".toml", ".json")
# Dropped from a run's config.json: a rerun is a new run folder, never the same one again.
RUN_FOLDER_KEYS = ("name", "overwrite")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in `path`, keyed by TrainConfig field, checked for unknown keys."""
    path = Path(path).expanduser()
    if path.is_dir() and runfolder.is_run_dir(path):
        path = path / runfolder.CONFIG
    if not path.is_file():
        raise AugtrainError(f"--config {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise AugtrainError(
            f"--config {path}: unknown file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}"
        )
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AugtrainError(f"--config {path}: cannot read it ({e.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AugtrainError(f"--config {path}: not UTF-8 text") from None
    if suffix == ".toml":
        data = _parse_toml(path, text)
    elif suffix == ".json":
        data = _parse_json(path, text)
    else:
        data = _parse_yaml(path, text)
    if data is None:  # an empty YAML file
        data = {}
    if not isinstance(data, dict):
        raise AugtrainError(
            f"--config {path}: must hold a mapping of settings (key: value), "
            f"not a {type(data).__name__}"
        )
    if is_run_config(data):
        data = {k: v for k, v in data["config"].items() if k not in RUN_FOLDER_KEYS}
    return settings_from(data, str(path))


def is_run_config(data: dict[str, Any]) -> bool:
    """A run folder's config.json (training/run.py: write_config): its settings under
    "config", beside the run's record. No setting is called "config", so a file of
    settings never looks like one."""
    return isinstance(data.get("config"), dict)


def settings_from(data: dict[str, Any], where: str) -> dict[str, Any]:
    """`data`'s keys as TrainConfig fields ('-' read as '_'); an unknown key is an error
    naming the nearest setting."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in fields:
            near = difflib.get_close_matches(name, fields, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "; see augtrain.TrainConfig"
            raise AugtrainError(f"--config {where}: unknown setting {str(key)!r}{hint}")
        out[name] = from_plain(name, value)
    return out


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AugtrainError(f"--config {path}: not valid JSON (line {e.lineno}: {e.msg})") from None


def _parse_toml(path: Path, text: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise missing_package("reading TOML on Python 3.10", "tomli", None) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AugtrainError(f"--config {path}: not valid TOML ({e})") from None


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise missing_package("reading YAML", "PyYAML", None, "pyyaml") from None
    try:
        return yaml.load(text, Loader=_yaml_loader(yaml))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise AugtrainError(f"--config {path}: not valid YAML{where}: {problem}") from None


_LOADER: Any = None


def _yaml_loader(yaml: Any) -> Any:
    """PyYAML's safe loader, reading `1e-3` as a float: YAML 1.1 wants `1.0e-3`, and a
    learning rate read as the string '1e-3' would fail far from the file."""
    global _LOADER
    if _LOADER is None:

        class Loader(yaml.SafeLoader):
            pass

        exponent = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
        Loader.add_implicit_resolver("tag:yaml.org,2002:float", exponent, list("-+0123456789"))
        _LOADER = Loader
    return _LOADER
