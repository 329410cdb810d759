"""Task selection: entry-point plugins, aliases, groups, duplicate names, did-you-mean; --gen-kwargs parsing."""

from __future__ import annotations

import dataclasses

import pytest

from evals.config import parse_gen_kwargs
from evals.errors import UsageError
from evals.registry import RegistryError, UnknownTaskError, discover, registry_from_tasks


def test_an_installed_plugin_shows_up_in_list(fake_tasks, capsys):
    from evals.cli import main

    assert main(["list", "--no-counts"]) == 0
    out = capsys.readouterr().out
    assert "| fake_qa | text | fake/none | test |" in out and "| gqa | text | lmms-lab/GQA |" in out


def test_names_aliases_and_groups_expand_in_order_without_duplicates(fake_tasks):
    registry = discover()
    chosen = registry.select(["fakeqa", "fake_pair", "fake_pair_a", "fake_qa"])
    assert [t.name for t in chosen] == ["fake_qa", "fake_pair_a", "fake_pair_b"]
    assert [t.name for t in registry.select(["pope"])] == ["pope_random", "pope_popular", "pope_adversarial"]


def test_unknown_name_suggests_the_closest(fake_tasks):
    with pytest.raises(UnknownTaskError, match=r"unknown task 'fake_qq'; did you mean 'fake_qa'\? known: "):
        discover().get("fake_qq")


def test_a_duplicate_name_or_alias_is_an_error(fake_tasks):
    task = fake_tasks.FAKE_QA
    with pytest.raises(RegistryError, match="task name 'fake_qa' .* is already taken by task 'fake_qa'"):
        registry_from_tasks([task, dataclasses.replace(task, aliases=())])
    with pytest.raises(RegistryError, match="'fakeqa' .* already taken"):
        registry_from_tasks([task, dataclasses.replace(task, name="other")])


def test_a_broken_plugin_is_reported_not_fatal(fake_tasks, monkeypatch):
    import evals.registry as registry_module

    class BrokenPoint:
        name, value = "broken", "no_such_module:TASKS"

        def load(self):
            raise ModuleNotFoundError("No module named 'no_such_module'")

    real = registry_module.entry_points
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [*real(group=group), BrokenPoint()])
    registry = registry_module.discover()
    assert "fake_qa" in registry.tasks
    assert registry.broken["broken"].message() == (
        "third-party (unknown distribution) task plugin 'broken' (no_such_module:TASKS) failed to import "
        "(ModuleNotFoundError: No module named 'no_such_module'); fix or reinstall the package that provides it"
    )
    with pytest.raises(UnknownTaskError, match="may come from a task plugin that failed to load: third-party"):
        registry.get("nothing_like_it")


def test_a_tag_selects_its_tasks_and_a_task_may_carry_several(fake_tasks):
    qa, pair_a = fake_tasks.FAKE_QA, next(t for t in fake_tasks.TASKS if t.name == "fake_pair_a")
    registry = registry_from_tasks([dataclasses.replace(qa, tags=("mine", "ours")),
                                    dataclasses.replace(pair_a, tags=("ours",))])
    assert [t.name for t in registry.select(["mine"])] == ["fake_qa"]
    assert [t.name for t in registry.select(["ours"])] == ["fake_qa", "fake_pair_a"]
    assert [t.name for t in registry.select(["fake_pair"])] == ["fake_pair_a"]  # its group still selects it
    with pytest.raises(RegistryError, match="group 'fake_qa' of task 'fake_pair_a' is already a task name"):
        registry_from_tasks([qa, dataclasses.replace(pair_a, tags=("fake_qa",))])


def test_tags_leave_the_protocol_and_so_the_run_fingerprint_alone(fake_tasks):
    qa = fake_tasks.FAKE_QA
    assert dataclasses.replace(qa, tags=("paper",)).protocol() == qa.protocol()


# The tasks of the paper's two understanding tables (results/paper/understanding.json); the last three come
# from branch issue-15b and are checked once registered.
PAPER_TASKS = {"mme", "mmmu_val", "mmbench_en_dev", "seed_image", "pope_random", "pope_popular", "pope_adversarial",
               "gqa", "vqav2_val", "scienceqa_img", "textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val"}


def test_the_paper_tag_selects_the_tasks_of_the_paper_tables():
    registry = discover()
    selected = {t.name for t in registry.select(["paper"])}
    assert selected == PAPER_TASKS & set(registry.tasks)
    assert PAPER_TASKS - {"textvqa_val", "ok_vqa_val2014", "vizwiz_vqa_val"} <= selected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ()),
        ("max_new_tokens=4", (("max_new_tokens", "4"),)),
        ("a=1, b=two", (("a", "1"), ("b", "two"))),
        # A comma not followed by `key=` stays inside the value.
        ("template=a photo of a {}, centered,cfg=1.5", (("template", "a photo of a {}, centered"), ("cfg", "1.5"))),
    ],
)
def test_gen_kwargs_parse(text, expected):
    assert parse_gen_kwargs(text) == expected


@pytest.mark.parametrize("text", ["max_new_tokens", "=4", "a=1,a=2", "a b=1"])
def test_malformed_gen_kwargs_are_refused(text):
    with pytest.raises(UsageError):
        parse_gen_kwargs(text)
