"""One exception type for every mistake a user can make.

The CLI catches it, prints its one-line message and exits with code 2; anything
else is a bug in augtrain and keeps its traceback.
"""


class AugtrainError(Exception):
    """A user error: bad argument, bad file, missing data. The message is one line."""


def require(condition: bool, message: str) -> None:
    """Raise AugtrainError(message) unless condition holds."""
    if not condition:
        raise AugtrainError(message)


def missing_package(
    what: str, package: str, extra: str | None, pip_name: str | None = None
) -> AugtrainError:
    """The error for an optional package that is not installed, naming augtrain's extra.

    `what` says what needs it ("ONNX export"); `extra` is the `augtrain[EXTRA]` that
    installs it (None for a dependency of augtrain itself, missing after --no-deps).
    Raise the result `from None`: `raise missing_package("ONNX export", "onnx", "onnx") from None`.
    """
    hint = f" (or pip install 'augtrain[{extra}]')" if extra else ""
    return AugtrainError(
        f"{what} needs the {package} package: pip install {pip_name or package}{hint}"
    )
