"""`python -m evals bench`: how fast the model, the adapter and the harness run, against issue 8's targets.

On the CPU it uses the tiny model (`vargpt.load("tiny")`); on CUDA a full-size VARGPT with random weights in
bf16 (evals/bench/model.py; no download). It prints one table per section and writes the same numbers as JSON:
- text: documents/s of the adapter's generate_text per batch size, on GQA-shaped requests (the demo GQA
  documents: one image, answers of at most 16 tokens);
- images: images/s of the adapter's generate_images per batch size (batched sampler) and of the released
  one-image loop (`sampler="released"`), both at the FID sampler settings (cfg 1.5, top-k 900, top-p 0.96);
- split: where image-generation time goes: LLM decoder, VAR blocks, VQ-VAE decode, and the rest (sampling,
  f_hat updates, bridges, tokenisation), timed by forward hooks on those modules (vargpt/ is not edited);
- overhead (CPU): per batch size, `evals run`'s worker loop against the adapter alone on the same batches
  (evals/bench/workers.py), for the text tasks and for the image task (whose scorer runs the Inception network);
- inception: Inception feature throughput (tasks/image_metrics/inception.py, torch-fidelity's network);
- workers (CPU): one vs two spawned workers, one thread each, on the demo;
- mfu: model FLOPs per image and per document (torch's FlopCounterMode) and the utilisation of the card's bf16
  peak; projected hours of a 50,000-image FID run (generation with guidance plus Inception features);
- targets: each target of issue 8 with its measured value and whether it is met.

Every rate is the median of `--repeats` timings after a warm-up call; the JSON keeps every sample.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evals.report.aggregate import aggregate_run
from evals.run.batch_loader import iter_batches
from evals.bench.workers import (
    machine_parallel_speedup,
    planned_run,
    replicated_gqa_copy,
    shard_batches,
    time_direct,
    time_run_loop,
    time_task_setup,
    time_workers,
    warm_up,
)
from evals.bench.timing import StageTimers, Timing, machine, time_once, time_repeats
from evals.errors import UsageError
from evals.run.launch import run_metadata
from evals.registry import discover
from evals.requests import ImageRequest, TextRequest
from evals.run.run_folder import now_iso
from evals.run.sharding import doc_seed
from evals.task_api import DataSource

logger = logging.getLogger(__name__)

BENCH_VERSION = 1
SECTIONS = ("text", "images", "split", "overhead", "inception", "workers", "mfu")
CPU_ONLY_SECTIONS = ("overhead", "workers")  # they run `evals run`'s loop, which loads models by name
TEXT_TASK = "gqa"  # GQA-shaped requests: one image, a short question, at most 16 new tokens
IMAGE_TASK = "fid"  # ImageNet class prompts at VAR's FID sampler settings
RUN_TEXT_TASKS = ("gqa", "vqav2_val")  # the demo tasks of the overhead and worker measurements
RUN_TASKS = RUN_TEXT_TASKS + (IMAGE_TASK,)
SPIN_UNITS = 20_000  # 128x128 products per calibration process: about 2 s on one core
STEADY_COPIES = 10  # GQA's 30 demo questions x 10: the per-document workload of the overhead section
FID_IMAGES = 50_000
# shared/reference/vargpt_state_dict.txt: "About 9.28e9 numbers in all, buffers included".
RELEASED_NUMBERS = 9.28e9
SHORT_ANSWER = "Answer the question using a single word or phrase."  # GQA's instruction (lmms-eval)
MODELS = ("auto", "tiny", "random-full", "random-small")

# Targets of issue 8.
OVERHEAD_MIN = 0.90  # evals run rate / adapter-only rate, same batch size
BATCHING_MIN = 4.0  # batch 16 / batch 1 on the tiny model on CPU, text and images
WORKERS_MIN = 1.6  # two CPU workers / one worker on the demo
GENERATION_SPEEDUP_MIN = 10.0  # GPU: batched / released loop, images per second
FID_HOURS_MAX = 1.0  # GPU: projected 50,000-image FID run with guidance
UNDERSTANDING_MIN = 4.0  # GPU: batch B / batch 1 on GQA-shaped requests

# Dense bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s, most specific name first. The H200 has the
# H100 SXM's compute (more and faster memory only).
PEAK_BF16_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0))


@dataclass(frozen=True)
class BenchConfig:
    """What one `evals bench` measures and how."""

    device: str = "cpu"
    model: str = "auto"  # auto: tiny on the CPU, random-full on CUDA
    batch_sizes: tuple[int, ...] = (1, 4, 16)
    quick: bool = False
    repeats: int = 3
    threads: int = 1
    sections: tuple[str, ...] = SECTIONS
    peak_tflops: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise UsageError(f"--device {self.device!r} must be cpu or cuda")
        if self.model not in MODELS:
            raise UsageError(f"--model {self.model!r} is not one of {', '.join(MODELS)}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UsageError(f"--batch-sizes {self.batch_sizes} must be positive integers, e.g. 1,4,16")
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise UsageError(f"--sections {unknown[0]!r} is not one of {', '.join(SECTIONS)}")
        if self.repeats < 1 or self.threads < 1:
            raise UsageError("--repeats and --threads must be at least 1")

    @property
    def model_name(self) -> str:
        """The model measured: tiny on the CPU, the full-size random model on CUDA, unless named."""
        if self.model != "auto":
            return self.model
        return "random-full" if self.device == "cuda" else "tiny"

    @property
    def dtype(self) -> str:
        """bfloat16 on CUDA (as `evals run` picks), float32 on the CPU."""
        return "bfloat16" if self.device == "cuda" else "float32"

    @property
    def max_batch(self) -> int:
        """The largest batch size measured."""
        return max(self.batch_sizes)

    def items(self, batch_size: int) -> int:
        """Requests per timing at `batch_size`: the same set for all sizes on the CPU, 2 batches on CUDA."""
        if self.device == "cuda":
            return max(2 * batch_size, 2 if self.quick else 4)
        return self.max_batch if self.quick else 2 * self.max_batch

    @property
    def released_items(self) -> int:
        """Images timed with the released one-image loop."""
        if self.quick:
            return 2
        return 4 if self.device == "cuda" else self.items(1)

    @property
    def run_limit(self) -> int | None:
        """Documents per task in the `evals run` measurements (the whole demo slice unless quick)."""
        return 2 * self.max_batch if self.quick else None

    @property
    def inception_images(self) -> int:
        """Images timed through the Inception network."""
        if self.quick:
            return 2
        return 256 if self.device == "cuda" else 8


# -- the adapter and its requests ----------------------------------------------------------------
def load_adapter(config: BenchConfig):
    """(VargptAdapter on the bench device, seconds it took to build or load)."""
    from evals.adapters.vargpt_adapter import VargptAdapter, _torch_dtype

    start = time.perf_counter()
    if config.model_name.startswith("random-"):
        from evals.bench.model import random_vargpt

        size = config.model_name.removeprefix("random-")
        model, processor = random_vargpt(size, config.device, _torch_dtype(config.dtype), seed=config.seed)
        identity = {"id": config.model_name, "kind": "random", "weights_hash": None, "dtype": config.dtype,
                    "device": config.device}
        adapter = VargptAdapter(model, processor, identity, config.device)
    else:
        adapter = VargptAdapter.load(config.model_name, device=config.device, dtype=config.dtype)
    return adapter, time.perf_counter() - start


def text_requests(count: int, seed: int) -> tuple[list[TextRequest], str]:
    """`count` GQA requests from the demo slice (images decoded, cycled), and where they came from.

    Where the GQA task cannot load (a GPU image without `datasets`), GQA-shaped stand-ins: a 640x480 photo-sized
    random image, a short question with GQA's answer instruction, the same generation settings.
    """
    registry = discover()
    if TEXT_TASK not in registry.tasks:
        return synthetic_text_requests(count, seed), f"synthetic GQA-shaped (task {TEXT_TASK} did not load)"
    task = registry.get(TEXT_TASK)
    docs = task.load_docs(DataSource(kind="demo"))
    work = [(i, task.doc_id(docs[i])) for i in range(len(docs))]
    built = [item.request for batch in iter_batches(task, docs, work, len(work), seed) for item in batch
             if item.error is None]
    return [built[i % len(built)] for i in range(count)], f"demo {TEXT_TASK} ({len(built)} documents, cycled)"


def synthetic_text_requests(count: int, seed: int) -> list[TextRequest]:
    """GQA-shaped requests without the dataset: one random 640x480 image, question + GQA's instruction."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    questions = ("Is the man to the left of the car?", "What color is the shirt?", "Which side is the dog on?",
                 "What is the woman holding?")
    requests = []
    for i in range(count):
        image = Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
        requests.append(TextRequest(
            doc_id=f"synthetic-{i}", text=f"{questions[i % len(questions)]}\n{SHORT_ANSWER}",
            load_images=lambda image=image: [image], max_new_tokens=16, stop=("\n\n",), seed=seed + i))
    return requests


def image_requests(count: int, seed: int, sampler: str | None = None) -> list[ImageRequest]:
    """The first `count` ImageNet-FID requests of the full plan (one per class), FID sampler settings."""
    task = discover().get(IMAGE_TASK)
    docs = task.load_docs(DataSource(kind="hub"))[:count]  # built locally: class names x sample index
    requests = [task.build_request(doc, doc_seed(seed, task.name, task.doc_id(doc))) for doc in docs]
    if sampler is not None:
        requests = [dataclasses.replace(r, extra={**r.extra, "sampler": sampler}) for r in requests]
    return requests


def in_batches(method: Callable[[list], list], requests: Sequence, batch_size: int) -> list:
    """Outputs of `method` over `requests` cut into batches of `batch_size`."""
    outputs: list = []
    for start in range(0, len(requests), batch_size):
        outputs.extend(method(list(requests[start : start + batch_size])))
    return outputs


# -- sections ------------------------------------------------------------------------------------
def rates_by_batch_size(method: Callable[[list], list], requests_for: Callable[[int], list],
                        config: BenchConfig, unit: str) -> list[dict[str, Any]]:
    """Items per second of `method` at each batch size: one warm-up batch each, then the batch sizes in turn
    `repeats` times (interleaved, so that a change in the machine's load moves every size alike)."""
    requests = {b: requests_for(b) for b in config.batch_sizes}
    for batch_size in config.batch_sizes:
        method(requests[batch_size][:batch_size])
    seconds: dict[int, list[float]] = {b: [] for b in config.batch_sizes}
    for _ in range(config.repeats):
        for b in config.batch_sizes:
            seconds[b].append(time_once(lambda r=requests[b], b=b: in_batches(method, r, b), config.device))
    rows = []
    for b in config.batch_sizes:
        timing = Timing(count=len(requests[b]), seconds=tuple(seconds[b]))
        rows.append({"batch_size": b, **timing.to_json(unit)})
        logger.info("%s at batch %d: %.2f %s/s", method.__name__, b, timing.rate, unit)
    return rows


def text_section(adapter, config: BenchConfig) -> dict[str, Any]:
    """generate_text documents/s per batch size on GQA-shaped requests; at the largest batch size also with the
    requests prepared beforehand (what the loader takes off the model's path where `prepare_ahead` is on)."""
    pool, source = text_requests(max(config.items(b) for b in config.batch_sizes), config.seed)
    rows = rates_by_batch_size(adapter.generate_text, lambda b: pool[: config.items(b)], config, "docs")
    section = {"requests": source, "max_new_tokens": pool[0].max_new_tokens, "rows": rows}
    if hasattr(adapter, "prepare"):
        b = config.max_batch
        prepared = adapter.prepare(pool[: config.items(b)])
        in_batches(adapter.generate_text, prepared[:b], b)
        timing = time_repeats(lambda: in_batches(adapter.generate_text, prepared, b), len(prepared),
                              config.repeats, config.device)
        unprepared = next(r["docs_per_s"] for r in rows if r["batch_size"] == b)
        section["prepared_ahead"] = {"batch_size": b, **timing.to_json("docs"),
                                     "preprocessing_share": round(1 - unprepared / timing.rate, 4),
                                     "adapter_prepares_ahead": bool(getattr(adapter, "prepare_ahead", False))}
    return section


def image_section(adapter, config: BenchConfig) -> dict[str, Any]:
    """generate_images images/s per batch size (batched sampler) and of the released one-image loop."""
    pool = image_requests(max(config.items(b) for b in config.batch_sizes), config.seed)
    rows = rates_by_batch_size(adapter.generate_images, lambda b: pool[: config.items(b)], config, "images")
    released = image_requests(config.released_items, config.seed, sampler="released")
    released_images: list = []

    def run_released() -> None:
        released_images[:] = in_batches(adapter.generate_images, released, 1)

    adapter.generate_images(released[:1])
    timing = time_repeats(run_released, len(released), config.repeats, config.device)
    batched_images = in_batches(adapter.generate_images, pool[: len(released)], config.max_batch)
    identical = sum(np.array_equal(a, b) for a, b in zip(released_images, batched_images))
    first = pool[0]
    return {
        "task": IMAGE_TASK,
        "sampler_settings": {"cfg": first.cfg, "top_k": first.top_k, "top_p": first.top_p},
        "image_size": list(np.asarray(batched_images[0]).shape),
        "rows": rows,
        "released": {"batch_size": 1, **timing.to_json("images")},
        "released_vs_batched_identical": {"identical": int(identical), "compared": len(released)},
    }


def split_section(adapter, config: BenchConfig) -> dict[str, Any]:
    """Seconds in the LLM, the VAR blocks and the VQ-VAE decoder during generation, batched and released."""
    model = adapter.model
    modules = {"llm": model.language_model.model, "var_blocks": model.vargpt_gen,
               "vqvae_decode": model.vae_local.decoder}
    result = {}
    for label, sampler, batch_size, count in (
        ("batched", None, config.max_batch, config.items(config.max_batch)),
        ("released", "released", 1, config.released_items),
    ):
        requests = image_requests(count, config.seed, sampler)
        timers = StageTimers(config.device)
        with timers.attached(modules):
            total = time_once(lambda r=requests, b=batch_size: in_batches(adapter.generate_images, r, b),
                              config.device)
        seconds = {**timers.seconds, "other": max(total - sum(timers.seconds.values()), 0.0)}
        result[label] = {
            "batch_size": batch_size, "images": count, "total_s": round(total, 5),
            "seconds": {k: round(v, 5) for k, v in seconds.items()},
            "fractions": {k: round(v / total, 4) for k, v in seconds.items()},
        }
    return result


def overhead_section(adapter, config: BenchConfig) -> dict[str, Any]:
    """Per batch size and workload: `evals run`'s worker loop vs the adapter alone (and adapter + scoring).

    Workloads: the demo slices of the text tasks (30 documents each, so per-task set-up weighs in), GQA's demo
    slice repeated to 300 questions (the per-document cost), and the image task's demo slice (FID: its scorer
    runs the Inception network on every image).
    """
    rows, fixed = [], {}
    with tempfile.TemporaryDirectory(prefix="vargpt-bench-gqa-") as folder:
        copies = 2 if config.quick else STEADY_COPIES
        replicated_gqa_copy(Path(folder), copies)
        workloads = (("text", "demo", RUN_TEXT_TASKS, "demo"),
                     ("text", f"gqa x{copies}", ("gqa",), folder),
                     ("image", "demo", (IMAGE_TASK,), "demo"))
        for batch_size in config.batch_sizes:
            for kind, workload, tasks, data in workloads:
                rows.append(overhead_row(adapter, config, batch_size, kind, workload, tasks, data, fixed))
    return {"rows": rows, "fixed_costs": fixed}


def overhead_row(adapter, config: BenchConfig, batch_size: int, kind: str, workload: str, tasks: Sequence[str],
                 data: str, fixed: dict[str, float]) -> dict[str, Any]:
    """One workload at one batch size: adapter-only and run-loop passes, interleaved, `repeats` times each."""
    direct, run, setup = [], [], []
    for repeat in range(config.repeats):
        # Interleaved, so that a change of machine load hits both sides alike.
        with planned_run(config.model_name, tasks, batch_size, ("cpu",), config.run_limit, data=data) as plan:
            batches = shard_batches(plan)
            if repeat == 0:
                warm_up(adapter, plan)
            direct.append(time_direct(adapter, batches, config.device))
            setup.append(time_task_setup(plan))
        start = time.perf_counter()
        with planned_run(config.model_name, tasks, batch_size, ("cpu",), config.run_limit, data=data) as plan:
            fixed.setdefault(f"prepare {kind} {workload}", round(time.perf_counter() - start, 4))
            run.append(time_run_loop(adapter, plan, config.device))
            if batch_size == config.max_batch and repeat == 0:
                start = time.perf_counter()
                aggregate_run(plan, run_metadata(plan, now_iso(), time.time()))
                fixed[f"aggregate {kind} {workload}"] = round(time.perf_counter() - start, 4)
    docs = direct[0].docs
    adapter_rate = docs / statistics.median(d.adapter_s for d in direct)
    scored_rate = docs / statistics.median(d.adapter_s + d.scoring_s for d in direct)
    run_s = statistics.median(r.seconds for r in run)
    run_rate = run[0].docs / run_s
    setup_s = statistics.median(setup)
    logger.info("overhead %s %s batch %d: run/adapter %.3f", kind, workload, batch_size, run_rate / adapter_rate)
    return {
        "kind": kind, "workload": workload, "tasks": list(tasks), "batch_size": batch_size, "docs": docs,
        "adapter_docs_per_s": round(adapter_rate, 4),
        "adapter_scoring_docs_per_s": round(scored_rate, 4),
        "run_docs_per_s": round(run_rate, 4),
        "run_vs_adapter": round(run_rate / adapter_rate, 4),
        "run_vs_adapter_scoring": round(run_rate / scored_rate, 4),
        "scoring_fraction": round(1 - scored_rate / adapter_rate, 4),
        # Opening the tasks' documents is part of the run loop but does not grow with the documents: on a
        # 30-document demo task it weighs, on a real one (thousands) it vanishes. Shown, not subtracted above.
        "task_setup_s": round(setup_s, 5),
        "run_vs_adapter_after_setup": round(run[0].docs / (run_s - setup_s) / adapter_rate, 4),
        # CPU seconds of the whole process (loader and writer threads too): what the harness adds in work,
        # whatever the machine's load. The adapter-only pass has its images decoded beforehand.
        "run_vs_direct_cpu": round(statistics.median(d.cpu_s for d in direct)
                                   / statistics.median(r.cpu_s for r in run), 4),
        "adapter_s": [round(d.adapter_s, 5) for d in direct],
        "scoring_s": [round(d.scoring_s, 5) for d in direct],
        "run_s": [round(r.seconds, 5) for r in run],
        "direct_cpu_s": [round(d.cpu_s, 5) for d in direct],
        "run_cpu_s": [round(r.cpu_s, 5) for r in run],
    }


def inception_section(config: BenchConfig) -> dict[str, Any]:
    """Images/s of Inception pool features and logits on 256-px uint8 images (the released output size)."""
    from tasks.image_metrics.inception import (
        InceptionWeightsUnavailable,
        images_to_features,
        load_inception,
        random_inception,
        resolve_inception_weights,
    )

    device = torch.device(config.device)
    try:  # the official weights when cached; never a download here
        extractor, weights = load_inception(str(resolve_inception_weights(None, download=False)), device=device)
        label = weights.label
    except InceptionWeightsUnavailable:
        extractor, label = random_inception(0).to(device).eval(), "random-inception-seed0 (same arithmetic)"
    count = config.inception_images
    images_BHWC = np.random.default_rng(config.seed).integers(0, 256, (count, 256, 256, 3), dtype=np.uint8)
    images_to_features(extractor, images_BHWC[:2])
    timing = time_repeats(lambda: images_to_features(extractor, images_BHWC), count, config.repeats, device)
    return {"weights": label, "image_size": 256, **timing.to_json("images")}


def workers_section(config: BenchConfig) -> dict[str, Any]:
    """One vs two spawned CPU workers (one thread each) on the demo tasks at the largest batch size.

    Each repeat also times perfectly parallel work in the same process layout (`machine_parallel_speedup`), so
    that the workers' speedup can be read against what the shared machine gave two processes at that moment.
    """
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    machine_runs = []
    for _ in range(config.repeats):
        for workers in (1, 2):
            runs[workers].append(time_workers(config.model_name, RUN_TASKS, config.max_batch, workers,
                                              config.threads, config.run_limit))
        machine_runs.append(machine_parallel_speedup(SPIN_UNITS // (10 if config.quick else 1), config.threads))
    one = statistics.median(r["docs_per_s"] for r in runs[1])
    two = statistics.median(r["docs_per_s"] for r in runs[2])
    # With a free core per worker the run would take its busiest worker's CPU time: the speedup the work
    # split allows, apart from what other processes on a shared machine take.
    one_cpu = statistics.median(r["per_worker_cpu_s"][0] for r in runs[1])
    two_cpu = statistics.median(max(r["per_worker_cpu_s"]) for r in runs[2])
    machine = statistics.median(r["speedup"] for r in machine_runs)
    return {"tasks": list(RUN_TASKS), "batch_size": config.max_batch, "threads_per_worker": config.threads,
            "one_docs_per_s": one, "two_docs_per_s": two, "speedup": round(two / one, 4),
            "cpu_bound_speedup": round(one_cpu / two_cpu, 4), "machine_parallel_speedup": machine,
            "speedup_vs_machine": round((two / one) / machine, 4),
            "runs": {str(k): v for k, v in runs.items()}, "machine_runs": machine_runs}


def count_flops(run: Callable[[], Any]) -> int:
    """FLOPs of the matrix products, convolutions and attention one call of `run` executes."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return int(counter.get_total_flops())


def peak_tflops(config: BenchConfig) -> tuple[float | None, str]:
    """The card's dense bf16 peak (TFLOP/s) and where the number comes from."""
    if config.peak_tflops:
        return config.peak_tflops, "--peak-tflops"
    if config.device != "cuda":
        return None, "no peak for CPUs; give --peak-tflops"
    name = torch.cuda.get_device_name()
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value, f"data sheet, {key} dense bf16"
    return None, f"unknown card {name!r}; give --peak-tflops"


def mfu_section(adapter, config: BenchConfig, results: dict[str, Any]) -> dict[str, Any]:
    """FLOPs per image and per document, achieved TFLOP/s at the best batch size, MFU, projected FID hours."""
    image_flops = count_flops(lambda: adapter.generate_images(image_requests(1, config.seed)))
    text_flops = count_flops(lambda: adapter.generate_text(text_requests(1, config.seed)[0]))
    peak, peak_source = peak_tflops(config)
    out: dict[str, Any] = {"peak_tflops": peak, "peak_source": peak_source,
                           "flops_per_image": image_flops, "flops_per_doc": text_flops}
    for key, section, unit, flops in (("generation", "images", "images", image_flops),
                                      ("understanding", "text", "docs", text_flops)):
        rows = results.get(section, {}).get("rows") or []
        if not rows:
            continue
        best = max(rows, key=lambda r: r[f"{unit}_per_s"])
        achieved = flops * best[f"{unit}_per_s"] / 1e12
        out[key] = {"batch_size": best["batch_size"], f"{unit}_per_s": best[f"{unit}_per_s"],
                    "achieved_tflops": round(achieved, 4), "mfu": round(achieved / peak, 5) if peak else None}
    generation = out.get("generation")
    inception = results.get("inception")
    if generation and inception:
        generate_h = FID_IMAGES / generation["images_per_s"] / 3600
        features_h = FID_IMAGES / inception["images_per_s"] / 3600
        out["projected_fid"] = {"images": FID_IMAGES, "generation_hours": round(generate_h, 4),
                                "inception_hours": round(features_h, 4), "hours": round(generate_h + features_h, 4),
                                "batch_size": generation["batch_size"]}
    return out


def model_checks(adapter, config: BenchConfig, results: dict[str, Any]) -> dict[str, Any]:
    """A random model's size, dtype and device, and the shape of what it generated, each checked."""
    model = adapter.model
    floats = [p for p in model.parameters() if p.is_floating_point()]
    numbers = sum(t.numel() for t in model.state_dict().values())
    checks: dict[str, Any] = {
        "state_dict_numbers": numbers,
        "dtype_ok": all(p.dtype == getattr(torch, config.dtype) for p in floats),
        "device_ok": all(p.device.type == config.device for p in floats),
    }
    if config.model_name == "random-full":
        checks["released_size_ok"] = abs(numbers - RELEASED_NUMBERS) / RELEASED_NUMBERS < 0.005
    if "images" in results:
        side = model.vae_local.image_size
        checks["image_shape_ok"] = results["images"]["image_size"] == [side, side, 3]
    checks["ok"] = all(v for k, v in checks.items() if k.endswith("_ok"))
    return checks


# -- targets -------------------------------------------------------------------------------------
def batching_ratio(rows: Sequence[dict[str, Any]], unit: str) -> dict[str, Any] | None:
    """Rate at batch 16 (else the largest) over the rate at batch 1 (else the smallest)."""
    if len(rows) < 2:
        return None
    by_size = {r["batch_size"]: r[f"{unit}_per_s"] for r in rows}
    high = 16 if 16 in by_size else max(by_size)
    low = 1 if 1 in by_size else min(by_size)
    return {"high": high, "low": low, "ratio": by_size[high] / by_size[low]}


def target(name: str, value: float | None, threshold: float, higher: bool = True, note: str = "") -> dict[str, Any]:
    """One target row: value, threshold, and whether it is met (None when not measured)."""
    met = None if value is None else (value >= threshold if higher else value <= threshold)
    return {"target": name, "value": None if value is None else round(value, 4),
            "threshold": f"{'>=' if higher else '<='} {threshold:g}", "met": met, "note": note}


def evaluate_targets(results: dict[str, Any], config: BenchConfig) -> list[dict[str, Any]]:
    """Issue 8's targets these measurements decide: the CPU ones for tiny, the GPU ones for random models."""
    rows = []
    if not config.model_name.startswith("random-"):  # the CPU targets are the tiny model's
        for row in results.get("overhead", {}).get("rows", []):
            where = f"{row['kind']} {row['workload']}, batch {row['batch_size']}"
            if row["kind"] == "text":
                rows.append(target(f"harness overhead, {where}: run / adapter", row["run_vs_adapter"],
                                   OVERHEAD_MIN))
            else:
                rows.append(target(f"harness overhead, {where}: run / (adapter + Inception scoring)",
                                   row["run_vs_adapter_scoring"], OVERHEAD_MIN,
                                   note=f"run / adapter alone {row['run_vs_adapter']:.3f}: Inception scoring is "
                                        f"{row['scoring_fraction']:.0%} of the work"))
        for section, unit, label in (("text", "docs", "text requests"), ("images", "images", "image generation")):
            ratio = batching_ratio(results.get(section, {}).get("rows", []), unit)
            if ratio:
                rows.append(target(f"batching, {label}: batch {ratio['high']} / batch {ratio['low']}",
                                   ratio["ratio"], BATCHING_MIN))
        if "workers" in results:
            w = results["workers"]
            rows.append(target("two CPU workers / one worker (demo)", w["speedup"], WORKERS_MIN,
                               note=f"perfectly parallel work got x{w['machine_parallel_speedup']:.2f} on this machine "
                                    f"meanwhile; CPU-time bound x{w['cpu_bound_speedup']:.2f}"))
    else:
        images = results.get("images")
        if images:
            best = max(r["images_per_s"] for r in images["rows"])
            rows.append(target("generation: batched / released loop, images/s",
                               best / images["released"]["images_per_s"], GENERATION_SPEEDUP_MIN))
        projected = results.get("mfu", {}).get("projected_fid")
        if projected:
            rows.append(target("projected 50k-image FID run (GPU-hours)", projected["hours"], FID_HOURS_MAX,
                               higher=False))
        ratio = batching_ratio(results.get("text", {}).get("rows", []), "docs")
        if ratio:
            rows.append(target(f"understanding: batch {ratio['high']} / batch {ratio['low']}", ratio["ratio"],
                               UNDERSTANDING_MIN))
    return rows


# -- the run -------------------------------------------------------------------------------------
def run_bench(config: BenchConfig, checkpoint: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Every selected section on one device; returns the JSON-ready results.

    `checkpoint` gets the results so far after each section, so a run cut short (a GPU lease's time limit)
    still leaves the sections it finished.
    """
    from evals.run.provenance import git_commit, package_versions

    if config.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but no CUDA device is visible; use --device cpu")
    if config.device == "cpu":  # on a GPU host the CPU side (tokenising, image preprocessing) keeps torch's default
        torch.set_num_threads(config.threads)
    results: dict[str, Any] = {
        "bench_version": BENCH_VERSION,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "versions": package_versions(),
        "machine": machine(config.device),
        "settings": {**dataclasses.asdict(config), "model": config.model_name, "dtype": config.dtype},
        "skipped": {},
    }
    adapter, load_s = load_adapter(config)
    results["model"] = {**adapter.describe(), "load_s": round(load_s, 3),
                        "parameters": sum(p.numel() for p in adapter.model.parameters())}
    sections = set(config.sections)
    if config.device == "cuda" or config.model_name.startswith("random-"):
        for name in CPU_ONLY_SECTIONS:
            if name in sections:
                sections.discard(name)
                results["skipped"][name] = "needs a model `evals run` can load by name on the CPU (tiny)"
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("text", lambda: text_section(adapter, config)),
        ("images", lambda: image_section(adapter, config)),
        ("split", lambda: split_section(adapter, config)),
        ("inception", lambda: inception_section(config)),
        ("overhead", lambda: overhead_section(adapter, config)),
        ("workers", lambda: workers_section(config)),
        ("mfu", lambda: mfu_section(adapter, config, results)),
    ]
    results["section_seconds"] = {}
    for name, step in steps:
        if name in sections:
            logger.info("bench: %s", name)
            start = time.perf_counter()
            results[name] = step()
            results["section_seconds"][name] = round(time.perf_counter() - start, 2)
            if checkpoint is not None:
                checkpoint(results)
    if config.model_name.startswith("random-"):
        results["checks"] = model_checks(adapter, config, results)
        if not results["checks"]["ok"]:
            logger.warning("model checks failed: %s", results["checks"])
    results["targets"] = evaluate_targets(results, config)
    results["machine"]["load_average_after"] = machine(config.device)["load_average"]
    return results


# -- the command ---------------------------------------------------------------------------------
def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="cpu: tiny model (default); cuda: full-size random-weights model in bf16")
    parser.add_argument("--batch-sizes", default="1,4,16", help="comma-separated batch sizes (default 1,4,16)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file for the numbers (default bench/runs/<date>-<device>.json)")
    parser.add_argument("--quick", action="store_true", help="one repeat, few documents: a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timings per measurement, median kept (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads per CPU process (default 1)")
    parser.add_argument("--model", default="auto", choices=MODELS,
                        help="auto: tiny on cpu, random-full on cuda; random-small dry-runs the GPU path")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"subset of {','.join(SECTIONS)}")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for MFU")


def bench_config_from_args(args: argparse.Namespace) -> BenchConfig:
    """BenchConfig from parsed `bench` arguments."""
    try:
        batch_sizes = tuple(int(v) for v in args.batch_sizes.split(",") if v.strip())
    except ValueError:
        raise UsageError(f"--batch-sizes {args.batch_sizes!r} must be comma-separated integers, e.g. 1,4,16") from None
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    return BenchConfig(device=args.device, model=args.model, batch_sizes=batch_sizes, quick=args.quick,
                       repeats=repeats, threads=args.threads, sections=sections, peak_tflops=args.peak_tflops)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the results atomically (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(path)


def default_output(device: str) -> Path:
    """bench/runs/<UTC date and time>-<device>.json."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("bench") / "runs" / f"{stamp}-{device}.json"


def bench_command(args: argparse.Namespace) -> int:
    """`bench`: measure, print the tables, write the JSON."""
    from evals.bench.report import render_tables

    config = bench_config_from_args(args)
    output = args.output or default_output(config.device)
    output.parent.mkdir(parents=True, exist_ok=True)
    results = run_bench(config, checkpoint=lambda partial: write_json(partial, output))
    write_json(results, output)
    sys.stdout.write(render_tables(results))
    sys.stdout.write(f"numbers: {output}\n")
    return 0
