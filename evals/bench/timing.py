"""Timing tools of the benchmark: repeated wall-clock timings, per-stage timers on a model, machine facts.

Every rate is measured `repeats` times and the median kept (all samples are reported too): the CPUs are
shared, so single timings are noisy. On CUDA every timing synchronises the device before reading the clock.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on a CUDA device (no-op on the CPU), so the clock reads finished work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_once(run: Callable[[], Any], device: torch.device | str) -> float:
    """Seconds one call of `run` takes, device work included."""
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    """`count` items per call, timed `len(seconds)` times; the rate is items over the median time."""

    count: int
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median seconds of one call."""
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        """Items per second at the median time."""
        return self.count / self.median_s

    def to_json(self, unit: str) -> dict[str, Any]:
        """`{unit}_per_s`, the item count, and every sample in seconds."""
        return {f"{unit}_per_s": round(self.rate, 4), unit: self.count,
                "median_s": round(self.median_s, 5), "seconds": [round(s, 5) for s in self.seconds]}


def time_repeats(run: Callable[[], Any], count: int, repeats: int, device: torch.device | str) -> Timing:
    """`run` timed `repeats` times (after the caller's warm-up); `count` items per call."""
    return Timing(count=count, seconds=tuple(time_once(run, device) for _ in range(repeats)))


@dataclass
class StageTimers:
    """Seconds spent inside named modules' forward calls, accumulated while `attached` is active."""

    device: torch.device | str
    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def attached(self, modules: dict[str, torch.nn.Module]) -> Iterator[StageTimers]:
        """Time every forward of each named module (forward pre/post hooks; removed on exit)."""
        handles = []
        started: dict[str, float] = {}
        for name, module in modules.items():
            self.seconds.setdefault(name, 0.0)
            self.calls.setdefault(name, 0)
            handles.append(module.register_forward_pre_hook(self._start(name, started)))
            handles.append(module.register_forward_hook(self._stop(name, started)))
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()

    def _start(self, name: str, started: dict[str, float]):
        def hook(module, args):
            synchronize(self.device)  # work queued before this module is not its time
            started[name] = time.perf_counter()
        return hook

    def _stop(self, name: str, started: dict[str, float]):
        def hook(module, args, output):
            synchronize(self.device)
            self.seconds[name] += time.perf_counter() - started.pop(name)
            self.calls[name] += 1
        return hook


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(device: torch.device | str) -> dict[str, Any]:
    """CPU model, core count, load, torch threads, and the GPU name and memory when on CUDA."""
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": None,
    }
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                       "cuda": torch.version.cuda}
    return info
