"""The errors a user can fix: each is reported by the command line in one line (`vidnas: error:
...`, exit 2), never as a traceback. A light module: the CLI recognizes them (`is_user_error`)
without importing what raises them."""
from __future__ import annotations

import errno


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


class DiskFull(UserError):
    """A write failed for lack of space (or a file-size limit): the search stopped as an interrupt
    does, with nothing half-written (every file vidnas writes is replaced atomically); the message
    says which write and how to go on. Exit status 130, as an interrupt."""

    exit_status = EXIT_INTERRUPTED


FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # EFBIG: past a file-size limit


def disk_full(error: BaseException) -> str | None:
    """What ran out of space, if `error` (or what caused it) is a write that failed for lack of
    space: an OSError with ENOSPC/EDQUOT/EFBIG, or sqlite's "database or disk is full" (as MLflow
    raises it); None for anything else."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FULL_ERRNOS:
            return f"{error.strerror or 'no space left'}" + (f" writing {error.filename}" if error.filename else "")
        if "database or disk is full" in str(error):
            return "database or disk is full (the MLflow store)"
        error = error.__cause__ or error.__context__
    return None
