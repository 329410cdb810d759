"""Our scorers against lmms-eval 0.7.3's own scoring code, on corpora built to hit the normalisation rules.

The reference side runs the installed lmms-eval task YAMLs (`process_results` and aggregations) on the
same documents and outputs (`lmms_reference.py`); the corpora are in `scorer_corpora.py`. Per-document
scores must be identical; aggregates must agree once lmms-eval's fraction is put on our percent scale
(ours sums with math.fsum and multiplies by 100, so the last bits may differ: rel 1e-12).

MMBench is compared with lmms-eval's deterministic, API-free task `mmbench_en_dev_static` (`can_infer`, then
`extract_mcq_answer`), which our task follows when no judge is configured. GQA includes outputs ending in NUL
characters (lmms-eval's numpy string arrays drop them).
MMMU's unreadable multiple-choice answers get a random letter in lmms-eval (the global `random`): its
generator is seeded before each document with the seed our task uses for that document's guess, so both sides
draw the same letter. MME's official-tool parse and MMMU's strict/expected accuracies have no lmms-eval
counterpart (tests/tasks hold them to hand-computed values).

Known, documented differences that are not compared here:
- POPE `yes_ratio`: lmms-eval's counts gold labels (a bug, always 50% on balanced POPE); ours counts
  predictions (tasks/pope.py).
- MMBench's judge path (`mmbench_en_dev`): it needs a GPT endpoint and ends in a seeded random letter; ours
  leaves such answers unresolved (tasks/mmbench.py).
"""

from __future__ import annotations

import copy
import json
import math
import random

import lmms_reference as ref
import pytest
from lmms_eval.tasks._task_utils.mcq_extract import extract_mcq_answer
from lmms_eval.tasks.mmbench.mmbench_evals import MMBench_Evaluator
from scorer_corpora import (
    EVALAI_CLUSTERS,
    GQA_ANSWERS,
    GQA_EXTRA_FORMS,
    GQA_PUNCTUATION_FORMS,
    GQA_TRAILING_NUL_FORMS,
    OUTPUT_FORMS,
    Corpus,
    gqa_corpus,
    mmbench_corpus,
    mme_corpus,
    mmmu_corpus,
    okvqa_corpus,
    pope_corpus,
    scienceqa_corpus,
    seed_corpus,
    textvqa_corpus,
    vizwiz_corpus,
    vizwiz_test_corpus,
    vqav2_corpus,
)

from evals.run.records import Record
from tasks import gqa, mmbench, mme, mmmu, okvqa, pope, scienceqa, seed, textvqa, vizwiz, vqav2
from tasks.scoring.mmmu_answers import guess_seed

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


# -- MMBench (static path: can_infer, then extract_mcq_answer) ---------------------------------------------
@pytest.fixture(scope="module")
def mmb(tmp_path_factory):
    return Scored(mmbench_corpus(), "mmbench/mmbench_en_dev_static.yaml", mmbench.TASKS[0],
                  tmp_path_factory.mktemp("mmbench"))


@pytest.fixture(scope="module")
def evaluator():
    return MMBench_Evaluator()


def static_letters(mmb, evaluator) -> list[tuple[str, str]]:
    """Per document, lmms-eval's `can_infer` letter and the `mmbench_en_dev_static` letter ("" = none)."""
    letters = []
    for result in mmb.lmms:
        item = result["gpt_eval_score"]
        choices = evaluator.build_choices(item)
        first = evaluator.can_infer(item["prediction"], dict(choices)) or ""
        # eval_sub_data(static_only=True): extract_mcq_answer on the sorted option letters when can_infer fails.
        letters.append((first, first or extract_mcq_answer(item["prediction"], choices=sorted(choices))))
    return letters


def test_mmbench_corpus_reaches_every_extraction_outcome(mmb, evaluator):
    assert len(mmb.docs) >= MIN_CORPUS
    letters = static_letters(mmb, evaluator)
    assert {"A", "B", "C", "D", "E"} <= {first for first, _ in letters}  # can_infer finds every letter
    second = [(final, doc["answer"]) for (first, final), doc in zip(letters, mmb.docs) if not first]
    assert any(final == gold for final, gold in second)  # extract_mcq_answer resolves some answers right,
    assert any(final and final != gold for final, gold in second)  # some wrong,
    assert any(not final for final, _ in second)  # and leaves some unresolved


def test_mmbench_letters_match_lmms_eval_static_path(mmb, evaluator):
    assert [r.scores["letter"] for r in mmb.records] == [final for _, final in static_letters(mmb, evaluator)]


def test_mmbench_num_unresolved_counts_answers_both_extractors_miss(mmb, evaluator):
    missed = sum(1 for _, final in static_letters(mmb, evaluator) if not final)
    assert mmb.task.aggregate(mmb.records)["num_unresolved"] == missed


def test_mmbench_question_hits_match_lmms_eval_static_path(mmb, evaluator):
    theirs = ref.mmbench_question_hits(mmb.lmms, evaluator, static_only=True)
    assert 0 < sum(theirs.values()) < len(theirs)
    # Some questions are only settled in lmms-eval's second pass (extract_mcq_answer), so it is exercised here.
    assert set(theirs) - ref.mmbench_decided_by_heuristics(mmb.lmms, evaluator)
    assert mmbench.circular_hits(mmb.records) == theirs


def test_mmbench_accuracy_matches_lmms_eval_static_path(mmb):
    ours = mmb.task.aggregate(mmb.records)["accuracy"]
    theirs = mmb.lmms_aggregate(only=["gpt_eval_score"])["gpt_eval_score"]  # already percent
    assert math.isclose(ours, float(theirs), rel_tol=1e-12)


def test_mmbench_category_accuracies_match_lmms_eval_static_path(mmb, evaluator):
    ours = mmb.task.aggregate(mmb.records)
    _, by_category, by_l2 = evaluator.eval_result([r["gpt_eval_score"] for r in mmb.lmms], "static")
    assert {k.removeprefix("category:"): v for k, v in ours.items() if k.startswith("category:")} == \
        pytest.approx({k: 100 * v for k, v in by_category.items()}, rel=1e-12)
    assert {k.removeprefix("l2_category:"): v for k, v in ours.items() if k.startswith("l2_category:")} == \
        pytest.approx({k: 100 * v for k, v in by_l2.items()}, rel=1e-12)


# -- MME, MMMU, ScienceQA-IMG (issue 15a) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def mme_scored(tmp_path_factory):
    return Scored(mme_corpus(), "mme/mme.yaml", mme.TASKS[0], tmp_path_factory.mktemp("mme"))


def lmms_mme_entry(result: dict) -> dict:
    """The one metric dict lmms-eval's mme_process_results emits (under the perception or cognition key)."""
    (entry,) = result.values()
    return entry


def test_mme_prompts_match_lmms_eval(mme_scored):
    docs = mme_scored.docs
    assert [mme.build_prompt(d) for d in docs] == [mme_scored.lmms_task.doc_to_text(d) for d in docs]


def test_mme_per_document_scores_match_lmms_eval(mme_scored):
    assert len(mme_scored.docs) >= MIN_CORPUS
    theirs = [lmms_mme_entry(r)["score"] for r in mme_scored.lmms]
    assert 0 < sum(theirs) < len(theirs)
    assert [r.scores["correct"] for r in mme_scored.records] == theirs
    hits_per_image = {}
    for record in mme_scored.records:
        hits_per_image.setdefault(mme.image_of(record.doc_id), []).append(record.scores["correct"])
    assert {sum(h) for h in hits_per_image.values()} == {0.0, 1.0, 2.0}  # acc+ sees none, one and both right


def test_mme_scores_match_lmms_eval(mme_scored):
    ours = mme_scored.task.aggregate(mme_scored.records)
    theirs = mme_scored.lmms_aggregate()
    assert ours["perception_score"] == pytest.approx(theirs["mme_perception_score"], rel=1e-12)
    assert ours["cognition_score"] == pytest.approx(theirs["mme_cognition_score"], rel=1e-12)


def test_mme_subtask_scores_match_lmms_eval(mme_scored):
    from lmms_eval.tasks.mme.utils import mme_aggregate_results

    ours = mme_scored.task.aggregate(mme_scored.records)
    by_category = {}
    for result in mme_scored.lmms:
        entry = lmms_mme_entry(result)
        by_category.setdefault(entry["category"], []).append(entry)
    assert len(by_category) == 14
    for category, entries in by_category.items():
        assert ours[f"score:{category}"] == pytest.approx(mme_aggregate_results(entries), rel=1e-12), category


@pytest.fixture(scope="module")
def mmmu_scored(tmp_path_factory):
    scored = Scored(mmmu_corpus(), "mmmu/mmmu_val.yaml", mmmu.TASKS[0], tmp_path_factory.mktemp("mmmu"))
    # lmms-eval guesses with the global random generator: seed it, before each document, with the seed our task
    # gives that document's guess, so that both sides draw the same letter.
    seeded = []
    for doc, output in zip(scored.docs, scored.outputs, strict=True):
        random.seed(guess_seed(0, doc["id"]))
        seeded.append(ref.process_outputs(scored.lmms_task, [doc], [output])[0])
    scored.lmms = seeded
    return scored


def test_mmmu_prompts_match_lmms_eval(mmmu_scored):
    docs = mmmu_scored.docs
    assert [mmmu.build_prompt(d) for d in docs] == [mmmu_scored.lmms_task.doc_to_text(d) for d in docs]


def test_mmmu_parsed_answers_match_lmms_eval(mmmu_scored):
    assert len(mmmu_scored.docs) >= MIN_CORPUS
    for record, result in zip(mmmu_scored.records, mmmu_scored.lmms, strict=True):
        (theirs,) = result["mmmu_acc"]["parsed_pred"]
        ours = record.scores["parsed"]
        if isinstance(theirs, list):  # an open answer's candidates, in set order upstream
            assert sorted(map(repr, ours)) == sorted(map(repr, theirs)), record.doc_id
        else:
            assert ours == theirs, record.doc_id


def test_mmmu_corpus_reaches_every_outcome(mmmu_scored):
    scores = [r.scores for r in mmmu_scored.records]
    choice = [s for s in scores if s["question_type"] == "multiple-choice"]
    outcomes = {(s["guessed"], s["accuracy"]) for s in choice}
    assert outcomes == {(True, 1.0), (True, 0.0), (False, 1.0), (False, 0.0)}  # guessed or read, right or wrong
    opened = [s["accuracy"] for s in scores if s["question_type"] == "open"]
    assert 0 < sum(opened) < len(opened)


def test_mmmu_per_document_scores_match_lmms_eval(mmmu_scored):
    from lmms_eval.tasks.mmmu.utils import evaluate_mmmu

    theirs = [evaluate_mmmu([r["mmmu_acc"]])[1]["acc"] for r in mmmu_scored.lmms]
    assert [r.scores["accuracy"] for r in mmmu_scored.records] == theirs


def test_mmmu_accuracy_matches_lmms_eval(mmmu_scored):
    ours = mmmu_scored.task.aggregate(mmmu_scored.records)["accuracy"]
    assert round(ours / 100, 5) == mmmu_scored.lmms_aggregate()["mmmu_acc"]  # lmms-eval rounds to 5 decimals


def test_mmmu_subjects_and_disciplines_match_lmms_eval(mmmu_scored):
    from lmms_eval.tasks.mmmu.utils import DOMAIN_CAT2SUB_CAT, calculate_ins_level_acc, evaluate_mmmu

    ours = mmmu_scored.task.aggregate(mmmu_scored.records)
    samples = {}
    for result in mmmu_scored.lmms:
        samples.setdefault(result["mmmu_acc"]["subdomain"], []).append(result["mmmu_acc"])
    by_subject = {s: evaluate_mmmu(v)[1] | {"num_example": len(v)} for s, v in samples.items()}
    assert len(by_subject) == 31
    for subject, result in by_subject.items():
        assert ours[f"subject:{subject}"] == approx_percent(result["acc"]), subject
    for domain, subjects in DOMAIN_CAT2SUB_CAT.items():
        theirs = calculate_ins_level_acc({s: by_subject[s] for s in subjects if s in by_subject})
        assert ours[f"discipline:{domain}"] == pytest.approx(100 * theirs, rel=1e-12), domain


def test_mmmu_images_match_lmms_eval_doc_to_visual():
    # Images of different widths tell the order apart; lmms-eval's mmmu_doc_to_visual is the reference.
    from lmms_eval.tasks.mmmu.utils import mmmu_doc_to_visual
    from PIL import Image

    doc = {"id": "validation_Art_1", "question_type": "multiple-choice", "answer": "A",
           "question": "Compare <image 3> with <image 1>.", "options": "['<image 2>', 'neither']",
           **{f"image_{n}": Image.new("RGB", (10 * n, 8)) for n in range(1, 8)}}
    ours = [image.size for image in mmmu.TASKS[0].build_request(doc, seed=0).load_images()]
    assert ours == [image.size for image in mmmu_doc_to_visual(doc)] == [(10, 8), (20, 8), (30, 8)]


@pytest.fixture(scope="module")
def sqa_scored(tmp_path_factory):
    return Scored(scienceqa_corpus(), "scienceqa/scienceqa_img.yaml", scienceqa.TASKS[0],
                  tmp_path_factory.mktemp("sqa"))


def test_scienceqa_prompts_match_lmms_eval(sqa_scored):
    docs = sqa_scored.docs
    assert [scienceqa.build_prompt(d) for d in docs] == [sqa_scored.lmms_task.doc_to_text(d) for d in docs]


def test_scienceqa_per_document_scores_match_lmms_eval(sqa_scored):
    assert len(sqa_scored.docs) >= MIN_CORPUS
    theirs = [r["exact_match"] for r in sqa_scored.lmms]
    assert 0 < sum(theirs) < len(theirs)
    assert [r.scores["accuracy"] for r in sqa_scored.records] == theirs


def test_scienceqa_accuracy_matches_lmms_eval(sqa_scored):
    ours = sqa_scored.task.aggregate(sqa_scored.records)["accuracy"]
    assert ours == approx_percent(sqa_scored.lmms_aggregate()["exact_match"])

# -- TextVQA, OK-VQA, VizWiz-VQA (one scorer: the full EvalAI processor, leave-one-out over positions) ------------
ANSWER_LIST = {
    "textvqa_val": (textvqa_corpus, "textvqa/textvqa_val.yaml", textvqa.TASKS[0]),
    "ok_vqa_val2014": (okvqa_corpus, "ok_vqa/ok_vqa_val2014.yaml", okvqa.TASKS[0]),
    "vizwiz_vqa_val": (vizwiz_corpus, "vizwiz_vqa/vizwiz_vqa_val.yaml", vizwiz.TASKS[0]),
}


@pytest.fixture(scope="module", params=sorted(ANSWER_LIST))
def answer_list(request, tmp_path_factory):
    corpus, yaml, task = ANSWER_LIST[request.param]
    return Scored(corpus(), yaml, task, tmp_path_factory.mktemp(request.param))


def test_answer_list_corpus_reaches_every_accuracy_level(answer_list):
    assert len(answer_list.docs) >= MIN_CORPUS
    levels = {round(r["exact_match"], 6) for r in answer_list.lmms}
    assert {0.0, 0.3, 0.6, 0.9, 1.0} < levels  # and values of questions with fewer than ten answers
    assert any(d["answers"] and len(set(d["answers"])) == 1 for d in answer_list.docs)  # unanimous gold strings
    said = {ref.clean_output(out).lower() for out in answer_list.outputs}
    assert {"unanswerable", "man's hat", "1,000"} & said  # word_tokenize's cases reach lmms-eval's processor
    assert len(EVALAI_CLUSTERS) >= 10


def test_answer_list_per_document_scores_match_lmms_eval(answer_list):
    ours = [r.scores["accuracy"] for r in answer_list.records]
    theirs = [r["exact_match"] for r in answer_list.lmms]
    mismatched = [(o, d["answers"], a, b)
                  for o, d, a, b in zip(answer_list.outputs, answer_list.docs, ours, theirs, strict=True) if a != b]
    assert not mismatched


def test_answer_list_processed_predictions_match_lmms_eval_submission(answer_list):
    # Each process_results also returns the processed prediction (its submission answer); ours is `prediction`.
    theirs = [r["submission"]["answer"] for r in answer_list.lmms]
    assert [r.scores["prediction"] for r in answer_list.records] == theirs


def test_answer_list_accuracy_matches_lmms_eval(answer_list):
    ours = answer_list.task.aggregate(answer_list.records)["accuracy"]
    assert ours == approx_percent(answer_list.lmms_aggregate(only=["exact_match"])["exact_match"])


def test_answer_list_documents_without_answers_score_zero_as_in_lmms_eval(tmp_path):
    # OK-VQA and VizWiz score an empty answer list 0; our build_request makes it an error record, which also
    # counts 0, and score() itself agrees for callers that skip build_request (`score`, score-lmms-eval).
    scored = Scored(vizwiz_corpus(), "vizwiz_vqa/vizwiz_vqa_val.yaml", vizwiz.TASKS[0], tmp_path)
    empty = [i for i, d in enumerate(scored.docs) if not d["answers"]]
    assert len(empty) >= 10
    assert [scored.records[i].scores["accuracy"] for i in empty] == [scored.lmms[i]["exact_match"] for i in empty]


def test_vizwiz_test_submission_file_equals_lmms_eval(tmp_path):
    # lmms-eval's vizwiz_vqa_test writes its submission entries in document order with json.dump; the corpus
    # is in question-id order, so our sorted file must be the same bytes.
    scored = Scored(vizwiz_test_corpus(), "vizwiz_vqa/vizwiz_vqa_test.yaml", vizwiz.TASKS[1], tmp_path / "lmms")
    scored.lmms_aggregate()
    [theirs] = (tmp_path / "lmms" / "submissions").glob("vizwiz_vqa-test-submission-*.json")
    [ours] = scored.task.write_artifacts(scored.records[::-1], tmp_path / "ours")
    assert ours.read_bytes() == theirs.read_bytes()
    assert len(json.loads(ours.read_text())) == len(scored.docs)
