"""The benchmark's JSON results as Markdown tables (what `evals bench` prints and bench/RESULTS.md quotes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; floats to three significant decimals, None as a dash."""
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def header_lines(results: dict[str, Any]) -> str:
    """Date, commit, machine, load, model and settings, one line each."""
    m, s = results["machine"], results["settings"]
    gpu = m.get("gpu") or {}
    lines = [
        f"date {results['date']}, commit {results.get('commit')}",
        f"machine: {m['cpu_model']}, {m['cpu_count']} cores" + (f", GPU {gpu['name']} {gpu['memory_gib']} GiB" if gpu else ""),
        f"load average before {m.get('load_average')}, after {m.get('load_average_after')}",
        f"model {s['model']} ({results['model'].get('parameters')} parameters, {s['dtype']}) on {s['device']}, "
        f"{s['threads']} torch thread(s), median of {s['repeats']} timing(s), batch sizes {list(s['batch_sizes'])}"
        + (", quick" if s.get("quick") else ""),
    ]
    return "\n".join(lines) + "\n"


def throughput_table(results: dict[str, Any]) -> str:
    """Requests per second per batch size, text and images, with the released loop."""
    rows = []
    for section, unit, label in (("text", "docs", "text (GQA-shaped)"), ("images", "images", "image generation")):
        entries = results.get(section, {}).get("rows") or []
        base = next((r[f"{unit}_per_s"] for r in entries if r["batch_size"] == 1), None)
        for r in entries:
            rate = r[f"{unit}_per_s"]
            rows.append([label, r["batch_size"], f"{rate:.2f} {unit}/s", rate / base if base else None])
    released = results.get("images", {}).get("released")
    if released:
        rows.append(["released one-image loop", 1, f"{released['images_per_s']:.2f} images/s", None])
    return markdown_table(["workload", "batch size", "rate", "vs batch 1"], rows)


def overhead_table(results: dict[str, Any]) -> str:
    """evals run worker loop vs adapter alone, per task kind and batch size."""
    rows = [[f"{r['kind']} {r['workload']}", r["batch_size"], r["docs"], r["adapter_docs_per_s"],
             r["adapter_scoring_docs_per_s"], r["run_docs_per_s"], r["run_vs_adapter"],
             f"{(1 - r['run_vs_adapter']) * 100:.1f}%", r["run_vs_adapter_scoring"], r["run_vs_direct_cpu"],
             r.get("task_setup_s"), r.get("run_vs_adapter_after_setup")]
            for r in results.get("overhead", {}).get("rows", [])]
    fixed = results.get("overhead", {}).get("fixed_costs") or {}
    text = markdown_table(["workload", "batch", "docs", "adapter docs/s", "adapter+scoring docs/s",
                           "evals run docs/s", "run/adapter", "overhead", "run/(adapter+scoring)",
                           "CPU s direct/run", "opening the tasks s", "run/adapter without opening"], rows)
    if fixed:
        text += "fixed costs (s): " + ", ".join(f"{k} {v}" for k, v in fixed.items()) + "\n"
    return text


def split_table(results: dict[str, Any]) -> str:
    """Share of image-generation time per stage."""
    rows = []
    for label, entry in results.get("split", {}).items():
        f = entry["fractions"]
        rows.append([label, entry["batch_size"], entry["images"], f"{f['llm']:.1%}", f"{f['var_blocks']:.1%}",
                     f"{f['vqvae_decode']:.1%}", f"{f['other']:.1%}", entry["total_s"]])
    return markdown_table(["sampler", "batch", "images", "LLM", "VAR blocks", "VQ-VAE decode", "other", "total s"],
                          rows)


def misc_table(results: dict[str, Any]) -> str:
    """Inception throughput, workers, FLOPs, MFU and the projected FID run."""
    rows = []
    ahead = results.get("text", {}).get("prepared_ahead")
    if ahead:
        rows.append([f"text at batch {ahead['batch_size']}, requests prepared beforehand",
                     f"{ahead['docs_per_s']:.2f} docs/s: tokenising and CLIP preprocessing are "
                     f"{ahead['preprocessing_share']:.1%} of the batch call (the loader does them "
                     f"{'ahead on this device' if ahead['adapter_prepares_ahead'] else 'only on an accelerator'})"])
    if "inception" in results:
        i = results["inception"]
        rows.append(["Inception features", f"{i['images_per_s']:.2f} images/s ({i['weights']})"])
    if "workers" in results:
        w = results["workers"]
        rates = (f"1: {w['one_docs_per_s']:.2f} docs/s, 2: {w['two_docs_per_s']:.2f} docs/s, x{w['speedup']:.2f} "
                 f"(CPU-time bound x{w['cpu_bound_speedup']:.2f}; the machine gave perfectly parallel work "
                 f"x{w['machine_parallel_speedup']:.2f} meanwhile)")
        rows.append([f"workers (demo, batch {w['batch_size']})", rates])
    mfu = results.get("mfu", {})
    if mfu:
        rows.append(["FLOPs per image / per document", f"{mfu['flops_per_image']:.3e} / {mfu['flops_per_doc']:.3e}"])
        for key in ("generation", "understanding"):
            if key in mfu:
                e = mfu[key]
                share = f", MFU {e['mfu']:.1%} of {mfu['peak_tflops']} TFLOP/s" if e.get("mfu") is not None else ""
                rows.append([f"{key} at batch {e['batch_size']}", f"{e['achieved_tflops']:.4g} TFLOP/s{share}"])
        if "projected_fid" in mfu:
            p = mfu["projected_fid"]
            hours = (f"{p['hours']:.3g} h (generation {p['generation_hours']:.3g} h, "
                     f"Inception {p['inception_hours']:.3g} h)")
            rows.append(["projected 50k FID run", hours])
    return markdown_table(["measure", "value"], rows) if rows else ""


def targets_table(results: dict[str, Any]) -> str:
    """Each target, its value and whether it is met."""
    rows = [[t["target"], t["value"], t["threshold"], t["met"], t.get("note", "")] for t in results.get("targets", [])]
    return markdown_table(["target", "value", "threshold", "met", "note"], rows)


def render_tables(results: dict[str, Any]) -> str:
    """Every table, with the header lines, as one Markdown text."""
    parts = [header_lines(results), throughput_table(results)]
    if results.get("overhead"):
        parts.append(overhead_table(results))
    if results.get("split"):
        parts.append(split_table(results))
    parts.append(misc_table(results))
    parts.append(targets_table(results))
    if results.get("checks"):
        checks = results["checks"]
        parts.append(f"model checks: {'ok' if checks['ok'] else 'FAILED'} ("
                     + ", ".join(f"{k} {v}" for k, v in checks.items() if k != "ok") + ")\n")
    if results.get("skipped"):
        parts.append("skipped: " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items()) + "\n")
    return "\n".join(p for p in parts if p)
