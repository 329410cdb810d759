"""The generation request of an image task: the sampler options every image task declares, and their presets.

Defaults are VAR's FID protocol: cfg 1.5 (ramped linearly over the 10 scales by the sampler), top-k 900,
top-p 0.96, with the class row the LLM emits after `<|image_gen_start|>` as condition. VARGPT's released
samplers (vargpt/image_generation.py explains both): the lmms-eval copy runs without guidance at top-p 0.95
(`--gen-kwargs cfg=0,top_p=0.95`); the image-generation demo copy guides with cfg 1.5, top-p 0.96 on the
unconditional class row (`--gen-kwargs condition=unconditional_row`). A task's `protocol()` names the preset
in use (`sampler_preset`); `condition` travels in the request's `extra`.
"""

from __future__ import annotations

import string
from collections.abc import Set

from evals.requests import ImageRequest
from evals.task_api import Task, TaskOptionError

# The condition names are vargpt.image_generation.CONDITIONS (tasks do not import the model).
CONDITIONS = ("emitted_token", "unconditional_row")
VAR_FID_SAMPLER = {"cfg": 1.5, "top_k": 900, "top_p": 0.96, "condition": "emitted_token"}
SAMPLER_PRESETS = {
    "var-fid": VAR_FID_SAMPLER,
    "released": {"cfg": 0.0, "top_k": 900, "top_p": 0.95, "condition": "emitted_token"},
    "released-demo-guided": {"cfg": 1.5, "top_k": 900, "top_p": 0.96, "condition": "unconditional_row"},
}
SAMPLER_OPTIONS = dict(VAR_FID_SAMPLER)  # the options (and defaults) an image task declares


def sampler_preset(cfg: float, top_k: int, top_p: float, condition: str) -> str:
    """Which published sampler the settings match (a SAMPLER_PRESETS name), or "custom"."""
    settings = {"cfg": cfg, "top_k": top_k, "top_p": top_p, "condition": condition}
    return next((name for name, preset in SAMPLER_PRESETS.items() if preset == settings), "custom")


def task_sampler_preset(task: Task) -> str:
    """The preset a configured task's sampler options match."""
    return sampler_preset(*(task.option(k) for k in SAMPLER_OPTIONS))


def check_sampler_options(task: Task) -> None:
    """Refuse sampler options the sampler would reject (TaskOptionError, one line)."""
    if task.option("cfg") < 0 or task.option("top_k") < 0 or not 0 < task.option("top_p") <= 1:
        raise TaskOptionError("sampler options need cfg >= 0, top_k >= 0 (0 = off) and 0 < top_p <= 1")
    if task.option("condition") not in CONDITIONS:
        raise TaskOptionError(f"condition={task.option('condition')!r} is not one of {', '.join(CONDITIONS)}")


def check_template(option: str, template: str, required: Set[str], allowed: Set[str]) -> None:
    """A template must name at least one of `required` and nothing outside `allowed`; else TaskOptionError."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TaskOptionError(f"{option} {template!r} is not a valid format string ({exc})") from None
    if not fields & required or not fields <= allowed:
        wanted = " or ".join(f"{{{name}}}" for name in sorted(required))
        raise TaskOptionError(
            f"{option} {template!r} must contain {wanted} and only fields of {sorted(allowed)} (got {sorted(fields)})"
        )


def image_request(task: Task, *, doc_id: str, prompt: str, seed: int) -> ImageRequest:
    """An ImageRequest with the document's instruction and seed and the task's sampler options."""
    return ImageRequest(
        doc_id=doc_id,
        prompt=prompt,
        seed=seed,
        cfg=float(task.option("cfg")),
        top_k=int(task.option("top_k")),
        top_p=float(task.option("top_p")),
        extra={"condition": task.option("condition")},
    )
