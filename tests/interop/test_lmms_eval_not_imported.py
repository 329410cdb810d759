"""lmms-eval is an optional dependency: `import evals` and `python -m evals run` must never import it.

Only `evals/interop/lmms_eval_model.py` (the lmms-eval plugin) and tests import it. Checked in a fresh
interpreter, since this test session may already hold lmms-eval.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import evals, evals.cli, evals.interop.lmms_eval_scoring
from evals.cli import main
code = main(["run", "--model", "constant:yes", "--tasks", "pope_random", "--data", "demo", "--limit", "2",
             "--batch-size", "2", "--output", sys.argv[1]])
print(json.dumps({"code": code, "lmms": sorted(m for m in sys.modules if m.split(".")[0] == "lmms_eval")}))
"""


def test_evals_and_a_run_do_not_import_lmms_eval(tmp_path, cli_env):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "run")], env=cli_env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"code": 0, "lmms": []}
