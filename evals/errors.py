"""The error the command line reports in one line (exit 2); specific errors subclass it."""

from __future__ import annotations


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
