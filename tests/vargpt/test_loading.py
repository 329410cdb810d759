"""Loading: vargpt.load("tiny") offline and fast; broken folders fail with one line that names the problem."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

import vargpt
from vargpt import ModelLoadError, VARGPTForConditionalGeneration
from vargpt.checkpoint_files import SAFETENSORS_INDEX


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No hub access, an empty tiny cache: whatever loads must come from this machine."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("VARGPT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def copy_of(checkpoint: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoint"
    shutil.copytree(checkpoint, folder)
    return folder


def shard_of(folder: Path, name: str) -> Path:
    return folder / json.loads((folder / SAFETENSORS_INDEX).read_text())["weight_map"][name]


def load_error(folder, **kwargs) -> str:
    with pytest.raises(ModelLoadError) as caught:
        vargpt.load(folder, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_load_tiny_works_offline_in_seconds_and_reuses_its_build(offline):
    start = time.perf_counter()
    model, processor = vargpt.load("tiny")
    assert time.perf_counter() - start < 20
    assert isinstance(model, VARGPTForConditionalGeneration) and not model.training
    built = next(offline.glob("tiny-*"))
    # The build is the released layout: sharded safetensors with an index, read through the same path.
    assert len(list(built.glob("model-*-of-*.safetensors"))) >= 2 and (built / SAFETENSORS_INDEX).is_file()
    stamp = (built / "config.json").stat().st_mtime_ns
    vargpt.load("tiny")
    assert (built / "config.json").stat().st_mtime_ns == stamp
    # A build whose recorded model layout is not the current one (the model code changed) is rebuilt.
    info = json.loads((built / "tiny_build.json").read_text())
    (built / "tiny_build.json").write_text(json.dumps({**info, "layout": "stale"}))
    vargpt.load("tiny")
    assert json.loads((built / "tiny_build.json").read_text()) == info


def test_tiny_keeps_the_released_token_id_pattern(tiny_model):
    model, processor = tiny_model
    config, tokenizer = model.config, processor.tokenizer
    base = config.image_token_index
    # Release: <image> 32000, <pad> 32001, generation tokens 32002..32004; here base .. base + 4.
    assert tokenizer.convert_tokens_to_ids(["<image>", "<pad>"]) == [base, base + 1] == [base, config.pad_token_id]
    assert [config.image_gen_start_token_id, config.image_gen_end_token_id, config.image_gen_pad_token_id] == [
        base + 2,
        base + 3,
        base + 4,
    ]
    assert config.text_config.vocab_size % 64 == 0 and config.text_config.vocab_size >= base + 5


def test_missing_shard_is_named(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint, tmp_path)
    shard = shard_of(folder, "language_model.lm_head.weight")
    shard.unlink()
    message = load_error(folder)
    assert f"shard {shard.name}" in message and "missing" in message


def test_wrong_model_type_is_named(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "llava"
    (folder / "config.json").write_text(json.dumps(config))
    message = load_error(folder)
    assert "model_type 'llava'" in message and "'vargpt_llava'" in message


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("var_config", {"depth": 2, "width": 64}, "unknown keys ['width']"),
        ("vision_feature_select_strategy", "cls", "vision_feature_select_strategy"),
    ],
)
def test_invalid_config_is_named(tiny_checkpoint, tmp_path, field, value, expected):
    folder = copy_of(tiny_checkpoint, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    message = load_error(folder)
    assert "is not a valid VARGPT config" in message and expected in message


def test_mismatched_shape_names_the_key_and_both_shapes(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint, tmp_path)
    name = "multi_modal_projector.linear_1.weight"  # (text hidden 64, vision hidden 32) in the tiny model
    shard = shard_of(folder, name)
    tensors = load_file(shard)
    tensors[name] = torch.zeros(64, 16)
    save_file(tensors, shard, metadata={"format": "pt"})
    message = load_error(folder)
    assert f"shape mismatch for {name}: checkpoint [64, 16], model [64, 32]" in message


def test_missing_and_unexpected_keys_are_named(tiny_checkpoint, tmp_path):
    folder = copy_of(tiny_checkpoint, tmp_path)
    dropped, added = "multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_3.bias"
    shard = shard_of(folder, dropped)
    tensors = load_file(shard)
    tensors[added] = tensors.pop(dropped)
    save_file(tensors, shard, metadata={"format": "pt"})
    index = json.loads((folder / SAFETENSORS_INDEX).read_text())
    index["weight_map"][added] = index["weight_map"].pop(dropped)
    (folder / SAFETENSORS_INDEX).write_text(json.dumps(index))
    message = load_error(folder)
    assert f"1 missing keys ({dropped})" in message and f"1 unexpected keys ({added})" in message


def test_pickled_weights_are_refused_unless_allowed(tiny_model, tiny_checkpoint, tmp_path):
    model, _ = tiny_model
    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in tiny_checkpoint.iterdir():
        if not path.name.startswith("model"):
            shutil.copy(path, folder)  # config, tokenizer, processor config: everything but the weights
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    assert "allow_pickle=True" in load_error(folder)
    reloaded, _ = vargpt.load(folder, allow_pickle=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in reloaded.state_dict().items())


def test_unknown_folder_and_unreachable_hub_id_fail_in_one_line(offline, tmp_path):
    assert "does not exist" in load_error(tmp_path / "no-such-folder")
    message = load_error("vargpt-evals-tests/not-a-repo")
    assert "not in the Hugging Face cache" in message and "hf download vargpt-evals-tests/not-a-repo" in message


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_from_pretrained_loads_in_half_precision(tiny_checkpoint, dtype):
    model = VARGPTForConditionalGeneration.from_pretrained(tiny_checkpoint, torch_dtype=dtype, device_map="cpu")
    assert model.dtype == dtype and model.language_model.lm_head.weight.dtype == dtype
    assert model.vargpt_gen.lvl_1L.dtype == torch.long  # integer buffers keep their type
