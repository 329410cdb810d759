"""ImageNet 256x256 class-conditional generation scored with FID, IS, precision and recall (VAR's protocol).

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

Sampler defaults are VAR's FID protocol: cfg 1.5 (ramped linearly over the 10 scales by the sampler),
top-k 900, top-p 0.96, with the class row the LLM emits after `<|image_gen_start|>` as condition.
VARGPT's released samplers (vargpt/image_generation.py explains both): the lmms-eval copy runs without
guidance at top-p 0.95 (`--gen-kwargs cfg=0,top_p=0.95`); the image-generation demo copy guides with
cfg 1.5, top-p 0.96 on the unconditional class row (`--gen-kwargs condition=unconditional_row`).
`protocol()` names the preset in use; `condition` travels in the request's `extra`.

Before the first image, `prepare` resolves the Inception weights and the reference (downloading what is
missing) and checks the reference's form, so that a missing file or a wrong-shaped reference stops the
run with one line instead of after 50,000 images. Under torchrun, `prepare` runs on rank 0 and every rank's
`check_inputs` then finds the weights it will score with (without downloading): a node that lacks them, or
holds other weights, stops the whole run before any model work. The reference is read only by aggregation
(rank 0) and is left out of the run fingerprint (`records_protocol`): a run refused for its reference finishes, with the
recorded features, when rerun with a corrected `--fid-ref`.

Scoring: `score_batch` computes Inception features on the worker's device as images arrive (images of
any size are resized to 299x299 by torch-fidelity's TF1-compatible bilinear interpolation); they are
stored per worker and, at aggregation, concatenated in plan order, so the metrics do not depend on
the number of workers. IS uses 10 unshuffled splits in that order, which is what ADM's evaluator
computes on our `samples.npz` (written in the same order); below 20 images, fewer splits of two.
FID uses torch-fidelity's float64 formula (below 2049 images, the same trace term from the N x N
Gram form, which is exact and fast). See tasks/image_metrics/fid.py for the formulas.

Options (`--gen-kwargs k=v` or the run flags): per_class, template, cfg, top_k, top_p, condition;
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
import os
import string
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from evals.errors import HarnessError
from evals.run.records import Record
from evals.requests import ImageRequest
from evals.task_api import DatasetSpec, DataSource, Task, TaskOptionError
from tasks.image_metrics.fid import (
    PRC_NEIGHBORHOOD,
    features_to_fid,
    features_to_precision_recall,
    logits_to_inception_score,
)
from tasks.image_metrics.fid_reference import check_reference, load_reference, resolve_reference_path
from tasks.image_metrics.inception import (
    image_to_hwc_uint8,
    images_to_features,
    inception_device,
    load_inception,
    metric_suffix,
    resolve_inception_weights,
    resolve_weights,
)

logger = logging.getLogger(__name__)

VERSION = "1"
CLASSES_FILE = Path(__file__).parent / "imagenet_classes.txt"
NUM_CLASSES = 1000
DEFAULT_PER_CLASS = 50  # VAR: 50,000 samples, 50 per class
MAX_PER_CLASS = 1000  # the id pads the sample index to 3 digits
DEMO_NUM_CLASSES, DEMO_PER_CLASS = 8, 2
GRID_CLASSES, GRID_SAMPLES, GRID_CELL = 8, 8, 128  # sample grid: first classes x first samples, cell px

# Modelled on the instructions of VARGPT's README ("Please create a painting of ...", "Can you
# generate a rendered photo of ..."); the class name stands in for the caption.
DEFAULT_TEMPLATE = "Please create a photo of {article} {class_name}."
TEMPLATE_FIELDS = {"class_name", "article"}

# Sampler presets (shared/reference/vargpt_model.md, vargpt/image_generation.py): defaults = VAR's FID.
# The condition names are vargpt.image_generation.CONDITIONS (tasks do not import the model).
CONDITIONS = ("emitted_token", "unconditional_row")
VAR_FID_SAMPLER = {"cfg": 1.5, "top_k": 900, "top_p": 0.96, "condition": "emitted_token"}
SAMPLER_PRESETS = {
    "var-fid": VAR_FID_SAMPLER,
    "released": {"cfg": 0.0, "top_k": 900, "top_p": 0.95, "condition": "emitted_token"},
    "released-demo-guided": {"cfg": 1.5, "top_k": 900, "top_p": 0.96, "condition": "unconditional_row"},
}

# Metric names (a suffix is appended when the Inception weights are not the official ones).
FID = "fid"
INCEPTION_SCORE = "inception_score"
INCEPTION_SCORE_STD = "inception_score_std"
PRECISION = "precision"
RECALL = "recall"
NUM_IMAGES = "num_images"
NUM_ERRORS = "num_errors"
WEIGHTS_SUFFIXES = ("", "_random_inception", "_unverified_inception")
AGGREGATION_OPTIONS = ("fid_ref",)  # read by aggregate() only: left out of the run fingerprint

# Per-document arrays (stored in the workers' npz shards) and scores.
POOL_ARRAY = "inception_pool"  # (2048,) float32
LOGITS_ARRAY = "inception_logits"  # (1008,) float32
SAMPLE_ARRAY = "sample"  # (height, width, 3) uint8, kept with save_samples and for the grid
WEIGHTS_SCORE = "inception_weights"
DATA_SCORE = "data"


class InceptionFeaturesMismatch(HarnessError):
    """Records of one run were scored with different Inception weights."""


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


def check_template(template: str) -> None:
    """A template must name {class_name} and may name {article}; anything else is refused."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TaskOptionError(f"template {template!r} is not a valid format string ({exc})") from None
    if "class_name" not in fields or not fields <= TEMPLATE_FIELDS:
        raise TaskOptionError(
            f"template {template!r} must contain {{class_name}} and may contain {{article}} "
            f"(got fields {sorted(fields)})"
        )


def sampler_preset(cfg: float, top_k: int, top_p: float, condition: str) -> str:
    """Which published sampler the settings match (a SAMPLER_PRESETS name), or "custom"."""
    settings = {"cfg": cfg, "top_k": top_k, "top_p": top_p, "condition": condition}
    return next((name for name, preset in SAMPLER_PRESETS.items() if preset == settings), "custom")


def in_grid(class_index: int, sample_index: int) -> bool:
    """Whether a document's image goes into the sample grid."""
    return class_index < GRID_CLASSES and sample_index < GRID_SAMPLES


@dataclass(frozen=True)
class ImageNetFidTask(Task):
    """Class-conditional ImageNet generation scored with FID, IS, precision and recall."""

    reads_hub_dataset: ClassVar[bool] = False  # documents are the bundled class names

    # -- configuration -------------------------------------------------------------------------
    def with_options(self, overrides: dict[str, str]) -> ImageNetFidTask:
        """A configured copy; a bad template, count or sampler setting raises TaskOptionError."""
        task = super().with_options(overrides)
        check_template(task.option("template"))
        per_class = task.option("per_class")
        if not 1 <= per_class <= MAX_PER_CLASS:
            raise TaskOptionError(f"per_class={per_class} must be between 1 and {MAX_PER_CLASS}")
        if task.option("cfg") < 0 or task.option("top_k") < 0 or not 0 < task.option("top_p") <= 1:
            raise TaskOptionError("sampler options need cfg >= 0, top_k >= 0 (0 = off) and 0 < top_p <= 1")
        if task.option("condition") not in CONDITIONS:
            raise TaskOptionError(f"condition={task.option('condition')!r} is not one of {', '.join(CONDITIONS)}")
        return task

    def protocol(self) -> dict[str, Any]:
        """Options plus the sampler preset, feature extractor and metric definitions."""
        values = super().protocol()
        values["sampler"] = sampler_preset(*(self.option(k) for k in ("cfg", "top_k", "top_p", "condition")))
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
        values["options"] = {k: v for k, v in values["options"].items() if k not in AGGREGATION_OPTIONS}
        del values["metrics"]
        return values

    def prepare(self, source: DataSource) -> None:
        """Resolve the Inception weights and the reference and check the reference's form, before any image."""
        demo = source.kind == "demo"
        weights = resolve_weights(self.option("inception_weights") or None, allow_random_standin=demo)
        reference = _resolved_reference(self.option("fid_ref"), demo)
        check_reference(reference, weights.label, official_weights=not metric_suffix(weights.label))

    def check_inputs(self, source: DataSource) -> dict[str, str]:
        """The Inception weights this process scores with, found without downloading and read through (hashed)."""
        weights = resolve_weights(
            self.option("inception_weights") or None, allow_random_standin=source.kind == "demo", download=False
        )
        return {"Inception weights": weights.label}

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
        return ImageRequest(
            doc_id=doc["doc_id"],
            prompt=build_prompt(self.option("template"), doc["class_name"]),
            seed=seed,
            cfg=float(self.option("cfg")),
            top_k=int(self.option("top_k")),
            top_p=float(self.option("top_p")),
            extra={"condition": self.option("condition")},
        )

    # -- scoring -------------------------------------------------------------------------------
    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        """Inception features of one image (see score_batch)."""
        return self.score_batch([doc], [output])[0]

    def score_batch(self, docs: Sequence[dict], outputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Pool features and unbiased logits of a batch of images, on the worker's device."""
        if not docs:
            return []
        demo = all(doc.get("data") == "demo" for doc in docs)
        extractor, weights = load_inception(self.option("inception_weights") or None, allow_random_standin=demo)
        images = [image_to_hwc_uint8(output) for output in outputs]
        pool_ND, logits_NC = images_to_features(extractor, images)
        keep_all = bool(self.option("save_samples"))
        results = []
        for i, doc in enumerate(docs):
            scores: dict[str, Any] = {
                "class_index": doc["class_index"],
                "sample_index": doc["sample_index"],
                WEIGHTS_SCORE: weights.label,
                DATA_SCORE: doc.get("data", "hub"),
                POOL_ARRAY: pool_ND[i],
                LOGITS_ARRAY: logits_NC[i],
            }
            if keep_all or in_grid(doc["class_index"], doc["sample_index"]):
                scores[SAMPLE_ARRAY] = images[i]
            results.append(scores)
        return results

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        """FID, IS, precision/recall and counts from every worker's features, in plan order."""
        scored = sorted(
            (r for r in records if r.ok and POOL_ARRAY in r.arrays and LOGITS_ARRAY in r.arrays),
            key=lambda r: plan_order_key(r.doc_id),
        )
        metrics: dict[str, float] = {NUM_IMAGES: len(scored), NUM_ERRORS: len(records) - len(scored)}
        if not scored:
            return metrics
        labels = sorted({str(r.scores.get(WEIGHTS_SCORE)) for r in scored})
        if len(labels) > 1:
            raise InceptionFeaturesMismatch(
                f"task {self.name!r}: records hold features of different Inception weights ({', '.join(labels)}); "
                "rerun with --overwrite"
            )
        suffix = metric_suffix(labels[0])
        pool_ND = np.stack([np.asarray(r.arrays[POOL_ARRAY], dtype=np.float32) for r in scored])
        logits_NC = np.stack([np.asarray(r.arrays[LOGITS_ARRAY], dtype=np.float32) for r in scored])

        is_mean, is_std = logits_to_inception_score(logits_NC)
        metrics[INCEPTION_SCORE + suffix], metrics[INCEPTION_SCORE_STD + suffix] = is_mean, is_std
        if len(scored) < 2:
            logger.warning("task %s: one image only; FID needs at least two", self.name)
            return metrics
        demo = all(r.scores.get(DATA_SCORE) == "demo" for r in scored)
        reference = self._reference(labels[0], demo)
        metrics[FID + suffix] = features_to_fid(pool_ND, reference.mu_D, reference.sigma_DD)
        if reference.feats_MD is not None and min(len(pool_ND), len(reference.feats_MD)) > PRC_NEIGHBORHOOD:
            precision, recall = features_to_precision_recall(pool_ND, reference.feats_MD, device=inception_device())
            metrics[PRECISION + suffix], metrics[RECALL + suffix] = precision, recall
        return metrics

    def _reference(self, weights_label: str, demo: bool):
        """The reference statistics, computing (and caching) reference features with the same weights."""
        path = _resolved_reference(self.option("fid_ref"), demo)

        def pool_features(images_BHWC: np.ndarray) -> np.ndarray:
            extractor, weights = load_inception(self.option("inception_weights") or None, allow_random_standin=demo)
            if weights.label != weights_label:
                raise InceptionFeaturesMismatch(
                    f"samples were scored with {weights_label} but {weights.label} is loaded now; "
                    "pass the same --inception-weights as the run that scored them"
                )
            return images_to_features(extractor, images_BHWC)[0]

        return load_reference(path, pool_features, weights_label, official_weights=not metric_suffix(weights_label))

    def primary_metric_name(self, metrics: Mapping[str, float]) -> str | None:
        """`fid` with the suffix of the weights its features came from (`fid_random_inception` on demo weights)."""
        return next((FID + suffix for suffix in WEIGHTS_SUFFIXES if FID + suffix in metrics), self.primary_metric)

    def prefetch_extras(self) -> list[str]:
        """Fetch the Inception weights and the ADM reference batch into their caches (unless given)."""
        fetched = []
        weights = self.option("inception_weights")
        fetched.append(f"Inception weights {resolve_inception_weights(weights or None)}")
        fetched.append(f"FID reference {resolve_reference_path(self.option('fid_ref') or None, demo=False)}")
        return fetched

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
            written += write_samples(kept, out_dir / "samples", out_dir / "samples.npz")
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


def write_samples(records: Sequence[Record], folder: Path, npz_path: Path) -> list[Path]:
    """One lossless PNG per image in `folder`, and `npz_path` with `arr_0` uint8 (N, height, width, 3) and
    `arr_1` class labels in the given order (the ADM evaluator's input), in one pass over the records.

    Images go one at a time from the records (which read large arrays from disk when used) into PNGs and a
    memory-mapped .npy, so 50,000 of them (10 GB at 256 px) never sit in memory. PNG, not JPEG: FID is
    sensitive to compression.
    """
    folder.mkdir(parents=True, exist_ok=True)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.array([parse_doc_id(r.doc_id)[0] for r in records], dtype=np.int64)
    with tempfile.TemporaryDirectory(dir=npz_path.parent) as scratch:
        images_path = Path(scratch) / "arr_0.npy"
        images = None
        for i, record in enumerate(records):
            pixels = np.asarray(record.arrays[SAMPLE_ARRAY], dtype=np.uint8)
            if images is None:
                shape = (len(records), *pixels.shape)
                images = np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=shape)
            elif pixels.shape != images.shape[1:]:
                raise ValueError(
                    f"sample {record.doc_id} is {pixels.shape}, the first is {images.shape[1:]}; "
                    "samples.npz needs one size"
                )
            images[i] = pixels
            Image.fromarray(pixels, "RGB").save(folder / f"{record.doc_id}.png")
        assert images is not None, "write_samples needs at least one record"
        images.flush()
        del images
        labels_path = Path(scratch) / "arr_1.npy"
        np.save(labels_path, labels)
        partial = Path(scratch) / "samples.npz"
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            archive.write(images_path, "arr_0.npy")
            archive.write(labels_path, "arr_1.npy")
        os.replace(partial, npz_path)
    return [folder, npz_path]


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
    primary_metric=FID,
    higher_is_better={
        name + suffix: better
        for suffix in WEIGHTS_SUFFIXES
        for name, better in ((FID, False), (INCEPTION_SCORE, True), (PRECISION, True), (RECALL, True))
    },
    default_options={
        "per_class": DEFAULT_PER_CLASS,
        "template": DEFAULT_TEMPLATE,
        "cfg": VAR_FID_SAMPLER["cfg"],
        "top_k": VAR_FID_SAMPLER["top_k"],
        "top_p": VAR_FID_SAMPLER["top_p"],
        "condition": VAR_FID_SAMPLER["condition"],
        "save_samples": False,
        "inception_weights": "",
        "fid_ref": "",
    },
)
TASKS = [FID_TASK]
