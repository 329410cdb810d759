"""The errors the command line reports in one line (exit 2), and how one is turned into that line."""

from __future__ import annotations

import sys


class HarnessError(Exception):
    """A problem the user can fix: bad arguments, a refused run folder, missing data or weights.

    The message is one line naming the value, the expectation and the fix; the CLI prints it
    without a traceback and exits with `exit_code` (2 unless a subclass says otherwise).
    """

    exit_code = 2


class UsageError(HarnessError):
    """A malformed or contradictory command-line value."""


class WorkerFailed(HarnessError):
    """A worker process died or crashed; the records it wrote are kept and a rerun resumes."""

    exit_code = 1


class RunStopped(HarnessError):
    """Every rank of a launched run stops for one reason; the first process of each node prints it, the others
    stop `quiet`ly, so that each node's log holds the line once."""

    def __init__(self, message: str, quiet: bool = False, exit_code: int = 2):
        super().__init__(message)
        self.quiet = quiet
        self.exit_code = exit_code


# Error types of other modules that are the user's to fix. They are looked up by name, and only if
# their module was imported (an error of that type can only exist then), so this module imports
# none of them and anything may import it.
USER_ERRORS = (
    ("evals.task_api", "TaskOptionError"),
    ("evals.adapters.interface", "NotSupportedByModel"),
    ("vargpt.checkpoint_files", "ModelLoadError"),
    ("tasks.data.datasets_io", "DatasetUnavailable"),
)


def one_line_error(error: BaseException) -> str | None:
    """The one-line message of an error the user can fix, or None for a bug (which keeps its traceback)."""
    known: list[type] = [HarnessError]
    for module_name, attr in USER_ERRORS:
        found = getattr(sys.modules.get(module_name), attr, None)
        if isinstance(found, type):
            known.append(found)
    if not isinstance(error, tuple(known)):
        return None
    return " ".join(str(error).split()) or type(error).__name__


def exit_code_of(error: BaseException) -> int:
    """2 for bad input; a HarnessError subclass may say otherwise (1 for a crashed worker)."""
    return getattr(error, "exit_code", 2)
