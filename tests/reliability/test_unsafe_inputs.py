"""Unsafe inputs: pickled weights are never unpickled unless --allow-pickle is given, and the harness never
turns on trust_remote_code (checked in the source and on every loading call of a real run).
"""

from __future__ import annotations

import ast
import os
import pickle
import shutil
from pathlib import Path

import datasets
import pytest
import torch
import transformers
from broken_datasets import broken_copy
from run_checks import pickled_weights, planned_ids, results_of

from evals.cli import main
from evals.config import RunConfig
from evals.run.launch import execute_run
from evals.adapters.model_spec import build_adapter
from vargpt import tiny
from vargpt.checkpoint_files import ModelLoadError
from vargpt.modeling_vargpt import VARGPTForConditionalGeneration

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("evals", "tasks", "vargpt")


class RunsCode:
    """A pickle that runs a shell command when loaded: what a hostile .bin file can do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_weights_load_only_with_allow_pickle(tmp_path, capsys, tally):
    folder = tmp_path / "pickled"
    torch.save(pickled_weights(folder), folder / "pytorch_model.bin")
    args = ["run", "--model", str(folder), "--data", "demo", "--tasks", "gqa", "--limit", "1",
            "--gen-kwargs", "max_new_tokens=2", "--output", str(tmp_path / "run")]
    tally.tried("unsafe input: pickled weights", 2)
    assert main(args) == 2
    assert "holds only pickled weights" in capsys.readouterr().err
    assert main([*args, "--allow-pickle", "--overwrite"]) == 0
    assert results_of(tmp_path / "run")["gqa"]["num_docs"] == 1


def test_a_hostile_pickle_is_never_unpickled_without_the_flag(tmp_path, tally):
    marker = tmp_path / "code-ran"
    beside_safetensors = tmp_path / "both"
    shutil.copytree(tiny.cached_folder(), beside_safetensors)
    (beside_safetensors / "pytorch_model.bin").write_bytes(pickle.dumps(RunsCode(marker)))
    alone = tmp_path / "alone"
    pickled_weights(alone)
    (alone / "pytorch_model.bin").write_bytes(pickle.dumps(RunsCode(marker)))
    tally.tried("unsafe input: hostile pickle", 2)
    build_adapter(str(beside_safetensors), "cpu", "float32")  # loads the safetensors, ignores the .bin
    with pytest.raises(ModelLoadError, match="holds only pickled weights"):
        build_adapter(str(alone), "cpu", "float32")
    assert not marker.exists()


def trust_remote_code_values(tree: ast.AST) -> list[ast.expr]:
    """Every value given to `trust_remote_code` as a call keyword or a dict key in one module."""
    values = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            values += [k.value for k in node.keywords if k.arg == "trust_remote_code"]
        elif isinstance(node, ast.Dict):
            values += [v for k, v in zip(node.keys, node.values)
                       if isinstance(k, ast.Constant) and k.value == "trust_remote_code"]
    return values


def test_no_source_passes_trust_remote_code_other_than_false(tally):
    tally.tried("unsafe input: trust_remote_code (source)")
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for value in trust_remote_code_values(ast.parse(path.read_text(), str(path))):
                if not (isinstance(value, ast.Constant) and value.value is False):
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{value.lineno}")
    assert offenders == []


LOADERS = (
    (transformers.PreTrainedModel, "from_pretrained"),
    (transformers.PretrainedConfig, "from_pretrained"),
    (transformers.PreTrainedTokenizerBase, "from_pretrained"),
    (transformers.ImageProcessingMixin, "from_pretrained"),
    (transformers.ProcessorMixin, "from_pretrained"),
    (transformers.AutoConfig, "from_pretrained"),
    (transformers.AutoTokenizer, "from_pretrained"),
    (transformers.AutoProcessor, "from_pretrained"),
    (transformers.AutoImageProcessor, "from_pretrained"),
)


def test_a_real_run_never_turns_on_trust_remote_code(tmp_path, monkeypatch, tally):
    seen: list[tuple[str, object]] = []
    for owner, name in LOADERS:
        original = owner.__dict__[name].__func__  # every loader is a classmethod

        def recording(cls, *args, _original=original, _label=f"{owner.__name__}.{name}", **kwargs):
            seen.append((_label, kwargs.get("trust_remote_code")))
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(owner, name, classmethod(recording))
    real_load_dataset = datasets.load_dataset

    def load_dataset(*args, **kwargs):
        seen.append(("datasets.load_dataset", kwargs.get("trust_remote_code")))
        return real_load_dataset(*args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    tally.tried("unsafe input: trust_remote_code (runtime)")
    data_dir = tmp_path / "data"
    broken_copy(data_dir, "lmms-lab/POPE", "Full", "random", lambda rows: rows)  # a local snapshot copy
    adapter = build_adapter("tiny", "cpu", "float32")
    config = RunConfig(tasks=("pope_random",), model="tiny", data=str(data_dir), limit=2, output=tmp_path / "run")
    execute_run(config, adapter=adapter)
    assert len(planned_ids("pope_random", str(data_dir), 2)) == 2
    loaders = {label for label, _ in seen}
    # The hooks saw the model, tokenizer, image processor and dataset being loaded.
    assert {"PreTrainedModel.from_pretrained", "PreTrainedTokenizerBase.from_pretrained",
            "ImageProcessingMixin.from_pretrained", "datasets.load_dataset"} <= loaders
    assert [(label, value) for label, value in seen if value] == []
    with pytest.raises(ValueError, match="never runs remote code"):
        VARGPTForConditionalGeneration.from_pretrained(tiny.cached_folder(), trust_remote_code=True)
