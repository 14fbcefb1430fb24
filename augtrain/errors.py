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
