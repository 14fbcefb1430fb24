"""The CLI's own parsing: --help shows defaults for every subcommand; a mistyped flag,
choice or subcommand is one line naming the nearest one, exit 2."""

from __future__ import annotations

import re

import pytest

from augtrain.cli import build_parser, main


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.choices and hasattr(a, "add_parser"))
    return list(action.choices)


def help_of(capsys, *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return re.sub(r"\s+", " ", capsys.readouterr().out)


def test_train_help_shows_trainconfig_defaults(capsys):
    text = help_of(capsys, "train")
    for flag, default in [
        ("--epochs EPOCHS", "10"),
        ("--batch-size BATCH_SIZE", "32"),
        ("--optimizer {sgd,adam,adamw,adamax,rmsprop}", "adam"),
        ("--seed SEED", "0"),
        ("--verbose {0,1,2}", "1"),
    ]:
        assert re.search(
            re.escape(flag) + r" [^-]*\(default: " + re.escape(default) + r"\)", text
        ), flag
    # the model: the default job's, not TrainConfig's cnn4 (the tutorials' recipe, named)
    assert "given neither a model nor a preset, the default job runs (preset general)" in text
    assert "The defaults shown below are TrainConfig's own: the tutorials' recipe" in text
    assert "--nesterov (default" not in text  # False is no default worth a word
    assert "(default: None)" not in text and "(default: [])" not in text
    assert text.count("(default: the optimizer's usual)") == 1  # the help's own, not twice


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_help_works_and_shows_no_empty_default(capsys, command):
    text = help_of(capsys, command)
    assert f"usage: augtrain {command}" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_argparse_defaults_are_shown(capsys):
    text = help_of(capsys, "evaluate")
    assert re.search(r"--batch-size BATCH_SIZE [^-]*\(default: \d+\)", text)


@pytest.mark.parametrize(
    "argv, line",
    [
        (["train", "--lrr", "3"], "augtrain train: error: unrecognized argument --lrr; did you mean --lr?"),
        (["train", "--lrr=3"], "augtrain train: error: unrecognized argument --lrr=3; did you mean --lr?"),
        (
            ["train", "--bach-size", "3", "--epohcs", "1"],
            "augtrain train: error: unrecognized arguments --bach-size --epohcs; "
            "did you mean --batch-size, --epochs?",
        ),
        (["evaluate", "run", "--bach-size", "3"], "augtrain evaluate: error: unrecognized argument --bach-size; did you mean --batch-size?"),
        (["train", "--xyzzy"], "augtrain train: error: unrecognized argument --xyzzy"),
    ],
)  # fmt: skip
def test_mistakes_name_the_nearest(capsys, argv, line):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == line + "\n"


@pytest.mark.parametrize(
    "argv, start, end",
    [
        (["trian"], "augtrain: error: argument COMMAND: invalid choice: 'trian' (choose from ", "); did you mean 'train'?"),
        (["evalute", "x"], "augtrain: error: argument COMMAND: invalid choice: 'evalute' (", "); did you mean 'evaluate'?"),
        (["train", "--optimizer", "adamm"], "augtrain train: error: argument --optimizer: invalid choice: 'adamm' (", "); did you mean 'adam'?"),
    ],
)  # fmt: skip
def test_wrong_subcommand_or_choice_names_the_nearest(capsys, argv, start, end):
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(start) and line.endswith(end), line


def test_far_off_choice_keeps_argparse_list(capsys):
    assert main(["train", "--optimizer", "qqqqq"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "choose from" in err and "sgd" in err
