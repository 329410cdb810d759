"""Where a run happened: package versions, code commit and hardware, for results.json."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("vargpt-evals", "torch", "transformers", "datasets", "numpy", "pandas", "torch-fidelity", "lmms-eval")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide the numbers (None when absent)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    found["git_commit"] = git_commit()
    return found


def git_commit() -> str | None:
    """The commit of the harness checkout, with `+dirty` when it has local changes; None outside git."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def hardware(devices: tuple[str, ...]) -> dict:
    """Host, CPU count, accelerators and the devices the workers used."""
    info = {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": list(devices),
        "accelerators": [],
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["accelerators"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info
