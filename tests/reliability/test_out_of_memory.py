"""Out of memory: an adapter that raises torch.cuda.OutOfMemoryError above a batch size makes the runner
halve the batch down to the size that fits, with the same outputs as a run at that size; a document that
still runs out of memory alone becomes an error record and the run goes on.
"""

from __future__ import annotations

from collections import Counter

from run_checks import metrics_of, planned_ids, record_snapshot, results_of
from scripted_faults import OutOfMemoryAbove

from evals.config import GenerationConfig, RunConfig
from evals.run.launch import execute_run
from evals.run.records import read_records, records_dir
from evals.adapters.scripted import OracleAdapter


def run(out, tasks, adapter, batch_size, limit=None, gen_kwargs=(), task_options=()):
    """One in-process demo run with an adapter object; returns the run folder."""
    generation = GenerationConfig(gen_kwargs=gen_kwargs, task_options=task_options)
    config = RunConfig(tasks=tasks, model="tiny", data="demo", limit=limit, batch_size=batch_size, output=out,
                       generation=generation)
    return execute_run(config, adapter=adapter)


def test_halving_down_to_the_size_that_fits_gives_the_outputs_of_a_run_at_that_size(
    tmp_path, tiny_adapter, inception_file, tally
):
    options = (("inception_weights", str(inception_file)),)
    adapter = OutOfMemoryAbove(tiny_adapter, max_batch=2)
    halved = run(tmp_path / "halved", ("gqa", "fid"), adapter, batch_size=8, limit=8, task_options=options)
    tally.tried("out of memory: halve and retry", 2)
    # Per task one batch of 8: 8 fails, 4 fails, 2 and 2 fit, 4 fails, 2 and 2 fit.
    assert adapter.calls == [8, 4, 2, 2, 4, 2, 2] * 2
    fitting = run(tmp_path / "fitting", ("gqa", "fid"), tiny_adapter, batch_size=2, limit=8, task_options=options)
    for task in ("gqa", "fid"):
        assert tally.check_task(halved, task, planned_ids(task, "demo", 8)) == (0, 0)
        assert record_snapshot(halved, task) == record_snapshot(fitting, task)
        assert results_of(halved)[task]["num_errors"] == 0
    assert metrics_of(halved) == metrics_of(fitting)


def test_a_document_out_of_memory_alone_is_an_error_record_and_the_run_goes_on(tmp_path, inception_file, tally):
    options = {"pope_random": {}, "seed_image": {"mode": "likelihood"}, "fid": {}}  # text, choice, image requests
    tasks = tuple(options)
    poison = {task: planned_ids(task, "demo", 12, options[task])[5] for task in tasks}
    adapter = OutOfMemoryAbove(OracleAdapter(), max_batch=4, poison=frozenset(poison.values()))
    run_dir = run(tmp_path / "run", tasks, adapter, batch_size=4, limit=12, gen_kwargs=(("mode", "likelihood"),),
                  task_options=(("inception_weights", str(inception_file)),))
    tally.tried("out of memory: a document fails at batch size 1", len(tasks))
    results = results_of(run_dir)
    for task in tasks:
        assert tally.check_task(run_dir, task, planned_ids(task, "demo", 12, options[task])) == (0, 0)
        errors = {r.doc_id: r.error for r in read_records(records_dir(run_dir, task)) if not r.ok}
        assert list(errors) == [poison[task]]
        assert errors[poison[task]].startswith("out of memory at batch size 1: OutOfMemoryError: CUDA out of memory")
        assert results[task]["num_errors"] == 1
    # 12 documents per task = 3 batches of 4. A poisoned batch costs 5 calls: 4 fails, then 2 + 2, and the
    # half holding the poison fails and splits into 1 + 1. Three tasks: 9 calls of 4, 6 of 2, 6 of 1.
    assert Counter(adapter.calls) == Counter({4: 9, 2: 6, 1: 6})
    # POPE: 11 of 12 answered right by the oracle: 100 * 11 / 12.
    assert results["pope_random"]["metrics"]["accuracy"] == 100 * 11 / 12
