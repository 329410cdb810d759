"""A task plugin that fails to load: a built-in one stops every command, a third-party one only its own tasks.

Checked on real `python -m evals` processes. The third-party plugin is tests/broken_plugin (a distribution on
sys.path whose module imports a package no environment has); the built-in case hides openpyxl, which
tasks/mmbench.py imports, behind a module that raises the ModuleNotFoundError an absent package raises.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals.broken_plugin import diagnose

BROKEN_PLUGIN_DIR = Path(__file__).resolve().parents[1] / "broken_plugin"


def only_line(stderr: str) -> str:
    """The single line of `stderr` (fails when there are more or none)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def with_broken_plugin(cli_env):
    """cli_env with the broken third-party plugin installed (its folder on PYTHONPATH)."""
    cli_env["PYTHONPATH"] = os.pathsep.join([str(BROKEN_PLUGIN_DIR), cli_env["PYTHONPATH"]])
    return cli_env


@pytest.fixture
def without_openpyxl(cli_env, tmp_path):
    """cli_env in which `import openpyxl` fails as it does where openpyxl is not installed."""
    hidden = tmp_path / "hide" / "openpyxl"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'openpyxl\'", name="openpyxl")\n')
    cli_env["PYTHONPATH"] = os.pathsep.join([str(hidden.parent), cli_env["PYTHONPATH"]])
    return cli_env


def assert_names_broken_plugin(line: str) -> None:
    assert line.startswith("error: ")
    assert "third-party (vargpt-broken-tasks) task plugin 'broken' (vargpt_broken_tasks:TASKS)" in line
    assert "needs the package 'vargpt_absent_dependency'" in line
    # The requirement the plugin's METADATA declares, quoted for the shell because of `>`.
    assert "`pip install 'vargpt-absent-dependency>=1.0'`" in line


@pytest.mark.parametrize("tasks", ["broken_qa", "all"])
def test_asking_for_a_broken_third_party_plugin_exits_2_in_one_line(evals_cli, with_broken_plugin, tasks, tmp_path):
    # broken_qa is the task the plugin would register (unknown: its module never loaded); all is every task,
    # which it cannot be while one plugin is unreadable.
    result = evals_cli("run", "--tasks", tasks, "--model", "constant:4", "--output", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr
    assert_names_broken_plugin(only_line(result.stderr))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("tasks", ["broken", "fake_qa,broken_qa", "fake_pair,all"])
def test_every_selection_that_needs_the_broken_plugin_is_refused(fake_tasks, monkeypatch, capsys, tasks, tmp_path):
    # In process, the same command line: the entry point's own name, and the broken task beside good ones.
    from evals.cli import main

    monkeypatch.syspath_prepend(str(BROKEN_PLUGIN_DIR))
    assert main(["run", "--tasks", tasks, "--model", "constant:4", "--output", str(tmp_path / "run")]) == 2
    assert_names_broken_plugin(only_line(capsys.readouterr().err))
    assert not (tmp_path / "run").exists()


def test_the_other_tasks_still_run_beside_a_broken_third_party_plugin(evals_cli, with_broken_plugin, tmp_path):
    result = evals_cli(
        "run", "--tasks", "fake_qa", "--model", "oracle", "--limit", "2", "--output", str(tmp_path / "run")
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]) == {"fake_qa"}
    warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING evals.registry")]
    assert len(warning) == 1 and "task plugin 'broken'" in warning[0] and "(its tasks are not run)" in warning[0]


def test_list_shows_a_broken_third_party_plugin(evals_cli, with_broken_plugin):
    result = evals_cli("list", "--no-counts")
    assert result.returncode == 0, result.stderr
    broken = [line for line in result.stdout.splitlines() if line.startswith("broken: ")]
    assert len(broken) == 1
    assert_names_broken_plugin("error: " + broken[0].removeprefix("broken: "))
    assert "| fake_qa " in result.stdout and "| gqa " in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--no-counts"),
        ("run", "--tasks", "all", "--model", "constant:A"),
        ("run", "--tasks", "gqa", "--model", "constant:A"),  # a broken built-in is a broken install
    ],
)
def test_a_broken_builtin_plugin_stops_every_command_in_one_line(evals_cli, without_openpyxl, args, tmp_path):
    extra = ("--output", str(tmp_path / "run")) if args[0] == "run" else ()
    result = evals_cli(*args, *extra)
    assert result.returncode == 2, result.stderr
    line = only_line(result.stderr)
    assert line.startswith("error: built-in task plugin 'mmbench' (tasks.mmbench:TASKS)")
    assert "needs the package 'openpyxl'" in line
    assert "`pip install 'openpyxl>=" in line  # vargpt-evals' own requirement, with its version bound
    assert not (tmp_path / "run").exists()


def test_diagnose_tells_a_missing_package_from_a_broken_plugin():
    requires = ["torch<=2.14.1,>=2.4", "openpyxl>=3.1", 'lmms-eval<0.8,>=0.7; extra == "test"']
    missing = ModuleNotFoundError("No module named 'openpyxl.styles'", name="openpyxl.styles")
    plugin = diagnose("mmbench", "tasks.mmbench:TASKS", "vargpt_evals", requires, missing)
    assert plugin.builtin and plugin.missing == "openpyxl" and plugin.requirement == "openpyxl>=3.1"
    # An import name that differs from its distribution's only in separators still finds its requirement,
    # and the requirement loses its environment marker.
    interop = diagnose("x", "mypkg.x:TASKS", "mypkg", requires, ModuleNotFoundError("no", name="lmms_eval"))
    assert not interop.builtin and interop.requirement == "lmms-eval<0.8,>=0.7"
    # A missing module inside the plugin's own package is a broken plugin, not a package to install.
    own = diagnose("x", "mypkg.x:TASKS", "mypkg", requires, ModuleNotFoundError("no", name="mypkg.helpers"))
    assert own.missing == "" and "pip install --force-reinstall mypkg" in own.message()
    other = diagnose("x", "mypkg.x:TASKS", "mypkg", requires, RuntimeError("bad\nsecond line"))
    assert other.message() == (
        "third-party (mypkg) task plugin 'x' (mypkg.x:TASKS) failed to import (RuntimeError: bad); "
        "fix or reinstall mypkg (`pip install --force-reinstall mypkg`)"
    )
