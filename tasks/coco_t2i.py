"""COCO text-to-image: one image per caption of COCO 2017 val, scored with CLIP score, FID and IS.

The VARGPT paper shows instruction-to-image synthesis and measures it with CLIP score (its Figure 1); the release
has no benchmark for it. This task measures VARGPT's generation the way text-to-image models are measured, through
the same adapter (`generate_images`), runner, sharding, resume and tables as every other task.

Protocol (all of it in `protocol()`, so in results.json; what decides the records also in the run fingerprint):
- Documents: lmms-lab/COCO-Caption2017, config default, split val at REVISION: the 5,000 COCO 2017 val images,
  one row each, in dataset order; the document id is `question_id`, the image's file name (000000179765.jpg).
  `--limit N` keeps the first N images.
- Caption: the first of each image's captions (`answer[0]`, 5 to 7 per image), as written.
- Instruction: `template` filled with the caption: `{phrase}` is the caption without its final period and with its
  first letter lower-cased (kept for an acronym such as "TV"), `{caption}` the caption as written. The default
  "Please create a photo of {phrase}." is the form of VARGPT's released instructions ("Please create a painting
  of a black weasel is standing in the grass.", inference/generation_vargpt.py @931a811).
- Seeds and sampler: each image its own seed, doc_seed(run seed, task, question_id), as for ImageNet; the sampler
  options and presets of fid (tasks/data/image_request.py; default VAR's FID sampler, cfg 1.5, top-k 900, top-p 0.96).
- CLIP score of each image against its caption (not the instruction): torchmetrics' definition with CLIP ViT-L/14
  (openai/clip-vit-large-patch14 at a pinned commit; `clip_model`, `clip_revision` change it), mean over images
  clamped at 0, and the std (tasks/image_metrics/clip_score.py).
- FID, IS, precision/recall (k=3): the Inception features and code of fid. The reference is the val images of the
  run's data source (all of them, whatever --limit), centre-cropped and resized to the generation size
  (tasks/image_metrics/dataset_reference.py), or `--fid-ref`. IS over 10 unshuffled splits in dataset order.
  FID of 5,000 images is not the FID-30k of published zero-shot COCO tables (README: comparability).

Records: per image the CLIP score and the caption, the Inception arrays, the labels of the weights, its position in
the split (`row`), its size and the data source, so that aggregation (and `evals score --run`) needs no model.
Artifacts: RUN/coco_t2i/samples_grid.png (the first GRID_IMAGES images with their captions); with --save-samples
every image as RUN/coco_t2i/samples/<question_id>.png and RUN/coco_t2i/samples.npz (`arr_0`, dataset order).
With `--data demo`: a bundled slice in the real schema (tasks/demo/lmms-lab/COCO-Caption2017), and where the real
weights are not at hand the random Inception and the tiny random CLIP stand in (metric names say so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import HarnessError
from evals.requests import ImageRequest
from evals.run.records import Record
from evals.task_api import DatasetSpec, DataSource, Task
from tasks.data.datasets_io import DocRows, find_copy, read_split
from tasks.data.doc_fields import FIX, DocumentFieldError, EmptyField, required_items
from tasks.data.image_request import (
    SAMPLER_OPTIONS,
    check_sampler_options,
    check_template,
    image_request,
    task_sampler_preset,
)
from tasks.image_metrics import image_scores as scores_
from tasks.image_metrics.clip_score import prefetch_clip
from tasks.image_metrics.dataset_reference import CROP_RULE, dataset_reference
from tasks.image_metrics.fid import PRC_NEIGHBORHOOD
from tasks.image_metrics.fid_reference import FidReference, check_reference, load_reference, resolve_reference_path
from tasks.image_metrics.inception import metric_suffix, resolve_inception_weights
from tasks.image_metrics.samples import captioned_grid, write_samples

HUB_ID = "lmms-lab/COCO-Caption2017"
MIRRORS = ("lmms-lab-encoder/COCO-Caption2017",)  # what lmms-eval's coco2017_cap tasks read
REVISION = "3bdd5827e243cc3084ac69a1111e69c3ab9193ff"  # main of lmms-lab/COCO-Caption2017
SPLIT = "val"
VERSION = "1"

DEFAULT_TEMPLATE = "Please create a photo of {phrase}."
TEMPLATE_FIELDS = frozenset({"phrase", "caption"})
GRID_IMAGES, GRID_COLUMNS, GRID_CELL = 16, 4, 128  # the sample grid: first images, per row, cell px

# Per-document fields added by load_docs, and scores besides image_scores' ones.
ROW = "row"  # position in the split
CAPTION = "caption"
HEIGHT, WIDTH = "height", "width"


class GeneratedSizesDiffer(HarnessError):
    """The generated images of one run differ in size, so no single reference size fits them."""


def caption_of(doc: Mapping[str, Any], doc_id: str) -> str:
    """The first caption of a document, stripped; a missing, empty or non-text one raises (an error record)."""
    first = required_items(doc, "answer", doc_id)[0]
    if not isinstance(first, str):
        raise DocumentFieldError(f"document {doc_id}: first caption is {type(first).__name__}, expected text; {FIX}")
    if not first.strip():
        raise EmptyField(f"document {doc_id}: first caption is empty ({first!r}); {FIX}")
    return " ".join(first.split())


def caption_phrase(caption: str) -> str:
    """The caption as a phrase to follow "a photo of": final period dropped, first letter lower-cased unless the
    first word is an acronym ("A man riding a wave." -> "a man riding a wave", "TV on a desk" kept)."""
    phrase = caption.rstrip(". ")
    first_word = phrase.split(" ", 1)[0]
    if len(first_word) > 1 and first_word.isupper():
        return phrase
    return phrase[:1].lower() + phrase[1:]


def build_prompt(template: str, caption: str) -> str:
    """The instruction for one caption: `template` with {phrase} and {caption} filled in."""
    return template.format(phrase=caption_phrase(caption), caption=caption)


def data_label(source: DataSource) -> str:
    """The data source as records keep it, parsable by DataSource.parse (a local copy by absolute path)."""
    return str(Path(source.path).resolve()) if source.kind == "local" and source.path else source.kind


class CaptionDocs(Sequence[dict]):
    """The split's rows as documents, each with its position in the split and the run's data source."""

    def __init__(self, rows: Sequence[dict], data: str):
        self._rows, self._data = rows, data

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        position = range(len(self._rows))[index]
        return {**self._rows[position], ROW: position, scores_.DATA_SCORE: self._data}


@dataclass(frozen=True)
class CocoTextToImageTask(Task):
    """One image per COCO caption, scored with CLIP score, FID, IS and precision/recall."""

    default_options: dict[str, Any] = field(
        default_factory=lambda: {"template": DEFAULT_TEMPLATE, **SAMPLER_OPTIONS, **scores_.OPTIONS}
    )

    # -- configuration -------------------------------------------------------------------------
    def with_options(self, overrides: dict[str, str]) -> CocoTextToImageTask:
        """A configured copy; a bad template or sampler setting raises TaskOptionError."""
        task = super().with_options(overrides)
        check_template("template", task.option("template"), TEMPLATE_FIELDS, TEMPLATE_FIELDS)
        check_sampler_options(task)
        return task

    def protocol(self) -> dict[str, Any]:
        """Options plus caption choice, CLIP model and revision, reference, features and metric definitions."""
        values = super().protocol()
        values["sampler"] = task_sampler_preset(self)
        values["caption"] = "answer[0]: the first caption of each image, as written; documents in dataset order"
        values["clip"] = scores_.clip_protocol(self, "the caption (not the instruction)")
        values["features"] = (
            "torch-fidelity inception-v3-compat (TF 2015-12-05 port), TF1 bilinear resize to 299; "
            "pool 2048 for FID and precision/recall, logits_unbiased for IS"
        )
        every_image = f"every {SPLIT} image of the run's copy of {HUB_ID}: {CROP_RULE}"
        values["reference"] = self.option("fid_ref") or every_image
        values["metrics"] = (
            "FID float64 (torch-fidelity fid_statistics_to_metric); IS mean/std over 10 unshuffled splits "
            f"in dataset order; precision/recall k={PRC_NEIGHBORHOOD} against the reference images"
        )
        return values

    def records_protocol(self) -> dict[str, Any]:
        """protocol() without what only aggregation reads (reference, metric definitions): a corrected --fid-ref
        re-aggregates the kept records instead of refusing the run folder."""
        values = self.protocol()
        values["options"] = {k: v for k, v in values["options"].items() if k not in scores_.AGGREGATION_OPTIONS}
        del values["reference"], values["metrics"]
        return values

    def prepare(self, source: DataSource) -> None:
        """Resolve the Inception weights and the CLIP model, and check a given reference's form, before any image."""
        demo = source.kind == "demo"
        weights = scores_.prepare_scorers(self, demo)
        if self.option("fid_ref"):
            reference = resolve_reference_path(self.option("fid_ref"), demo)
            check_reference(reference, weights.label, official_weights=not metric_suffix(weights.label))

    def check_inputs(self, source: DataSource) -> dict[str, str]:
        """The Inception weights (read through, hashed) and the CLIP this process scores with, found without
        downloading (every rank of a torchrun job, before any model work)."""
        return scores_.check_scorers(self, source.kind == "demo")

    # -- documents -----------------------------------------------------------------------------
    def load_docs(self, source: DataSource) -> Sequence[dict]:
        """The val split in dataset order, images undecoded (they serve as FID reference only)."""
        copy = find_copy(self.dataset, source)
        return CaptionDocs(DocRows(read_split(copy, self.dataset.config, self.dataset.split)), data_label(source))

    def doc_id(self, doc: dict) -> str:
        """`question_id`: the image's file name."""
        return str(doc["question_id"])

    def build_request(self, doc: dict, seed: int) -> ImageRequest:
        """The caption's instruction, the document's own seed, and the sampler options."""
        doc_id = self.doc_id(doc)
        prompt = build_prompt(self.option("template"), caption_of(doc, doc_id))
        return image_request(self, doc_id=doc_id, prompt=prompt, seed=seed)

    # -- scoring -------------------------------------------------------------------------------
    def score(self, doc: dict, output: Any) -> dict[str, Any]:
        """CLIP score and Inception features of one image (see score_batch)."""
        return self.score_batch([doc], [output])[0]

    def score_batch(self, docs: Sequence[dict], outputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Each image's CLIP score against its caption and its Inception arrays, on the worker's device."""
        if not docs:
            return []
        captions = [caption_of(doc, self.doc_id(doc)) for doc in docs]
        demo = all(doc.get(scores_.DATA_SCORE) == "demo" for doc in docs)
        images, scored = scores_.score_images(self, outputs, captions, demo)
        keep_all = bool(self.option("save_samples"))
        results = []
        for doc, caption, image, values in zip(docs, captions, images, scored):
            values |= {
                ROW: doc[ROW],
                CAPTION: caption,
                HEIGHT: image.shape[0],
                WIDTH: image.shape[1],
                scores_.DATA_SCORE: doc.get(scores_.DATA_SCORE, "hub"),
            }
            if keep_all or doc[ROW] < GRID_IMAGES:
                values[scores_.SAMPLE_ARRAY] = image
            results.append(values)
        return results

    def aggregate(self, records: Sequence[Record]) -> dict[str, float]:
        """CLIP score, FID, IS, precision/recall and counts from every worker's records, in dataset order."""
        ordered = sorted(records, key=_dataset_order)
        scored = scores_.inception_scored(ordered)
        metrics: dict[str, float] = {scores_.NUM_IMAGES: len(scored), scores_.NUM_ERRORS: len(records) - len(scored)}
        metrics.update(scores_.clip_metrics(ordered, self.name))
        metrics.update(scores_.inception_metrics(scored, lambda label: self._reference(label, scored), self.name))
        return metrics

    def _reference(self, weights_label: str, scored: Sequence[Record]) -> FidReference:
        """The FID reference: --fid-ref, else the split's images cropped and resized to the generation size."""
        data = str(scored[0].scores.get(scores_.DATA_SCORE, "hub"))
        demo = data == "demo"
        feature_fn = scores_.pool_features_fn(self, weights_label, demo)
        if self.option("fid_ref"):
            path = resolve_reference_path(self.option("fid_ref"), demo)
            return load_reference(path, feature_fn, weights_label, official_weights=not metric_suffix(weights_label))
        sizes = sorted({(int(r.scores[HEIGHT]), int(r.scores[WIDTH])) for r in scored})
        if len(sizes) > 1:
            raise GeneratedSizesDiffer(
                f"task {self.name!r}: generated images have sizes {sizes}; the reference is resized to one size"
            )
        docs = self.load_docs(DataSource.parse(data))
        source = f"{HUB_ID} {SPLIT} images ({data})"
        return dataset_reference(docs, self.doc_id, "image", sizes[0], feature_fn, weights_label, source)

    def primary_metric_name(self, metrics: Mapping[str, float]) -> str | None:
        """`clip_score` with the suffix of the CLIP that scored (`clip_score_random_clip` for the tiny one)."""
        return scores_.named_metric(metrics, scores_.CLIP_SCORE, scores_.CLIP_SUFFIXES) or self.primary_metric

    def prefetch_extras(self) -> list[str]:
        """Fetch the Inception weights and the CLIP model into their caches (unless given as files/folders)."""
        return [
            f"Inception weights {resolve_inception_weights(self.option('inception_weights') or None)}",
            prefetch_clip(self.option("clip_model"), self.option("clip_revision")),
        ]

    # -- artifacts -----------------------------------------------------------------------------
    def write_artifacts(self, records: Sequence[Record], out_dir: Path) -> list[Path]:
        """In RUN/<task>/: the captioned grid of the first images; with save_samples, PNGs and samples.npz."""
        out_dir = Path(out_dir) / self.name
        kept = sorted((r for r in records if r.ok and scores_.SAMPLE_ARRAY in r.arrays), key=_dataset_order)
        written: list[Path] = []
        shown = [r for r in kept if r.scores.get(ROW, math.inf) < GRID_IMAGES]
        if shown:
            out_dir.mkdir(parents=True, exist_ok=True)
            images = [r.arrays[scores_.SAMPLE_ARRAY] for r in shown]
            captioned_grid(images, [str(r.scores.get(CAPTION, "")) for r in shown], GRID_COLUMNS, GRID_CELL).save(
                out_dir / "samples_grid.png"
            )
            written.append(out_dir / "samples_grid.png")
        if self.option("save_samples") and kept:
            written += write_samples(kept, out_dir / "samples", out_dir / "samples.npz")
        return written


def _dataset_order(record: Record) -> tuple[float, str]:
    """Sort key: position in the split (error records, which may lack it, last), then doc id."""
    return float(record.scores.get(ROW, math.inf)), record.doc_id


COCO_T2I_TASK = CocoTextToImageTask(
    name="coco_t2i",
    kind="image",
    dataset=DatasetSpec(hub_id=HUB_ID, split=SPLIT, revision=REVISION, mirrors=MIRRORS),
    version=VERSION,
    aliases=("t2i",),
    primary_metric=scores_.CLIP_SCORE,
    higher_is_better=scores_.higher_is_better(),
)
TASKS = [COCO_T2I_TASK]
