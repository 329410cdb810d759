"""VARGPTConfig: the released `config.json` of VARGPT (model_type "vargpt_llava"), read as it is.

LLaVA-1.5's fields (CLIP vision config, LLaMA text config, image token, projector) plus the three
image-generation special tokens and an optional `var_config` dict with the generation-side sizes (absent in the
released file: the released code hard-codes VAR-d30, which `VARConfig`'s defaults reproduce).
"""

# No `from __future__ import annotations`: @strict validates fields from the real (evaluated) annotations.
from typing import Any, Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PretrainedConfig
from transformers.configuration_utils import SubConfigSpec

from vargpt.var_config import VARConfig

MODEL_TYPE = "vargpt_llava"

# The released tokens (vargpt_model.md): <image> 32000, <pad> 32001, then the three generation tokens.
RELEASED_SPECIAL_TOKENS: dict[str, Any] = {
    "image_gen_start": "<|image_gen_start|>",
    "image_gen_start_token_id": 32002,
    "image_gen_end": "<|image_gen_end|>",
    "image_gen_end_token_id": 32003,
    "image_gen_pad": "<|image_gen_pad|>",
    "image_gen_pad_token_id": 32004,
}
SPECIAL_TOKEN_KEYS = tuple(RELEASED_SPECIAL_TOKENS)

# CLIP ViT-L/14-336 as LLaVA-1.5 uses it.
RELEASED_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 336,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}

# Vicuna-7B v1.5 with the vocabulary padded to 32064 rows.
RELEASED_TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 32064,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
}


@strict
class VARGPTConfig(PretrainedConfig):
    """Configuration of VARGPTForConditionalGeneration; `VARGPTConfig()` is the released 7B+2B model.

    ```python
    >>> config = VARGPTConfig()  # full size
    >>> config.var.depth, config.text_config.hidden_size
    (30, 4096)
    ```
    """

    model_type = MODEL_TYPE
    attribute_map = {"image_token_id": "image_token_index"}

    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig, model_type="clip_vision_model", init_kwargs=RELEASED_VISION_CONFIG
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=RELEASED_TEXT_CONFIG),
    }

    vision_config: dict | PretrainedConfig | None = None
    text_config: dict | PretrainedConfig | None = None
    image_token_index: int = 32000
    pad_token_id: int | None = 32001
    special_tokens: dict | None = None
    projector_hidden_act: str = "gelu"
    vision_feature_select_strategy: Literal["default", "full"] = "default"
    vision_feature_layer: int = -2
    multimodal_projector_bias: bool = True
    ignore_index: int = -100
    tie_word_embeddings: bool = False
    var_config: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.special_tokens is None:
            self.special_tokens = dict(RELEASED_SPECIAL_TOKENS)
        missing = [key for key in SPECIAL_TOKEN_KEYS if key not in self.special_tokens]
        if missing:
            raise ValueError(
                f"config special_tokens lacks {missing}; it needs all of {list(SPECIAL_TOKEN_KEYS)} "
                "(see the released config.json)"
            )
        # Validate early: unknown var_config keys are an error here, not at model construction.
        if self.var_config is not None:
            self.var_config = VARConfig.from_dict(self.var_config).to_dict()

    @property
    def var(self) -> VARConfig:
        """Generation-side sizes (released VAR-d30 values where var_config is absent)."""
        return VARConfig.from_dict(self.var_config)

    @property
    def image_gen_start_token_id(self) -> int:
        """Id of `<|image_gen_start|>` (32002 in the release)."""
        return int(self.special_tokens["image_gen_start_token_id"])

    @property
    def image_gen_end_token_id(self) -> int:
        """Id of `<|image_gen_end|>` (32003 in the release)."""
        return int(self.special_tokens["image_gen_end_token_id"])

    @property
    def image_gen_pad_token_id(self) -> int:
        """Id of `<|image_gen_pad|>` (32004 in the release)."""
        return int(self.special_tokens["image_gen_pad_token_id"])

    @property
    def num_image_features(self) -> int:
        """Image features per image after CLS selection (576 for CLIP ViT-L/14 at 336 px)."""
        patches = (self.vision_config.image_size // self.vision_config.patch_size) ** 2
        return patches if self.vision_feature_select_strategy == "default" else patches + 1


__all__ = ["VARGPTConfig", "MODEL_TYPE", "RELEASED_SPECIAL_TOKENS"]
