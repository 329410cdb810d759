"""A third-party task plugin whose dependency is not installed (test-only; on sys.path only in its tests).

Had its import worked, it would register one task, `broken_qa`. It imports `vargpt_absent_dependency`,
which its METADATA requires and which no environment has, so loading the entry point raises
ModuleNotFoundError exactly as a plugin with a missing dependency does.
"""

from __future__ import annotations

import vargpt_absent_dependency  # noqa: F401  (the missing dependency)

TASKS: list = []
