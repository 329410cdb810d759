"""Shared fixtures: the test-only task plugin, and running `python -m evals` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FAKE_PLUGIN_DIR = Path(__file__).resolve().parent / "fake_plugin"


@pytest.fixture
def fake_tasks(monkeypatch):
    """The test-only task plugin module, registered through its dist-info entry point while the test runs."""
    monkeypatch.syspath_prepend(str(FAKE_PLUGIN_DIR))
    import vargpt_fake_tasks

    return vargpt_fake_tasks


@pytest.fixture
def cli_env() -> dict[str, str]:
    """Environment for a `python -m evals` subprocess: fake plugin importable, offline, one thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_PLUGIN_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.update(
        {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    )
    return env


@pytest.fixture
def evals_cli(cli_env) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m evals ARGS...` to completion; returns the CompletedProcess (text output)."""

    def run(*args: str, timeout: float = 240, launcher: tuple[str, ...] = (sys.executable, "-m", "evals")):
        return subprocess.run(
            [*launcher, *args], env=cli_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
        )

    return run


@pytest.fixture
def prefetched_clip(tmp_path, monkeypatch) -> Path:
    """An HF hub cache holding the default CLIP at its pinned revision, as `prefetch` leaves it (in huggingface_hub's
    layout, models--owner--name/snapshots/<commit>/), filled with the tiny CLIP's files; returns the snapshot."""
    import shutil

    from tasks.image_metrics import tiny_clip
    from tasks.image_metrics.clip_score import DEFAULT_CLIP_MODEL, PINNED_REVISIONS

    cache = tmp_path / "hf_hub"
    owner, name = DEFAULT_CLIP_MODEL.split("/")
    snapshot = cache / f"models--{owner}--{name}" / "snapshots" / PINNED_REVISIONS[DEFAULT_CLIP_MODEL]
    shutil.copytree(tiny_clip.cached_folder(), snapshot)
    (snapshot / tiny_clip.BUILD_INFO).unlink()  # as a hub snapshot: nothing marks it random
    # huggingface_hub reads HF_HUB_CACHE once, at import: its module constant is what snapshot_download uses.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    return snapshot


_RELIABILITY: list[str] = []


@pytest.fixture
def reliability_log() -> list[str]:
    """Lines for the reliability summary printed at the end of the test run (scenarios, losses, duplicates)."""
    return _RELIABILITY


def pytest_terminal_summary(terminalreporter):
    """Print what the fault-injection tests tried and found."""
    if _RELIABILITY:
        terminalreporter.section("reliability")
        for line in _RELIABILITY:
            terminalreporter.write_line(line)
