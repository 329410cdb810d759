"""lmms-eval's own scoring, run in memory: the reference side of the scorer parity tests.

A task is built from the YAML that ships in the installed lmms-eval package (so its
`process_results`, metric kwargs and aggregation functions are exactly what `python -m lmms_eval`
would use), but its dataset is a `datasets.Dataset` made from the test corpus instead of a hub
download. Scoring then follows `evaluator._process_document_results` and
`TaskOutput.calculate_aggregate_metric` for one `generate_until` request per document with the
default `take_first` filter: reasoning tags stripped (CLI default), `task.process_results(doc, [output])`,
then each metric's aggregation over the per-document values.

Importing this module imports lmms-eval (several seconds): test modules import it once.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import datasets
import lmms_eval.tasks
from lmms_eval import utils as lmms_utils
from lmms_eval.api.reasoning import parse_reasoning_tags_config, strip_reasoning_tags
from lmms_eval.api.task import ConfigurableTask

TASKS_DIR = Path(lmms_eval.tasks.__file__).resolve().parent
# The CLI default of `--reasoning_tags` in lmms-eval 0.7.3 (`__main__.py`).
CLI_REASONING_TAGS = '[["<think>", "</think>"], ["<analysis>", "</analysis>"]]'
MODEL_NAME = "vargpt"  # decides which lmms_eval_specific_kwargs block applies ("default" here)


class InMemoryTask(ConfigurableTask):
    """An lmms-eval ConfigurableTask whose scored split is a list of dicts held in memory."""

    def __init__(self, config: dict, docs: Sequence[dict], features: datasets.Features | None = None):
        self._docs = list(docs)
        self._features = features
        super().__init__(config=config, model_name=MODEL_NAME)

    def download(self, dataset_kwargs=None) -> None:
        """Replace the hub download by the in-memory documents."""
        split = datasets.Dataset.from_list(self._docs, features=self._features)
        self.dataset = datasets.DatasetDict({self.config.test_split: split})
        self.dataset_no_image = self.dataset


def load_task(yaml_relpath: str, docs: Sequence[dict], *, features: datasets.Features | None = None,
              drop: Sequence[str] = ()) -> InMemoryTask:
    """The installed task `lmms_eval/tasks/<yaml_relpath>` over `docs`; `drop` removes config keys.

    `drop` is for steps that only fetch data (GQA's `process_docs` downloads the image config).
    """
    config = lmms_utils.load_yaml_config(str(TASKS_DIR / yaml_relpath))
    for key in drop:
        config.pop(key, None)
    return InMemoryTask(config, docs, features)


def task_docs(task: InMemoryTask) -> list[dict]:
    """The documents as lmms-eval hands them to process_results (after the datasets round trip)."""
    split = task.dataset[task.config.test_split]
    return [split[i] for i in range(len(split))]


def clean_output(output: str) -> str:
    """What a task's process_results function receives: reasoning blocks stripped (CLI default), then strip()."""
    tags = parse_reasoning_tags_config(cli_value=CLI_REASONING_TAGS)
    return strip_reasoning_tags(output, tags).strip()


def process_outputs(task: InMemoryTask, docs: Sequence[dict], outputs: Sequence[str]) -> list[dict[str, Any]]:
    """Per-document metric dicts, as the evaluator computes them for one generation per document."""
    tags = parse_reasoning_tags_config(cli_value=CLI_REASONING_TAGS,
                                       task_value=getattr(task.config, "reasoning_tags", None))
    results = []
    for doc, output in zip(docs, outputs, strict=True):
        cleaned = strip_reasoning_tags(output, tags) if tags is not None else output
        # process_results mutates some documents (VQAv2 normalises the answers in place): give it a copy.
        results.append(task.process_results(copy.deepcopy(doc), [cleaned]))
    return results


def aggregate(task: InMemoryTask, per_doc: Sequence[dict[str, Any]], output_path: str | os.PathLike,
              only: Sequence[str] | None = None) -> dict[str, Any]:
    """Each metric's aggregation over the documents that emitted it (what lands in results.json).

    `only` limits the metrics computed (MMBench's `submission` aggregation writes an .xlsx file).
    """
    args = SimpleNamespace(output_path=str(output_path))  # where submission-writing aggregations write
    values: dict[str, list] = {}
    for result in per_doc:
        for metric, value in result.items():
            values.setdefault(metric, []).append(value)
    metrics = {}
    for metric, agg_fn in task.aggregation().items():
        if metric not in values or (only is not None and metric not in only):
            continue
        if "args" in inspect.signature(agg_fn).parameters:
            metrics[metric] = agg_fn(values[metric], args=args)
        else:
            metrics[metric] = agg_fn(values[metric])
    return metrics


# -- MMBench CircularEval, per question ----------------------------------------------------------------
CIRCULAR_STRIDE = 1_000_000


def mmbench_frame(per_doc: Sequence[dict[str, Any]]):
    """The DataFrame `MMBench_Evaluator.eval_result` builds from the `gpt_eval_score` values."""
    import pandas as pd

    data = pd.DataFrame([result["gpt_eval_score"] for result in per_doc]).sort_values(by="index")
    data["prediction"] = [str(x) for x in data["prediction"]]
    for key in list(data.keys()):
        data[key.lower() if key not in "ABCD" else key] = data.pop(key)
    return data


def mmbench_question_hits(per_doc: Sequence[dict[str, Any]], evaluator, static_only: bool = True) -> dict[int, int]:
    """Per original question, lmms-eval's CircularEval hit (`eval_sub_data` over the question's copies)."""
    data = mmbench_frame(per_doc)
    answer_map = dict(zip(data["index"], data["answer"]))
    hits = {}
    for question in data[data["index"] < CIRCULAR_STRIDE]["index"]:
        copies = data[data["index"] % CIRCULAR_STRIDE == question]
        hits[int(question)] = evaluator.eval_sub_data(copies, answer_map, static_only=static_only)
    return hits


def mmbench_decided_by_heuristics(per_doc: Sequence[dict[str, Any]], evaluator) -> set[int]:
    """Questions lmms-eval settles in its first pass (`can_infer` only): pass 2 is never reached.

    That is every copy resolved, or some copy resolved to a wrong letter (the question scores 0 at once).
    """
    resolved: dict[int, list] = {}
    for result in per_doc:
        item = result["gpt_eval_score"]
        letter = evaluator.can_infer(item["prediction"], evaluator.build_choices(item))
        resolved.setdefault(int(item["index"]) % CIRCULAR_STRIDE, []).append((letter, item["answer"]))
    return {q for q, pairs in resolved.items()
            if all(letter for letter, _ in pairs) or any(letter and letter != gold for letter, gold in pairs)}
