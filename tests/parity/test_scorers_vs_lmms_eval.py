"""Our scorers against lmms-eval 0.7.3's own scoring code, on corpora built to hit the normalisation rules.

The reference side runs the installed lmms-eval task YAMLs (`process_results` and aggregations) on the
same documents and outputs (`lmms_reference.py`); the corpora are in `scorer_corpora.py`. Per-document
scores must be identical; aggregates must agree once lmms-eval's fraction is put on our percent scale
(ours sums with math.fsum and multiplies by 100, so the last bits may differ: rel 1e-12).

Known, documented differences that are not compared here:
- POPE `yes_ratio`: lmms-eval's counts gold labels (a bug, always 50% on balanced POPE); ours counts
  predictions (tasks/pope.py).
- MMBench answers the `can_infer` heuristics leave unresolved: lmms-eval's judge path asks GPT then draws a
  seeded random letter, its static path (`mmbench_en_dev_static`) tries `extract_mcq_answer`; ours counts them
  wrong (tasks/mmbench.py). Questions reaching that step are compared separately (xfail below).
GQA includes outputs ending in NUL characters (lmms-eval's numpy string arrays drop them).
"""

from __future__ import annotations

import copy
import math

import lmms_reference as ref
import pytest
from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator
from scorer_corpora import (
    GQA_ANSWERS,
    GQA_EXTRA_FORMS,
    GQA_PUNCTUATION_FORMS,
    GQA_TRAILING_NUL_FORMS,
    OUTPUT_FORMS,
    Corpus,
    gqa_corpus,
    mmbench_corpus,
    pope_corpus,
    seed_corpus,
    vqav2_corpus,
)

from evals.records import Record
from tasks import gqa, mmbench, pope, seed, vqav2

MIN_CORPUS = 200


def approx_percent(fraction: float):
    """lmms-eval's fraction on our percent scale."""
    return pytest.approx(100.0 * float(fraction), rel=1e-12, abs=1e-12)


def our_records(task, docs, outputs) -> list[Record]:
    """Records as the runner writes them: one per document, scores from task.score."""
    return [Record(task=task.name, doc_id=task.doc_id(doc), scores=task.score(doc, out))
            for doc, out in zip(docs, outputs, strict=True)]


class Scored:
    """One corpus scored by lmms-eval and by our task."""

    def __init__(self, corpus: Corpus, yaml: str, task, tmp_path, drop=()):
        self.lmms_task = ref.load_task(yaml, corpus.docs, drop=drop)
        self.docs = ref.task_docs(self.lmms_task)  # both sides read the documents after the datasets round trip
        self.outputs = corpus.outputs
        self.lmms = ref.process_outputs(self.lmms_task, self.docs, self.outputs)
        self.task = task
        self.records = our_records(task, self.docs, self.outputs)
        self.tmp_path = tmp_path

    def lmms_aggregate(self, only=None, per_doc=None):
        return ref.aggregate(self.lmms_task, self.lmms if per_doc is None else per_doc, self.tmp_path, only=only)


# -- VQAv2 -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vqa(tmp_path_factory):
    return Scored(vqav2_corpus(), "vqav2/vqav2_val.yaml", vqav2.TASKS[0], tmp_path_factory.mktemp("vqa"))


def test_vqav2_corpus_hits_every_accuracy_level(vqa):
    # 0..10 matching gold answers give the 10-choose-9 means 0, 0.3, 0.6, 0.9 and 1 (min(1, m/3) averaged).
    assert len(vqa.docs) >= MIN_CORPUS
    levels = {round(r["exact_match"], 6) for r in vqa.lmms}
    assert levels == {0.0, 0.3, 0.6, 0.9, 1.0}


def test_vqav2_per_document_scores_match_lmms_eval(vqa):
    ours = [r.scores["accuracy"] for r in vqa.records]
    theirs = [r["exact_match"] for r in vqa.lmms]
    mismatched = [(o, d["answers"], a, b) for o, d, a, b in zip(vqa.outputs, vqa.docs, ours, theirs, strict=True)
                  if a != b]
    assert not mismatched


def test_vqav2_normalised_answers_match_lmms_eval_submission(vqa):
    # vqav2_val emits only exact_match; the shared vqav2_process_results also returns the normalised
    # prediction that vqav2_test writes to the EvalAI file. Ours is the `prediction` score.
    from lmms_eval.tasks.vqav2 import utils as vqav2_utils

    theirs = [vqav2_utils.vqav2_process_results(copy.deepcopy(doc), [ref.clean_output(out)])["submission"]["answer"]
              for doc, out in zip(vqa.docs, vqa.outputs)]
    assert [r.scores["prediction"] for r in vqa.records] == theirs


def test_vqav2_accuracy_matches_lmms_eval(vqa):
    ours = vqa.task.aggregate(vqa.records)["accuracy"]
    assert ours == approx_percent(vqa.lmms_aggregate()["exact_match"])


# -- GQA ---------------------------------------------------------------------------------------------------
GQA_FORMS = OUTPUT_FORMS + GQA_PUNCTUATION_FORMS + GQA_EXTRA_FORMS + GQA_TRAILING_NUL_FORMS


@pytest.fixture(scope="module")
def gqa_scored(tmp_path_factory):
    return Scored(gqa_corpus(GQA_FORMS), "gqa/gqa.yaml", gqa.TASKS[0], tmp_path_factory.mktemp("gqa"),
                  drop=["process_docs"])


def test_gqa_per_document_scores_match_lmms_eval(gqa_scored):
    assert len(gqa_scored.docs) >= MIN_CORPUS
    ours = [r.scores["accuracy"] for r in gqa_scored.records]
    theirs = [float(r["exact_match"]) for r in gqa_scored.lmms]
    assert 0 < sum(theirs) < len(theirs)  # both right and wrong answers are in the corpus
    pairs = zip(gqa_scored.outputs, gqa_scored.docs, ours, theirs, strict=True)
    mismatched = [(o, d["answer"], a, b) for o, d, a, b in pairs if a != b]
    assert not mismatched


def test_gqa_accuracy_matches_lmms_eval(gqa_scored):
    ours = gqa_scored.task.aggregate(gqa_scored.records)["accuracy"]
    assert ours == approx_percent(gqa_scored.lmms_aggregate()["exact_match"])


def test_gqa_outputs_ending_in_nul_match_lmms_eval(tmp_path):
    # Every gold answer with "x\x00" and "x.\x00\x00" (one round per answer); lmms-eval's numpy string arrays
    # drop the trailing NULs, so most of these count as right there and must here.
    scored = Scored(gqa_corpus(GQA_TRAILING_NUL_FORMS, rounds=len(GQA_ANSWERS)), "gqa/gqa.yaml", gqa.TASKS[0],
                    tmp_path, drop=["process_docs"])
    theirs = [float(r["exact_match"]) for r in scored.lmms]
    assert sum(theirs) > len(theirs) / 2
    assert [r.scores["accuracy"] for r in scored.records] == theirs
    assert scored.task.aggregate(scored.records)["accuracy"] == approx_percent(scored.lmms_aggregate()["exact_match"])


# -- POPE --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pope_scored(tmp_path_factory):
    return Scored(pope_corpus(), "pope/pope.yaml", pope.TASKS[0], tmp_path_factory.mktemp("pope"))


def test_pope_per_document_scores_match_lmms_eval(pope_scored):
    assert len(pope_scored.docs) >= MIN_CORPUS
    ours = [(r.scores["accuracy"], r.scores["prediction"], r.scores["answer"]) for r in pope_scored.records]
    theirs = [(r["pope_accuracy"]["score"], r["pope_accuracy"]["prediction"], r["pope_accuracy"]["ground_truth"])
              for r in pope_scored.lmms]
    assert ours == theirs


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1"])
def test_pope_aggregates_match_lmms_eval(pope_scored, metric):
    ours = pope_scored.task.aggregate(pope_scored.records)[metric]
    theirs = pope_scored.lmms_aggregate()[f"pope_{metric}" if metric != "f1" else "pope_f1_score"]
    assert ours == approx_percent(theirs)


@pytest.mark.parametrize("keep", ["no", "yes"])
def test_pope_aggregates_match_lmms_eval_when_one_answer_is_never_predicted(pope_scored, keep):
    # Without "yes" predictions precision is 0/0 and both sides report 0 (and F1 0); without "no", recall is 1.
    rows = [i for i, r in enumerate(pope_scored.records) if r.scores["prediction"] != ("yes" if keep == "no" else "no")]
    ours = pope_scored.task.aggregate([pope_scored.records[i] for i in rows])
    theirs = pope_scored.lmms_aggregate(per_doc=[pope_scored.lmms[i] for i in rows])
    for metric, name in (("accuracy", "pope_accuracy"), ("precision", "pope_precision"), ("recall", "pope_recall"),
                         ("f1", "pope_f1_score")):
        assert ours[metric] == approx_percent(theirs[name]), metric


# -- SEED-Bench --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_scored(tmp_path_factory):
    return Scored(seed_corpus(), "seedbench/seedbench.yaml", seed.TASKS[0], tmp_path_factory.mktemp("seed"))


def test_seed_per_document_scores_match_lmms_eval(seed_scored):
    assert len(seed_scored.docs) >= MIN_CORPUS
    aggregate_one = seed_scored.lmms_task.aggregation()["seed_all"]
    theirs = [(aggregate_one([r["seed_all"]]), r["seed_all"]["pred"]) for r in seed_scored.lmms]
    ours = [(r.scores["accuracy"], r.scores["prediction"]) for r in seed_scored.records]
    assert ours == theirs


def test_seed_image_accuracy_matches_lmms_eval(seed_scored):
    # Our task holds the image rows only (load_docs drops video): its accuracy is lmms-eval's seed_image.
    image_rows = [i for i, d in enumerate(seed_scored.docs) if d["data_type"] == "image"]
    ours = seed_scored.task.aggregate([seed_scored.records[i] for i in image_rows])["accuracy"]
    assert ours == approx_percent(seed_scored.lmms_aggregate()["seed_image"])


# -- MMBench (heuristic path) ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mmb(tmp_path_factory):
    return Scored(mmbench_corpus(), "mmbench/mmbench_en_dev_static.yaml", mmbench.TASKS[0],
                  tmp_path_factory.mktemp("mmbench"))


@pytest.fixture(scope="module")
def evaluator():
    return MMBench_Evaluator()


def test_mmbench_letters_match_lmms_eval_can_infer(mmb, evaluator):
    assert len(mmb.docs) >= MIN_CORPUS
    theirs = []
    for result in mmb.lmms:
        item = result["gpt_eval_score"]
        theirs.append(evaluator.can_infer(item["prediction"], evaluator.build_choices(item)) or "")
    assert [r.scores["letter"] for r in mmb.records] == theirs
    assert {"", "A", "B", "C", "D", "E"} <= set(theirs)  # unresolved answers and every letter occur


def test_mmbench_question_hits_match_lmms_eval_where_heuristics_decide(mmb, evaluator):
    decided = ref.mmbench_decided_by_heuristics(mmb.lmms, evaluator)
    theirs = {q: hit for q, hit in ref.mmbench_question_hits(mmb.lmms, evaluator).items() if q in decided}
    ours = {q: hit for q, hit in mmbench.circular_hits(mmb.records).items() if q in decided}
    assert len(decided) >= 40 and 0 < sum(theirs.values()) < len(theirs)
    assert ours == theirs


def test_mmbench_accuracy_matches_lmms_eval_where_heuristics_decide(mmb, evaluator):
    decided = ref.mmbench_decided_by_heuristics(mmb.lmms, evaluator)
    rows = [i for i, r in enumerate(mmb.records) if int(r.doc_id) % mmbench.CIRCULAR_STRIDE in decided]
    ours = mmb.task.aggregate([mmb.records[i] for i in rows])
    theirs = mmb.lmms_aggregate(only=["gpt_eval_score"], per_doc=[mmb.lmms[i] for i in rows])
    # lmms-eval's MMBench aggregation already returns percent.
    assert ours["accuracy"] == pytest.approx(float(theirs["gpt_eval_score"]), rel=1e-12)
    _, by_category, by_l2 = evaluator.eval_result([mmb.lmms[i]["gpt_eval_score"] for i in rows], "static")
    assert {k.removeprefix("category:"): v for k, v in ours.items() if k.startswith("category:")} == \
        pytest.approx({k: 100 * v for k, v in by_category.items()}, rel=1e-12)
    assert {k.removeprefix("l2_category:"): v for k, v in ours.items() if k.startswith("l2_category:")} == \
        pytest.approx({k: 100 * v for k, v in by_l2.items()}, rel=1e-12)


@pytest.mark.xfail(strict=True, reason="answers can_infer leaves unresolved count wrong here; lmms-eval's static "
                   "path (mmbench_en_dev_static) resolves them with extract_mcq_answer (tasks/mmbench.py deviation)")
def test_mmbench_accuracy_matches_lmms_eval_static_path_on_every_question(mmb):
    ours = mmb.task.aggregate(mmb.records)["accuracy"]
    theirs = mmb.lmms_aggregate(only=["gpt_eval_score"])["gpt_eval_score"]
    assert math.isclose(ours, float(theirs), rel_tol=1e-12)
