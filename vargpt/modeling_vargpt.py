"""VARGPTForConditionalGeneration: LLaVA-1.5 understanding plus VAR next-scale generation, one module tree.

Submodule names reproduce the released checkpoint's keys (saved with transformers 4.46, see
shared/reference/vargpt_state_dict.txt) without any renaming:
    vision_tower.vision_model.*   transformers' CLIPVisionModel (in 5.x it has no `vision_model` level, so a
                                  one-attribute holder puts it back)
    multi_modal_projector.*       transformers' LlavaMultiModalProjector (linear_1, GELU, linear_2)
    language_model.model.*, language_model.lm_head.*   transformers' LlamaForCausalLM
    vargpt_gen.*, vae_local.*, image_gen_projector(_out).*   the generation side (var_decoder, vqvae, bridges)

The understanding forward follows transformers' LlavaModel: CLIP hidden states of layer -2, CLS dropped,
projected, scattered into the text embeddings at the `<image>` positions (the processor has already expanded
each `<image>` to one token per image feature).

Shape legend: B batch, L tokens, V vocabulary, D text hidden size, N images, P image features per image,
C vision hidden size, H/W pixels.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassFieldValidationError
from torch import nn
from transformers import CLIPVisionModel, GenerationMixin, LlamaForCausalLM, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

from vargpt.bridges import ImageGenProjector
from vargpt.checkpoint_files import (
    ModelLoadError,
    compare_shapes,
    has_pickled_weights,
    has_safetensors,
    read_config_dict,
    safetensors_shapes,
)
from vargpt.checkpoint_location import locate_checkpoint
from vargpt.configuration_vargpt import VARGPTConfig
from vargpt.var_config import VARConfig
from vargpt.var_decoder import VARDecoder
from vargpt.vqvae import VQVAE


class ImageTokenMismatchError(ValueError):
    """The number of `<image>` tokens does not match the number of image features."""


class CLIPVisionTower(nn.Module):
    """Holds CLIPVisionModel under the attribute `vision_model`, the 4.46 key layout (vision_tower.vision_model.*)."""

    def __init__(self, config):
        super().__init__()
        self.vision_model = CLIPVisionModel(config)

    def forward(self, pixel_values: torch.Tensor, **kwargs):
        """CLIP forward; see CLIPVisionModel."""
        return self.vision_model(pixel_values, **kwargs)


class VARGPTPreTrainedModel(PreTrainedModel):
    """Weight init and capability flags shared by VARGPT models."""

    config: VARGPTConfig
    config_class = VARGPTConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["CLIPEncoderLayer", "CLIPVisionEmbeddings", "LlamaDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        # The generation side initialises itself in its constructors (VAR's own scheme); PreTrainedModel's
        # generic init would overwrite it, so only the projector (the one module of ours that needs the
        # generic LLaVA init) gets it. CLIP and LLaMA are PreTrainedModels and use their own _init_weights.
        if isinstance(module, LlavaMultiModalProjector):
            for linear in (module.linear_1, module.linear_2):
                super()._init_weights(linear)
            return
        reset_buffers = getattr(module, "reset_buffers", None)
        if callable(reset_buffers):
            # Buffers computed in a constructor (the generation side's `reset_buffers`) must be computed again
            # when from_pretrained materialises a model built on the meta device.
            reset_buffers()


class VARGPTForConditionalGeneration(VARGPTPreTrainedModel, GenerationMixin):
    """VARGPT (LLaVA-1.5-7B + VAR-d30): text from images and text; images from text via next-scale prediction."""

    def __init__(self, config: VARGPTConfig):
        super().__init__(config)
        text_hidden_size = config.text_config.hidden_size
        self.vision_tower = CLIPVisionTower(config.vision_config)
        self.multi_modal_projector = LlavaMultiModalProjector(config)
        self.language_model = LlamaForCausalLM(config.text_config)

        var = VARConfig.from_dict(config.var_config)
        # num_classes = image_gen_start_token_id + 1; class_emb has one more row, the unconditional class.
        self.vargpt_gen = VARDecoder(var, num_classes=config.special_tokens["image_gen_start_token_id"] + 1)
        self.vae_local = VQVAE(var)
        self.image_gen_projector = ImageGenProjector(var.embed_dim, text_hidden_size)
        self.image_gen_projector_out = ImageGenProjector(text_hidden_size, var.embed_dim)
        self.post_init()

    # -- loading and saving -----------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *model_args,
        allow_pickle: bool = False,
        torch_dtype: torch.dtype | None = None,
        **kwargs,
    ) -> VARGPTForConditionalGeneration:
        """Load a checkpoint (folder or hub id) after checking its files; problems raise ModelLoadError.

        The folder is checked before any weight is read: config.json's model_type, every shard of the index,
        and every tensor name and shape against a meta-device model of the config (a one-line error names the
        missing shard, the mismatched key and both shapes, or the missing/unexpected keys). Then
        PreTrainedModel.from_pretrained reads the weights; its key names are the released (transformers 4.46)
        ones, with no renaming. `torch_dtype` is accepted as the old name of `dtype`.
        """
        if kwargs.pop("trust_remote_code", False):
            raise ValueError("VARGPT never runs remote code; drop trust_remote_code")
        if torch_dtype is not None:
            kwargs.setdefault("dtype", torch_dtype)
        want_info = kwargs.pop("output_loading_info", False)
        folder = locate_checkpoint(pretrained_model_name_or_path, allow_pickle=allow_pickle)
        config = kwargs.pop("config", None) or _read_config(folder)
        use_safetensors = has_safetensors(folder)
        if use_safetensors:
            with torch.device("meta"):
                expected = {name: tuple(t.shape) for name, t in cls(config).state_dict().items()}
            compare_shapes(expected, safetensors_shapes(folder), str(folder))
        elif not has_pickled_weights(folder):
            raise ModelLoadError(f"{folder} holds no weights (no model.safetensors[.index.json], no .bin/.pt)")
        elif not allow_pickle:
            raise ModelLoadError(
                f"{folder} holds only pickled weights (.bin/.pt), which can run code when read; convert them to "
                "safetensors, or pass allow_pickle=True if you trust the source"
            )
        model, info = super().from_pretrained(
            folder,
            *model_args,
            config=config,
            use_safetensors=use_safetensors,
            local_files_only=True,
            output_loading_info=True,
            **kwargs,
        )
        problems = {key: sorted(info[key]) for key in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        if any(problems.values()):
            raise ModelLoadError(f"checkpoint {folder} did not load cleanly: {problems}")
        return (model, info) if want_info else model

    def save_pretrained(self, save_directory: str | Path, *args, max_shard_size: int | str = "5GB", **kwargs) -> None:
        """Write config.json, generation_config.json and safetensors shards (+ index) in the released layout.

        5 GB shards, as transformers 4.46 wrote the release; tensor names are the released ones.
        """
        super().save_pretrained(save_directory, *args, max_shard_size=max_shard_size, **kwargs)

    # -- embeddings (GenerationMixin and resizing use these) ------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        """The LLaMA token embedding."""
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        """Replace the LLaMA token embedding."""
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        """The LLaMA lm_head."""
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, value: nn.Module) -> None:
        """Replace the LLaMA lm_head."""
        self.language_model.set_output_embeddings(value)

    def get_decoder(self) -> nn.Module:
        """The LLaMA decoder (without lm_head)."""
        return self.language_model.get_decoder()

    @property
    def var_config(self) -> VARConfig:
        """Generation-side sizes of this model."""
        return VARConfig.from_dict(self.config.var_config)

    # -- understanding ---------------------------------------------------------------------------------------
    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected CLIP features, shape `(num_images, num_image_features, text_hidden_size)`."""
        vision_outputs = self.vision_tower(pixel_values, output_hidden_states=True)
        # hidden_states[0] is the embedding output, [i] the output of layer i: -2 is the penultimate layer.
        selected_NPC = vision_outputs.hidden_states[self.config.vision_feature_layer]
        if self.config.vision_feature_select_strategy == "default":
            selected_NPC = selected_NPC[:, 1:]  # drop CLS
        return self.multi_modal_projector(selected_NPC)

    def merge_image_features(
        self, input_ids: torch.LongTensor, inputs_embeds: torch.Tensor, image_features: torch.Tensor
    ) -> torch.Tensor:
        """Put image features, in order, at the `<image>` positions of `inputs_embeds` (batch_size, seq_len, hidden)."""
        image_mask_BL = input_ids == self.config.image_token_index
        num_image_tokens = int(image_mask_BL.sum())
        num_features = image_features.shape[0] * image_features.shape[1]
        if num_image_tokens != num_features:
            raise ImageTokenMismatchError(
                f"image features and <image> tokens do not match: {num_image_tokens} tokens, {num_features} features "
                f"({image_features.shape[0]} images x {image_features.shape[1]}); the processor must expand each "
                "<image> to one token per feature"
            )
        features_LD = image_features.reshape(-1, image_features.shape[-1]).to(inputs_embeds.device, inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(image_mask_BL.unsqueeze(-1).to(inputs_embeds.device), features_LD)

    def text_loss(self, logits_BLV: torch.Tensor, labels_BL: torch.LongTensor) -> torch.Tensor:
        """Next-token cross-entropy; positions labelled `<|image_gen_pad|>` or ignore_index do not count."""
        ignore_index = self.config.ignore_index
        labels_BL = labels_BL.masked_fill(labels_BL == self.config.image_gen_pad_token_id, ignore_index)
        # Position t predicts token t + 1.
        shifted_logits = logits_BLV[:, :-1].float().reshape(-1, logits_BLV.shape[-1])
        shifted_labels = labels_BL[:, 1:].reshape(-1).to(shifted_logits.device)
        return F.cross_entropy(shifted_logits, shifted_labels, ignore_index=ignore_index)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Understanding forward: logits `(batch_size, seq_len, vocab_size)`, and the text loss when labels are given.

        input_ids `(batch_size, seq_len)` with each `<image>` already expanded to the image-feature count;
        pixel_values `(num_images, 3, height, width)`, images in the order their `<image>` runs appear.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, L, D)
        if pixel_values is not None:
            if input_ids is None:
                raise ValueError("pixel_values need input_ids to find the <image> positions")
            vision_model = self.vision_tower.vision_model
            image_features_NPD = self.get_image_features(pixel_values.to(vision_model.device, vision_model.dtype))
            inputs_embeds = self.merge_image_features(input_ids, inputs_embeds, image_features_NPD)

        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
        loss = self.text_loss(outputs.logits, labels) if labels is not None else None
        return CausalLMOutputWithPast(
            loss=loss,
            logits=outputs.logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


def _read_config(folder: Path) -> VARGPTConfig:
    config_dict = read_config_dict(folder)
    try:
        return VARGPTConfig.from_dict(config_dict)
    except (ValueError, TypeError, StrictDataclassFieldValidationError) as error:
        reason = " ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
        raise ModelLoadError(f"{folder / 'config.json'} is not a valid VARGPT config: {reason}") from None


__all__ = ["VARGPTForConditionalGeneration", "VARGPTPreTrainedModel", "ImageTokenMismatchError"]
