"""VARGPTProcessor: the Vicuna v1 prompt, the tokenizer with VARGPT's special tokens, and CLIP preprocessing.

The prompt is LLaVA-1.5's `conv_vicuna_v1` as VARGPT's evaluation uses it (shared/reference/vargpt_model.md):
    "{SYSTEM} USER: <image>\n{text} ASSISTANT:"
with one `<image>\n` per image before the text. As in transformers' LlavaProcessor, each `<image>` is expanded to
one `<image>` token per image feature (576 for CLIP ViT-L/14 at 336 px) before tokenisation, so the model can
scatter the features at exactly those positions.

Two ways in: `encode_batch(texts, images)` takes raw user texts and applies the template (the harness's path);
`processor(text=..., images=..., return_tensors="pt")` takes prompts already templated, as transformers'
LlavaProcessor does, and returns a BatchFeature for `model(**inputs)` / `model.generate(**inputs)`.

Shape legend: B batch, L tokens, N images, H/W pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from PIL import Image
from transformers import BatchFeature, CLIPImageProcessor, LlamaTokenizer

from vargpt.checkpoint_files import ModelLoadError
from vargpt.configuration_vargpt import VARGPTConfig

SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
IMAGE_TOKEN = "<image>"
IMAGE_LINE = IMAGE_TOKEN + "\n"  # one per image, before the user text

# Keywords of a transformers processor call that go to the tokenizer (as LlavaProcessor's text kwargs do).
TOKENIZER_KEYWORDS = frozenset(
    ("padding", "padding_side", "truncation", "max_length", "pad_to_multiple_of", "add_special_tokens")
    + ("return_attention_mask",)
)


@dataclass(frozen=True)
class EncodedBatch:
    """Model inputs for a batch of prompts: input_ids and attention_mask (batch_size, seq_len), pixel_values or None."""

    input_ids: torch.LongTensor
    attention_mask: torch.LongTensor
    pixel_values: torch.Tensor | None  # (num_images, 3, height, width), images of all requests in order

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> EncodedBatch:
        """The same batch on `device` (pixel values also cast to `dtype` when given)."""
        pixel_values = (
            None if self.pixel_values is None else self.pixel_values.to(device, dtype or self.pixel_values.dtype)
        )
        return EncodedBatch(self.input_ids.to(device), self.attention_mask.to(device), pixel_values)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments for VARGPTForConditionalGeneration.forward / generate."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.pixel_values is not None:
            inputs["pixel_values"] = self.pixel_values
        return inputs


@dataclass(frozen=True)
class EncodedRequest:
    """One request's model inputs before batching: its prompt's token ids (unpadded) and its images' pixels."""

    input_ids: tuple[int, ...]
    pixel_values: torch.Tensor | None  # (num_images, 3, height, width)


class VARGPTProcessor:
    """Prompt template, tokenizer and image processor of a VARGPT checkpoint."""

    def __init__(
        self,
        tokenizer: LlamaTokenizer,
        image_processor: CLIPImageProcessor,
        num_image_features: int,
        special_tokens: dict,
    ):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.num_image_features = num_image_features
        self.special_tokens = dict(special_tokens)
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)

    @classmethod
    def from_pretrained(cls, folder: str | Path, config: VARGPTConfig | None = None) -> VARGPTProcessor:
        """Read the tokenizer and preprocessor config of a checkpoint folder; ids are checked against config.json."""
        folder = Path(folder)
        if config is None:
            config = VARGPTConfig.from_pretrained(folder)
        if not (folder / "preprocessor_config.json").is_file():
            raise ModelLoadError(f"{folder} has no preprocessor_config.json (the CLIP image processor settings)")
        if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model")):
            raise ModelLoadError(f"{folder} has no tokenizer (tokenizer.json or tokenizer.model)")
        tokenizer = LlamaTokenizer.from_pretrained(folder)
        image_processor = CLIPImageProcessor.from_pretrained(folder)
        processor = cls(tokenizer, image_processor, config.num_image_features, config.special_tokens)
        processor.check_against(config)
        return processor

    def save_pretrained(self, folder: str | Path) -> None:
        """Write the tokenizer files and preprocessor_config.json into `folder`."""
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)

    def check_against(self, config: VARGPTConfig) -> None:
        """Raise ModelLoadError if token ids or image size disagree with config.json."""
        expected = {
            IMAGE_TOKEN: config.image_token_index,
            self.special_tokens["image_gen_start"]: config.image_gen_start_token_id,
            self.special_tokens["image_gen_end"]: config.image_gen_end_token_id,
            self.special_tokens["image_gen_pad"]: config.image_gen_pad_token_id,
        }
        for token, token_id in expected.items():
            found = self.tokenizer.convert_tokens_to_ids(token)
            if found != token_id:
                raise ModelLoadError(
                    f"tokenizer maps {token!r} to {found} but config.json says {token_id}; tokenizer and config "
                    "come from different checkpoints"
                )
        side = self.image_processor.crop_size.height  # a SizeDict in transformers 5
        if side != config.vision_config.image_size:
            raise ModelLoadError(
                f"preprocessor_config.json crops to {side} px but the vision tower takes "
                f"{config.vision_config.image_size} px"
            )

    # -- prompts --------------------------------------------------------------------------------------------
    def build_prompt(self, text: str, num_images: int) -> str:
        """The Vicuna v1 prompt: system line, ` USER: `, one `<image>\\n` per image, the text, ` ASSISTANT:`."""
        return f"{SYSTEM_PROMPT} USER: {IMAGE_LINE * num_images}{text} ASSISTANT:"

    def expand_image_tokens(self, prompt: str) -> str:
        """Each `<image>` becomes num_image_features `<image>` tokens (one per image feature)."""
        return prompt.replace(IMAGE_TOKEN, IMAGE_TOKEN * self.num_image_features)

    # -- tensors --------------------------------------------------------------------------------------------
    def pixel_values(self, images: Sequence[Sequence[Image.Image]]) -> torch.Tensor | None:
        """CLIP-preprocess every image of every request, in order: (num_images, 3, height, width) or None."""
        flat = flatten_images(images)
        return self.preprocess_images(flat) if flat else None

    def preprocess_images(self, flat: Sequence[Any]) -> torch.Tensor:
        """CLIP pixel values of a flat, non-empty list of images: (num_images, 3, height, width)."""
        return self.image_processor(images=list(flat), return_tensors="pt")["pixel_values"]

    def tokenize_prompts(self, prompts: Sequence[str], padding_side: Literal["left", "right"] = "left") -> dict:
        """Tokenise already templated prompts (with `<image>` not yet expanded), padded to one length."""
        expanded = [self.expand_image_tokens(prompt) for prompt in prompts]
        encoded = self.tokenizer(expanded, padding=True, padding_side=padding_side, return_tensors="pt")
        return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def encode_prompts(
        self,
        prompts: Sequence[str],
        images: Sequence[Sequence[Image.Image]] | None = None,
        padding_side: Literal["left", "right"] = "left",
    ) -> EncodedBatch:
        """Templated prompts and their images -> EncodedBatch; each prompt must hold one `<image>` per image."""
        images = images if images is not None else [[] for _ in prompts]
        if len(images) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(images)} image lists; pass one list per prompt")
        for index, (prompt, request_images) in enumerate(zip(prompts, images)):
            if prompt.count(IMAGE_TOKEN) != len(request_images):
                raise ValueError(
                    f"prompt {index} has {prompt.count(IMAGE_TOKEN)} {IMAGE_TOKEN} markers but "
                    f"{len(request_images)} images; they must match"
                )
        tokens = self.tokenize_prompts(prompts, padding_side)
        return EncodedBatch(tokens["input_ids"], tokens["attention_mask"], self.pixel_values(images))

    def encode_batch(
        self,
        texts: Sequence[str],
        images: Sequence[Sequence[Image.Image]] | None = None,
        padding_side: Literal["left", "right"] = "left",
    ) -> EncodedBatch:
        """Raw user texts and their images -> templated, tokenised, padded EncodedBatch."""
        images = images if images is not None else [[] for _ in texts]
        if len(images) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(images)} image lists; pass one list per text")
        prompts = [self.build_prompt(text, len(request_images)) for text, request_images in zip(texts, images)]
        return self.encode_prompts(prompts, images, padding_side)

    # -- the transformers processor call ----------------------------------------------------------------------
    def __call__(
        self,
        images: Any = None,
        text: str | Sequence[str] | None = None,
        *,
        return_tensors: str | None = None,
        **text_kwargs: Any,
    ) -> BatchFeature:
        """LlavaProcessor's call: templated prompt(s) holding `<image>`, and their images in order -> BatchFeature.

        `images` is one image, a list (the images of every prompt, in the order of their `<image>` markers) or
        a list of lists per prompt. The keywords padding, padding_side, truncation, max_length, ... go to the
        tokenizer, whose own settings apply otherwise (no padding unless asked). The result holds input_ids,
        attention_mask and pixel_values (with images), ready for `model(**inputs)` or `model.generate(**inputs)`.
        """
        unknown = sorted(set(text_kwargs) - TOKENIZER_KEYWORDS)
        if unknown:
            raise TypeError(f"VARGPTProcessor got unexpected keyword arguments {unknown}")
        if images is None and text is None:
            raise ValueError("pass text=, images= or both")
        flat = flatten_images(images)
        data: dict[str, Any] = {}
        if text is not None:
            prompts = [text] if isinstance(text, str) else list(text)
            markers = sum(prompt.count(IMAGE_TOKEN) for prompt in prompts)
            if markers != len(flat):
                raise ValueError(
                    f"the prompts hold {markers} {IMAGE_TOKEN} markers but {len(flat)} images were given; each "
                    f"image needs one {IMAGE_TOKEN} in the prompt where it belongs"
                )
            data.update(self.tokenizer([self.expand_image_tokens(p) for p in prompts], **text_kwargs))
        if flat:
            data["pixel_values"] = self.preprocess_images(flat)
        return BatchFeature(data, tensor_type=return_tensors)

    # -- encoded ahead (a background loader, while the model runs), padded later -------------------------------
    def encode_requests(
        self, texts: Sequence[str], images: Sequence[Sequence[Image.Image]] | None = None
    ) -> list[EncodedRequest]:
        """`encode_batch` split back into one unpadded EncodedRequest per text (one tokenizer and CLIP call)."""
        batch = self.encode_batch(texts, images, padding_side="right")
        lengths = batch.attention_mask.sum(dim=1).tolist()
        counts = [len(request_images) for request_images in images] if images is not None else [0] * len(texts)
        pixels = batch.pixel_values.split(counts) if batch.pixel_values is not None else [None] * len(texts)
        return [
            EncodedRequest(tuple(batch.input_ids[row, :length].tolist()), pixels[row] if counts[row] else None)
            for row, length in enumerate(lengths)
        ]

    def collate(
        self, requests: Sequence[EncodedRequest], padding_side: Literal["left", "right"] = "left"
    ) -> EncodedBatch:
        """Pad encoded requests into one EncodedBatch: the same tensors `encode_batch` gives for them."""
        if not requests:
            raise ValueError("collate needs at least one encoded request")
        pad_id = self.tokenizer.pad_token_id
        longest = max(len(r.input_ids) for r in requests)
        input_ids_BL = torch.full((len(requests), longest), pad_id, dtype=torch.long)
        attention_mask_BL = torch.zeros((len(requests), longest), dtype=torch.long)
        for row, request in enumerate(requests):
            width = len(request.input_ids)
            columns = slice(longest - width, longest) if padding_side == "left" else slice(0, width)
            input_ids_BL[row, columns] = torch.tensor(request.input_ids, dtype=torch.long)
            attention_mask_BL[row, columns] = 1
        pixels = [r.pixel_values for r in requests if r.pixel_values is not None]
        return EncodedBatch(input_ids_BL, attention_mask_BL, torch.cat(pixels) if pixels else None)

    def decode(self, token_ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True, **kwargs: Any) -> str:
        """Token ids -> text, special tokens skipped unless told otherwise, stripped (tokenizer keywords pass on)."""
        return self.tokenizer.decode(token_ids, skip_special_tokens=skip_special_tokens, **kwargs).strip()

    def batch_decode(self, sequences: Sequence[Sequence[int]] | torch.Tensor, **kwargs: Any) -> list[str]:
        """`decode` of each row, as transformers processors offer it."""
        return [self.decode(row, **kwargs) for row in sequences]


def flatten_images(images: Any) -> list:
    """None, one image, a list of images or a list of per-prompt lists -> the images in order (RGB when PIL)."""
    if images is None:
        return []
    items = images if isinstance(images, (list, tuple)) else [images]
    flat = [image for item in items for image in (item if isinstance(item, (list, tuple)) else [item])]
    return [image.convert("RGB") if isinstance(image, Image.Image) else image for image in flat]


__all__ = ["VARGPTProcessor", "EncodedBatch", "EncodedRequest", "SYSTEM_PROMPT", "IMAGE_TOKEN", "flatten_images"]
