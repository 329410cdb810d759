"""ImageNet 256x256 class-conditional generation: FID, IS, precision and recall (VAR's protocol), and CLIP score.

VARGPT's generator was trained on ImageNet only, and VAR, whose decoder it reuses, is judged by
ImageNet-256 FID (VAR-d30: FID 1.92, IS 323.1). The VARGPT papers give no FID; this task produces it.
Protocol (shared/reference/paper_and_fid.md, section 3): 50 samples for each of the 1000 classes
(50,000 images), FID against the statistics of OpenAI's ADM reference batch
`VIRTUAL_imagenet256_labeled.npz`, IS over 10 splits, precision/recall with k=3 against the batch's
10,000 reference images, all on the 2048-d pool features of torch-fidelity's TF-compatible InceptionV3.

Documents: (class index, sample index) pairs, id `c0412-s007`, in sample-major plan order
(s000 of classes 0..999, then s001 of every class, ...). Hence `--limit N` keeps the first N of that
order: any multiple of 1000 is exactly N/1000 images of every class (`--limit 1000` = one per class),
never all 50 images of the first classes. FID from fewer than 50,000 images is biased upwards and is
not comparable with published numbers; `--gen-kwargs per_class=N` sets the number per class.
With `--data demo` the documents are the first 8 classes, at most 2 per class.

Requests: the instruction is `template` filled with the class name (VARGPT is prompted in words, not
with a class label); the seed is the runner's `doc_seed(run seed, task, doc id)`, so every image has
its own seed, independent of GPU count, shard and batch position.

Sampler options and presets (tasks/data/image_request.py): defaults are VAR's FID protocol (cfg 1.5 ramped
over the 10 scales, top-k 900, top-p 0.96, the class row the LLM emits as condition); `protocol()` names the
preset in use (VARGPT's released samplers are presets too).

CLIP score: each image also scores against its class prompt, `clip_template` filled with the class name
(default "a photo of {article} {class_name}.", CLIP's own zero-shot prompt form, rather than the instruction),
with the CLIP and definition of coco_t2i (tasks/image_metrics/clip_score.py: torchmetrics' CLIPScore, ViT-L/14
by default, `clip_model`/`clip_revision` to change; the tiny random CLIP stands in on demo data).

Before the first image, `prepare` resolves the Inception weights, the CLIP model and the reference (downloading
what is missing) and checks the reference's form, so that a missing file or a wrong-shaped reference stops the
run with one line instead of after 50,000 images. Under torchrun, `prepare` runs on rank 0 and every rank's
`check_inputs` then finds the weights and the CLIP it will score with (without downloading): a node that lacks
them, or holds others, stops the whole run before any model work. The reference is read only by aggregation
(rank 0) and is left out of the run fingerprint (`records_protocol`): a run refused for its reference finishes,
with the recorded features, when rerun with a corrected `--fid-ref`.

Scoring: `score_batch` computes Inception features on the worker's device as images arrive (images of
any size are resized to 299x299 by torch-fidelity's TF1-compatible bilinear interpolation); they are
stored per worker and, at aggregation, concatenated in plan order, so the metrics do not depend on
the number of workers. IS uses 10 unshuffled splits in that order, which is what ADM's evaluator
computes on our `samples.npz` (written in the same order); below 20 images, fewer splits of two.
FID uses torch-fidelity's float64 formula (below 2049 images, the same trace term from the N x N
Gram form, which is exact and fast). See tasks/image_metrics/fid.py for the formulas.

Options (`--gen-kwargs k=v` or the run flags): per_class, template, clip_template, cfg, top_k, top_p, condition,
clip_model, clip_revision;
save_samples (`--save-samples`: keep every image in the records; aggregation writes RUN/fid/samples/
<doc id>.png and RUN/fid/samples.npz with `arr_0` uint8 NHWC and `arr_1` class labels, the ADM
evaluator's input, one image at a time), inception_weights (`--inception-weights`), fid_ref (`--fid-ref`; see
tasks/image_metrics/fid_reference.py). RUN/fid/samples_grid.png (first 8 classes x first 8 samples) is always written.

The 1000 class names in tasks/imagenet_classes.txt are torchvision's ImageNet-1k `categories`
(class-index order), written once with
`"\\n".join(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evals.requests import ImageRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec, DataSource, Task, TaskOptionError
from tasks.data.image_request import (
    SAMPLER_OPTIONS,
    check_sampler_options,
    check_template,
    image_request,
    task_sampler_preset,
)
from tasks.image_metrics import image_scores as scores_
from tasks.image_metrics.clip_score import prefetch_clip
from tasks.image_metrics.fid import PRC_NEIGHBORHOOD
from tasks.image_metrics.fid_reference import FidReference, check_reference, load_reference, resolve_reference_path
from tasks.image_metrics.image_scores import (  # noqa: F401 - re-exported: the names tests and users know
    LOGITS_ARRAY,
    POOL_ARRAY,
    SAMPLE_ARRAY,
    InceptionFeaturesMismatch,
)
from tasks.image_metrics.inception import metric_suffix, resolve_inception_weights
from tasks.image_metrics.samples import write_samples

logger = logging.getLogger(__name__)

VERSION = "2"  # 2: the CLIP score of each image against its class prompt
CLASSES_FILE = Path(__file__).parent / "imagenet_classes.txt"
NUM_CLASSES = 1000
DEFAULT_PER_CLASS = 50  # VAR: 50,000 samples, 50 per class
MAX_PER_CLASS = 1000  # the id pads the sample index to 3 digits
DEMO_NUM_CLASSES, DEMO_PER_CLASS = 8, 2
GRID_CLASSES, GRID_SAMPLES, GRID_CELL = 8, 8, 128  # sample grid: first classes x first samples, cell px

# Modelled on the instructions of VARGPT's README ("Please create a painting of ...", "Can you
# generate a rendered photo of ..."); the class name stands in for the caption.
DEFAULT_TEMPLATE = "Please create a photo of {article} {class_name}."
# The text the CLIP score compares each image with: CLIP's zero-shot prompt form, not the instruction.
DEFAULT_CLIP_TEMPLATE = "a photo of {article} {class_name}."
TEMPLATE_FIELDS = frozenset({"class_name", "article"})


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in class-index order."""
    names = tuple(line for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines() if line)
    assert len(names) == NUM_CLASSES, f"{CLASSES_FILE} has {len(names)} names"
    return names


def make_doc_id(class_index: int, sample_index: int) -> str:
    """`c0412-s007`: zero-padded, so ids sort by class then sample."""
    return f"c{class_index:04d}-s{sample_index:03d}"


def parse_doc_id(doc_id: str) -> tuple[int, int]:
    """(class index, sample index) of an id made by make_doc_id."""
    class_part, sample_part = doc_id.split("-")
    return int(class_part[1:]), int(sample_part[1:])


def plan_order_key(doc_id: str) -> tuple[int, int]:
    """Sort key of the plan order: sample index first, then class (sample-major)."""
    class_index, sample_index = parse_doc_id(doc_id)
    return sample_index, class_index


def make_docs(num_classes: int, per_class: int, data: str) -> list[dict]:
    """Documents in plan order: every class's sample 0, then every class's sample 1, ..."""
    names = class_names()
    return [
        {
            "doc_id": make_doc_id(c, s),
            "class_index": c,
            "class_name": names[c],
            "sample_index": s,
            "data": data,
        }
        for s in range(per_class)
        for c in range(num_classes)
    ]


def indefinite_article(noun: str) -> str:
    """'an' before a vowel letter, else 'a' (good enough for the 1000 class names)."""
    return "an" if noun[:1].lower() in "aeiou" else "a"


def build_prompt(template: str, class_name: str) -> str:
    """The instruction for one class: `template` with {class_name} and {article} filled in."""
    return template.format(class_name=class_name, article=indefinite_article(class_name))


def in_grid(class_index: int, sample_index: int) -> bool:
    """Whether a document's image goes into the sample grid."""
    return class_index < GRID_CLASSES and sample_index < GRID_SAMPLES


@dataclass(frozen=True)
class ImageNetFidTask(Task):
    """Class-conditional ImageNet generation scored with FID, IS, precision, recall and CLIP score."""

    reads_hub_dataset: ClassVar[bool] = False  # documents are the bundled class names

    # -- configuration -------------------------------------------------------------------------
    def with_options(self, overrides: dict[str, str]) -> ImageNetFidTask:
        """A configured copy; a bad template, count or sampler setting raises TaskOptionError."""
        task = super().with_options(overrides)
        for option in ("template", "clip_template"):
            check_template(option, task.option(option), {"class_name"}, TEMPLATE_FIELDS)
        per_class = task.option("per_class")
        if not 1 <= per_class <= MAX_PER_CLASS:
            raise TaskOptionError(f"per_class={per_class} must be between 1 and {MAX_PER_CLASS}")
        check_sampler_options(task)
        return task

    def protocol(self) -> dict[str, Any]:
        """Options plus the sampler preset, feature extractor and metric definitions."""
        values = super().protocol()
        values["sampler"] = task_sampler_preset(self)
        values["clip"] = scores_.clip_protocol(self, "clip_template filled with the class name")
        values["plan_order"] = "sample-major (c*-s000 for all classes, then s001, ...); --limit keeps a prefix"
        values["features"] = (
            "torch-fidelity inception-v3-compat (TF 2015-12-05 port), TF1 bilinear resize to 299; "
            "pool 2048 for FID and precision/recall, logits_unbiased for IS"
        )
        values["metrics"] = (
            "FID float64 (torch-fidelity fid_statistics_to_metric); IS mean/std over 10 unshuffled splits "
            f"in plan order; precision/recall k={PRC_NEIGHBORHOOD} against the reference images"
        )
        return values

    def records_protocol(self) -> dict[str, Any]:
        """protocol() without what only aggregation reads (the reference, the metric definitions), so that a
        corrected --fid-ref re-aggregates the recorded features instead of refusing the run folder."""
        values = self.protocol()
        values["options"] = {k: v for k, v in values["options"].items() if k not in scores_.AGGREGATION_OPTIONS}
        del values["metrics"]
        return values

    def prepare(self, source: DataSource) -> None:
        """Resolve the Inception weights, the CLIP model and the reference and check the reference's form, before
        any image."""
        demo = source.kind == "demo"
        weights = scores_.prepare_scorers(self, demo)
        reference = _resolved_reference(self.option("fid_ref"), demo)
        check_reference(reference, weights.label, official_weights=not metric_suffix(weights.label))

    def check_inputs(self, source: DataSource) -> dict[str, str]:
        """The Inception weights (read through, hashed) and the CLIP this process scores with, found without
        downloading."""
        return scores_.check_scorers(self, source.kind == "demo")

    # -- documents -----------------------------------------------------------------------------
    def load_docs(self, source: DataSource) -> Sequence[dict]:
        """(class, sample) documents in plan order; the demo slice is 8 classes, at most 2 each."""
        per_class = self.option("per_class")
        if source.kind == "demo":
            return make_docs(DEMO_NUM_CLASSES, min(per_class, DEMO_PER_CLASS), source.kind)
        return make_docs(NUM_CLASSES, per_class, source.kind)

    def doc_id(self, doc: dict) -> str:
        """`c<class:04d>-s<sample:03d>`."""
        return doc["doc_id"]

    def build_request(self, doc: dict, seed: int) -> ImageRequest:
        """The class's instruction, the document's own seed, and the sampler options."""
        prompt = build_prompt(self.option("template"), doc["class_name"])
        return image_request(self, doc_id=doc["doc_id"], prompt=prompt, seed=seed)

    # -- scoring -------------------------------------------------------------------------------
    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        """Inception features of one image (see score_batch)."""
        return self.score_batch([doc], [output])[0]

    def score_batch(self, docs: Sequence[dict], outputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Pool features, unbiased logits and CLIP score of a batch of images, on the worker's device."""
        if not docs:
            return []
        demo = all(doc.get("data") == "demo" for doc in docs)
        texts = [build_prompt(self.option("clip_template"), doc["class_name"]) for doc in docs]
        images, scored = scores_.score_images(self, outputs, texts, demo)
        keep_all = bool(self.option("save_samples"))
        results = []
        for doc, image, values in zip(docs, images, scored):
            values |= {
                "class_index": doc["class_index"],
                "sample_index": doc["sample_index"],
                scores_.DATA_SCORE: doc.get("data", "hub"),
            }
            if keep_all or in_grid(doc["class_index"], doc["sample_index"]):
                values[SAMPLE_ARRAY] = image
            results.append(values)
        return results

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        """FID, IS, precision/recall, CLIP score and counts from every worker's records, in plan order."""
        ordered = sorted(records, key=lambda r: plan_order_key(r.doc_id))
        scored = scores_.inception_scored(ordered)
        metrics: dict[str, float] = {scores_.NUM_IMAGES: len(scored), scores_.NUM_ERRORS: len(records) - len(scored)}
        demo = all(r.scores.get(scores_.DATA_SCORE) == "demo" for r in scored)
        metrics.update(scores_.inception_metrics(scored, lambda label: self._reference(label, demo), self.name))
        metrics.update(scores_.clip_metrics(ordered, self.name))
        return metrics

    def _reference(self, weights_label: str, demo: bool) -> FidReference:
        """The reference statistics, computing (and caching) reference features with the same weights."""
        path = _resolved_reference(self.option("fid_ref"), demo)
        feature_fn = scores_.pool_features_fn(self, weights_label, demo)
        return load_reference(path, feature_fn, weights_label, official_weights=not metric_suffix(weights_label))

    def primary_metric_name(self, metrics: Mapping[str, float]) -> str | None:
        """`fid` with the suffix of the weights its features came from (`fid_random_inception` on demo weights)."""
        return scores_.named_metric(metrics, scores_.FID, scores_.INCEPTION_SUFFIXES) or self.primary_metric

    def prefetch_extras(self) -> list[str]:
        """Fetch the Inception weights, the ADM reference batch and the CLIP model into their caches (unless given)."""
        return [
            f"Inception weights {resolve_inception_weights(self.option('inception_weights') or None)}",
            f"FID reference {resolve_reference_path(self.option('fid_ref') or None, demo=False)}",
            prefetch_clip(self.option("clip_model"), self.option("clip_revision")),
        ]

    # -- artifacts -----------------------------------------------------------------------------
    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        """In RUN/<task>/: the sample grid of the first classes; with save_samples, PNGs and samples.npz."""
        out_dir = Path(out_dir) / self.name
        kept = sorted((r for r in records if r.ok and SAMPLE_ARRAY in r.arrays), key=lambda r: plan_order_key(r.doc_id))
        written: list[Path] = []
        grid = sample_grid([r for r in kept if in_grid(*parse_doc_id(r.doc_id))])
        if grid is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            grid.save(out_dir / "samples_grid.png")
            written.append(out_dir / "samples_grid.png")
        if self.option("save_samples") and kept:
            labels = [parse_doc_id(r.doc_id)[0] for r in kept]  # ADM's evaluator reads class labels as arr_1
            written += write_samples(kept, out_dir / "samples", out_dir / "samples.npz", labels)
        return written


def sample_grid(records: Sequence[Record]) -> Image.Image | None:
    """Rows of classes, columns of samples, each cell GRID_CELL px; None without images."""
    if not records:
        return None
    cells = {parse_doc_id(r.doc_id): r.arrays[SAMPLE_ARRAY] for r in records}
    classes = sorted({c for c, _ in cells})
    samples = sorted({s for _, s in cells})
    grid = Image.new("RGB", (GRID_CELL * len(samples), GRID_CELL * len(classes)), (255, 255, 255))
    for (c, s), pixels in cells.items():
        cell = Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB")
        cell = cell.resize((GRID_CELL, GRID_CELL), Image.Resampling.BICUBIC)
        grid.paste(cell, (GRID_CELL * samples.index(s), GRID_CELL * classes.index(c)))
    return grid


@functools.lru_cache(maxsize=8)
def _resolved_reference(explicit: str, demo: bool) -> Path:
    """The reference path, resolved (and downloaded if needed) once per process."""
    return resolve_reference_path(explicit or None, demo)


FID_TASK = ImageNetFidTask(
    name="fid",
    kind="image",
    # Nothing is read through `datasets`: documents come from the 1000 bundled class names, and the
    # reference (ADM's batch) resolves in tasks/image_metrics/fid_reference.py.
    dataset=DatasetSpec(hub_id="bundled:imagenet-1k-classes", split="classes x samples"),
    version=VERSION,
    aliases=("imagenet",),
    primary_metric=scores_.FID,
    higher_is_better=scores_.higher_is_better(),
    default_options={
        "per_class": DEFAULT_PER_CLASS,
        "template": DEFAULT_TEMPLATE,
        "clip_template": DEFAULT_CLIP_TEMPLATE,
        **SAMPLER_OPTIONS,
        **scores_.OPTIONS,
    },
)
TASKS = [FID_TASK]
