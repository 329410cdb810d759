"""--verify-batching N reruns N documents per task at batch size 1 and counts differing outputs."""

from __future__ import annotations

import json

from evals.config import RunConfig
from evals.run.launch import execute_run
from evals.registry import registry_from_tasks
from evals.adapters.scripted import OracleAdapter


class BatchSensitiveAdapter(OracleAdapter):
    """Answers wrong for the second request of any batch: what batched padding bugs look like."""

    def generate_text(self, requests):
        answers = super().generate_text(requests)
        return [a + "!" if i == 1 else a for i, a in enumerate(answers)]


def verify(tmp_path, fake_tasks, adapter, name):
    config = RunConfig(
        tasks=("fake_qa", "fake_image"), model="oracle", output=tmp_path / name, batch_size=4, verify_batching=6
    )
    run_dir = execute_run(config, registry_from_tasks(fake_tasks.TASKS), adapter)
    return json.loads((run_dir / "results.json").read_text())["verify_batching"]


def test_a_batch_invariant_adapter_shows_no_differences(tmp_path, fake_tasks):
    assert verify(tmp_path, fake_tasks, OracleAdapter(), "same") == {
        "fake_qa": {"checked": 6, "differing": 0, "batch_size": 4},
        "fake_image": {"checked": 6, "differing": 0, "batch_size": 4},
    }


def test_outputs_that_change_with_batching_are_counted(tmp_path, fake_tasks):
    # Six documents at batch size 4 form batches of 4 and 2; the second of each is altered: 2 differ.
    found = verify(tmp_path, fake_tasks, BatchSensitiveAdapter(), "differs")
    assert found["fake_qa"] == {"checked": 6, "differing": 2, "batch_size": 4}
    assert found["fake_image"]["differing"] == 0
