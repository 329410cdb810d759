"""Unsafe loading is never switched on by the harness: no trust_remote_code anywhere in the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_source_file_turns_on_trust_remote_code():
    pattern = re.compile(r"trust_remote_code\s*(=|:|\"\s*:)\s*True")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("evals", "vargpt", "tasks")
        for path in (ROOT / package).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
