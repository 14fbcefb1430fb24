"""Each TrainConfig setting is declared once (training/config.py: `setting()`): its flag,
help, choices and range come from the field, and so do `augtrain train`'s argparse options
and `TrainConfig.validate`'s checks, whose one-line errors name the flag."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest

from augtrain.cli import build_parser
from augtrain.commands.train import overrides_from_args
from augtrain.errors import AugtrainError
from augtrain.training.config import (
    GROUPS,
    Setting,
    TrainConfig,
    argparse_options,
    check_setting,
    flag,
    setting,
    setting_of,
    settings,
)
from augtrain.training.config_file import settings_from

FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


def train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices["train"]


def actions_by_flag() -> dict[str, argparse.Action]:
    return {o: a for a in train_parser()._actions for o in a.option_strings}


def parse(*argv: str) -> dict:
    return overrides_from_args(build_parser().parse_args(["train", *argv]))


def test_every_field_is_a_declared_setting_with_help_and_a_flag():
    actions = actions_by_flag()
    for key in FIELDS:
        meta = setting_of(key)
        assert isinstance(meta, Setting), f"{key} is a bare field; declare it with setting()"
        assert meta.help.strip(), f"{key} has no help"
        assert meta.group in GROUPS, key
        if meta.recorded:  # what a run resolved (config.json), never typed
            assert flag(key) not in actions, key
            continue
        assert flag(key) in actions, f"{key}: no {flag(key)} flag on `augtrain train`"
        action = actions[flag(key)]
        assert action.dest == key, (key, action.dest)
        assert action.help and action.help != argparse.SUPPRESS, key
        if meta.cli:  # the flag is made from the declaration
            assert action.help == meta.help
            assert action.default is None  # only what was typed overrides a file or preset
            assert action.shown_default == getattr(TrainConfig(), key)


def test_the_flags_sit_in_their_sections_of_the_help():
    parser = train_parser()
    titles = [g.title for g in parser._action_groups]
    assert [t for t in titles if t in GROUPS] == list(GROUPS)
    for group in parser._action_groups:
        for action in group._group_actions:
            meta = setting_of(action.dest)
            if meta is not None and meta.cli:
                assert group.title == meta.group, action.dest


def test_choices_and_types_reach_argparse(capsys):
    actions = actions_by_flag()
    assert tuple(actions["--optimizer"].choices) == setting_of("optimizer").choices
    assert actions["--verbose"].type is int and list(actions["--verbose"].choices) == [0, 1, 2]
    assert actions["--epochs"].type is int and actions["--weight-decay"].type is float
    assert isinstance(actions["--use-ema"], argparse.BooleanOptionalAction)
    assert actions["--target-size"].nargs == 2 and actions["--target-size"].metavar == ("H", "W")
    code = pytest.raises(SystemExit, build_parser().parse_args, ["train", "--amp", "fp8"])
    assert code.value.code == 2 and "invalid choice: 'fp8'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--epochs", "3"], {"epochs": 3}),
        (["--lr", "0.5"], {"lr": 0.5}),
        (["--target-size", "20", "24"], {"target_size": (20, 24)}),
        (["--fn-col", "2", "--label-col", "kind"], {"fn_col": 2, "label_col": "kind"}),
        (["--save-freq", "end"], {"save_freq": "end"}),
        (["--save-freq", "40"], {"save_freq": 40}),
        (["--no-use-ema", "--nesterov"], {"use_ema": False, "nesterov": True}),
        (["--logger", "csv,wandb", "--logger", "csv"], {"loggers": ["csv", "wandb"]}),
        (["--model-option", "width=2", "--model-option", "x=a"], {"model_options": {"width": 2, "x": "a"}}),
        (["--lr-start-factor", "0.2", "--channels-last", "off"], {"lr_start_factor": 0.2, "channels_last": "off"}),
        ([], {}),
    ],
)  # fmt: skip
def test_flags_give_the_fields_values(argv, expected):
    assert parse(*argv) == expected


def test_every_flag_takes_its_own_default_back():
    """`--flag DEFAULT` parses to the default, as TrainConfig holds it, for every setting
    whose default a command line can say."""
    defaults = TrainConfig()
    for key, meta in settings():
        default = getattr(defaults, key)
        if not meta.cli or meta.by_hand or default is None or meta.is_list():
            continue
        if meta.type is bool:
            argv = [flag(key)] if default else []
            if meta.negatable:
                argv = [flag(key) if default else "--no-" + flag(key)[2:]]
            if not argv:
                continue
        elif isinstance(default, tuple):
            argv = [flag(key), *map(str, default)]
        else:
            argv = [flag(key), str(default)]
        assert parse(*argv) == {key: default}, key
        TrainConfig(**{key: default}).validate()


# A value of no setting's type: every generic check refuses it.
WRONG = 1j


def test_every_generic_check_names_the_flag():
    for key, meta in settings():
        if meta.by_hand:
            continue
        with pytest.raises(AugtrainError) as info:
            TrainConfig(**{key: WRONG}).validate()
        message = str(info.value)
        assert message.startswith(flag(key) + " "), (key, message)
        assert "\n" not in message


def out_of_range(meta: Setting) -> list[float]:
    values = []
    if meta.minimum is not None:
        values.append(meta.minimum - 1)
    if meta.above is not None:
        values.append(meta.above)
    if meta.maximum is not None:
        values.append(meta.maximum + 1)
    if meta.below is not None:
        values.append(meta.below)
    return values


def test_every_range_is_checked_with_the_flag_named():
    checked = 0
    for key, meta in settings():
        if meta.type not in (int, float) or isinstance(meta.nargs, int):
            continue
        for value in out_of_range(meta):
            value = meta.type(value)
            with pytest.raises(AugtrainError, match="^" + flag(key) + " "):
                TrainConfig(**{key: value}).validate()
            checked += 1
        if meta.type is float:
            with pytest.raises(AugtrainError, match=flag(key) + " nan: must be a finite number"):
                TrainConfig(**{key: math.nan}).validate()
    assert checked >= 30


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lr": 0.0}, "--lr 0.0: must be 'auto' or a number > 0"),
        ({"momentum": 1.0}, "--momentum 1.0: must be a number >= 0 and < 1"),
        ({"epochs": 2.0}, "--epochs 2.0: must be an integer"),
        ({"epochs": True}, "--epochs True: must be an integer"),
        ({"verbose": 3}, "--verbose 3: must be one of 0, 1, 2"),
        ({"verbose": True}, "--verbose True: must be an integer"),
        ({"tta": "flipp"}, "--tta 'flipp': must be one of none, flip, flip-translate; did you mean 'flip'?"),
        ({"save_freq": "often"}, "--save-freq 'often': must be 'epoch', 'end' or an integer >= 1"),
        ({"save_freq": 0}, "--save-freq 0: must be 'epoch', 'end' or an integer >= 1"),
        ({"target_size": (8,)}, "--target-size takes two integers H W >= 1, got (8,)"),
        ({"target_size": (8, 0)}, "--target-size takes two integers H W >= 1"),
        ({"classes": "cat"}, "--classes takes a list of names, got 'cat'"),
        ({"loggers": "csv"}, "--logger takes names"),
        ({"model_options": {"w": math.inf}}, "--model-option w must be a finite number"),
        ({"pretrained": "yes"}, "--pretrained takes true or false, got 'yes'"),
        ({"runs_dir": ""}, "--runs-dir must be a path or name, got ''"),
        ({"model": 3}, "--model must be a name, got 3"),
        ({"fn_col": 1.5}, "--fn-col takes a header name or a 0-based position, got 1.5"),
        ({"unfreeze_after": 2}, "--unfreeze-after needs --freeze base"),
        ({"nesterov": True, "optimizer": "sgd"}, "--nesterov needs --momentum > 0"),
    ],
)  # fmt: skip
def test_messages(changes, message):
    with pytest.raises(AugtrainError) as info:
        TrainConfig(**changes).validate()
    assert str(info.value).startswith(message), str(info.value)


def test_python_spellings_the_cli_never_sends_still_pass():
    TrainConfig(optimizer="Adam", lr=1, target_size=[8, 8], save_freq=5).validate()


def test_config_files_take_every_setting_and_make_tuples():
    every = {key: getattr(TrainConfig(), key) for key in FIELDS}
    assert set(settings_from(every, "f.yaml")) == set(FIELDS)
    got = settings_from({"cache-size": [40, 40], "target_size": [32, 32]}, "f.yaml")
    assert got == {"cache_size": (40, 40), "target_size": (32, 32)}
    assert TrainConfig.from_dict({"target_size": [4, 6]}).target_size == (4, 6)


def test_a_new_setting_needs_one_declaration(capsys):
    """The porting recipe of config.py's docstring: a field made with setting() is a flag,
    a help line and a check, with nothing else to edit (`--lr auto`'s form here)."""

    @dataclasses.dataclass
    class Config:
        budget: float | str | None = setting(
            None, "run", "stop after S seconds", type=float, above=0.0, also=("auto",)
        )

    meta = Config.__dataclass_fields__["budget"].metadata["setting"]
    kind = meta.argparse_type()
    assert kind("auto") == "auto" and kind("2.5") == 2.5 and kind("soon") == "soon"
    for value in (None, "auto", 2.5):
        check_setting("budget", value, meta)
    with pytest.raises(AugtrainError, match="^--budget 'soon': must be 'auto' or a number > 0$"):
        check_setting("budget", "soon", meta)
    with pytest.raises(AugtrainError, match="^--budget 0: must be 'auto' or a number > 0$"):
        check_setting("budget", 0, meta)
    flags, kwargs = argparse_options("budget", meta)
    assert flags == ["--budget"] and kwargs["default"] is None and kwargs["dest"] == "budget"
    parser = argparse.ArgumentParser()
    parser.add_argument(*flags, **kwargs)
    assert parser.parse_args(["--budget", "auto"]).budget == "auto"
    assert parser.parse_args(["--budget", "3"]).budget == 3.0


def test_aliases_and_negatable_flags():
    meta = setting(True, "run", "h", flag="--colour", aliases=("--color",), negatable=True)
    meta = meta.metadata["setting"]
    flags, kwargs = argparse_options("tint", meta)
    parser = argparse.ArgumentParser()
    parser.add_argument(*flags, **kwargs)
    assert parser.parse_args(["--color"]).tint is True
    assert parser.parse_args(["--no-colour"]).tint is False
    assert parser.parse_args([]).tint is None
