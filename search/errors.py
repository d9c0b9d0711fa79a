"""The errors a user can fix: each is reported by the command line in one line (`vidnas: error:
...`, exit 2), never as a traceback. A light module: the CLI recognizes them (`is_user_error`)
without importing what raises them."""
from __future__ import annotations


# exit statuses, the same for every command: 0 finished, 1 failed, 2 bad input, 130 interrupted
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


class UserError(ValueError):
    """Bad input, or a state the user can fix; its message names the field, the value and the fix."""

    user_error = True


def is_user_error(error: BaseException) -> bool:
    """A `UserError`, a spec error, or any exception class marked `user_error = True` (the data
    package marks its own without importing this module)."""
    from spaces.schema import SpecError

    return isinstance(error, SpecError) or bool(getattr(type(error), "user_error", False))


class ConfigError(UserError):
    """A bad search config: one line naming the field, the value and what is allowed."""


class SearchError(UserError):
    """A search that cannot start or resume (reported in one line)."""
