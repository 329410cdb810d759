"""Fault-injection fixtures: the session tally printed at the end of the run, the tiny model, random Inception weights.

Every scenario a reliability test injects (a kill, a broken document, a garbage output, ...) is counted in
`ReliabilityTally`, and every finished run it checks is scanned for planned documents without a record
(lost) and documents with more than one record line (duplicated). `pytest_terminal_summary` prints the
totals, so a test run states what it tried and what it found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evals.run.records import read_records, records_dir


@dataclass
class ReliabilityTally:
    """Scenarios tried per property, documents checked, and the lost and duplicated documents found."""

    scenarios: Counter = field(default_factory=Counter)
    documents_checked: int = 0
    lost: int = 0
    duplicates: int = 0

    def tried(self, prop: str, count: int = 1) -> None:
        """Count `count` injected scenarios of one property (crashes, bad data, ...)."""
        self.scenarios[prop] += count

    def check_task(self, run_dir: Path, task_name: str, expected_ids: Iterable[str]) -> tuple[int, int]:
        """Count lost and duplicated documents of one task of a finished run; returns (lost, duplicates)."""
        expected = list(expected_ids)
        lines = Counter(r.doc_id for r in read_records(records_dir(run_dir, task_name)))
        lost = sum(1 for doc_id in expected if lines[doc_id] == 0)
        duplicates = sum(n - 1 for n in lines.values() if n > 1)
        self.documents_checked += len(expected)
        self.lost += lost
        self.duplicates += duplicates
        return lost, duplicates

    def summary_lines(self) -> list[str]:
        """The lines printed at the end of the test run."""
        per_property = ", ".join(f"{name} {count}" for name, count in sorted(self.scenarios.items()))
        return [
            f"scenarios tried: {sum(self.scenarios.values())} ({per_property})",
            f"documents checked: {self.documents_checked}; documents lost: {self.lost}; duplicates found: {self.duplicates}",
        ]


_TALLY = ReliabilityTally()


@pytest.fixture(scope="session")
def tally() -> ReliabilityTally:
    """The session's reliability tally (printed by pytest_terminal_summary)."""
    return _TALLY


def pytest_terminal_summary(terminalreporter):
    """Print the fault-injection counts after the test results."""
    if _TALLY.scenarios:
        terminalreporter.section("fault injection (tests/reliability)")
        for line in _TALLY.summary_lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def tiny_adapter():
    """The tiny VARGPT behind the real adapter, fp32 on the CPU, one intra-op thread (built once per session)."""
    import torch

    from evals.adapters.model_spec import build_adapter

    torch.set_num_threads(1)
    return build_adapter("tiny", "cpu", "float32")


@pytest.fixture(scope="session")
def inception_file(tmp_path_factory) -> Path:
    """A random-weights InceptionV3 file of the real architecture, passed as --inception-weights."""
    from tasks.image_metrics.inception import save_random_inception_weights

    return save_random_inception_weights(tmp_path_factory.mktemp("inception") / "inception.pth", seed=0)


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory) -> Path:
    """A tiny random CLIP folder, passed as clip_model where the data is not the demo's (no stand-in there)."""
    from tasks.image_metrics import tiny_clip

    return tiny_clip.build(tmp_path_factory.mktemp("clip") / "tiny-clip")
