"""VARGPT as an lmms-eval model: `python -m lmms_eval --model vargpt --model_args pretrained=PATH`.

The class wraps our Adapter (`evals.adapters.model_spec.build_adapter`, the same one `python -m evals run`
uses), so lmms-eval's tasks reach VARGPT through the chat template, image processing and decoding
that our own tasks use. It follows lmms-eval 0.7.x's simple-model API (`lmms_eval/api/model.py`,
`is_simple = True`: string prompts, images fetched through the task's `doc_to_visual`).

Registration: pyproject.toml names `evals.interop.lmms_eval_model:manifests` under the entry-point group
`lmms_eval.models`; lmms-eval's `ModelRegistryV2.load_entrypoint_manifests` calls it when
`lmms_eval.models` is imported. `ModelManifest` is imported inside that function because the
registry calls it while `lmms_eval.models` is still initialising.

lmms-eval is imported only by this module and by tests; `import evals` and
`python -m evals run` never load it.

Request tuples (`lmms_eval/api/task.py`, `construct_requests`):
- generate_until: `(context, gen_kwargs, doc_to_visual, doc_id, task, split)`
- loglikelihood:  `(context, continuation | doc_to_target, doc_to_visual, doc_id, task, split)`;
  answered with a loss (negative log-likelihood), the value lmms-eval's multiple_choice scoring minimises.

Several processes (`accelerate launch`, `torchrun`): each process loads one replica on
`cuda:LOCAL_RANK`; lmms-eval shards the documents (rank r takes doc r, r+N, ...) and gathers.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms
from PIL import Image
from tqdm import tqdm

from evals.adapters.interface import Adapter
from evals.run.distributed import env_from_launcher
from evals.requests import ChoiceRequest, TextRequest
from evals.run.sharding import doc_seed

logger = logging.getLogger(__name__)

MODEL_ID = "vargpt"
CLASS_PATH = "evals.interop.lmms_eval_model.VargptLmms"
# lmms-eval's LLaVA wrapper generates up to 1024 tokens when a task sets no max_new_tokens (SEED-Bench).
DEFAULT_MAX_NEW_TOKENS = 1024
# Keys lmms-eval tasks send that change nothing for VARGPT: sampling is decided by temperature alone
# (as in lmms-eval's LLaVA wrapper), and `image_aspect_ratio` is a LLaVA processor switch.
IGNORED_GEN_KWARGS = frozenset({"do_sample", "use_cache", "image_aspect_ratio"})


def manifests():
    """The `lmms_eval.models` entry point: one ModelManifest for the simple model `vargpt`."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)]


class UnsupportedGenerationOption(ValueError):
    """A task asks for a decoding option the VARGPT adapter does not implement."""


@dataclass(frozen=True)
class GenerationSettings:
    """What one generate_until request asks of the adapter, from lmms-eval's gen_kwargs."""

    max_new_tokens: int
    stop: tuple[str, ...]
    temperature: float


def gen_kwargs_to_settings(gen_kwargs: dict[str, Any] | None) -> GenerationSettings:
    """Map lmms-eval generation kwargs to our TextRequest fields; unsupported options raise."""
    kwargs = dict(gen_kwargs or {})
    until = kwargs.pop("until", None)
    if until is None:
        stop: tuple[str, ...] = ()
    elif isinstance(until, str):
        stop = (until,)
    else:
        stop = tuple(str(s) for s in until)
    max_new_tokens = int(kwargs.pop("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
    temperature = float(kwargs.pop("temperature", 0.0) or 0.0)
    num_beams = int(kwargs.pop("num_beams", 1) or 1)
    if num_beams != 1:
        raise UnsupportedGenerationOption(f"num_beams={num_beams} is not supported by vargpt; use num_beams=1")
    top_p = kwargs.pop("top_p", None)
    # Greedy decoding ignores top_p (POPE's split tasks even send top_p=0); sampling would need it.
    if temperature > 0 and top_p is not None and float(top_p) != 1.0:
        raise UnsupportedGenerationOption(f"top_p={top_p} with temperature={temperature} is not supported by vargpt; "
                                          "sample with top_p=1.0 or decode greedily (temperature=0)")
    unknown = sorted(set(kwargs) - IGNORED_GEN_KWARGS)
    if unknown:
        logger.warning("vargpt ignores generation kwargs %s", ", ".join(unknown))
    return GenerationSettings(max_new_tokens=max_new_tokens, stop=stop, temperature=temperature)


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the earliest stop string (the text unchanged when none occurs)."""
    cut = len(text)
    for s in stop:
        if s:
            at = text.find(s)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def flatten_visuals(visuals: Any) -> list[Image.Image]:
    """A task's doc_to_visual result as a flat list of PIL images; None entries are dropped."""
    images: list[Image.Image] = []
    for item in visuals if isinstance(visuals, (list, tuple)) else [visuals]:
        if item is None:
            continue
        if isinstance(item, (list, tuple)):
            images.extend(flatten_visuals(item))
        elif isinstance(item, Image.Image):
            images.append(item)
        else:
            raise TypeError(f"vargpt takes PIL images only; the task's doc_to_visual gave a {type(item).__name__} "
                            "(video and audio tasks are not supported)")
    return images


def starts_with_continuation(greedy_text: str, continuation: str) -> bool:
    """True when greedy decoding reproduces the continuation (compared as text, outer spaces ignored)."""
    return greedy_text.strip().startswith(continuation.strip())


def _load_visuals(doc_to_visual: Callable[[dict], Any] | None, doc: dict) -> list[Image.Image]:
    """Decode a document's images (called lazily by the adapter)."""
    return flatten_visuals(doc_to_visual(doc)) if doc_to_visual is not None else []


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    """Consecutive slices of `items` of at most `size` elements."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _parse_batch_size(batch_size: int | str) -> int:
    """lmms-eval passes --batch_size as a string; `auto` has no meaning here."""
    text = str(batch_size)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"vargpt needs --batch_size N with N >= 1, got {batch_size!r}")
    return int(text)


class VargptLmms(lmms):
    """lmms-eval's `vargpt` model: generate_until and loglikelihood served by our Adapter."""

    is_simple = True

    def __init__(
        self,
        pretrained: str = "tiny",
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int | str = 1,
        max_batch_size: int | None = None,  # lmms-eval's `auto` batch search; not used
        seed: int = 0,
        check_greedy: bool = True,
        allow_pickle: bool = False,  # as `evals run --allow-pickle`: load .bin/.pt checkpoint files
        adapter: Adapter | None = None,
    ) -> None:
        super().__init__()
        env = env_from_launcher()
        self._rank, self._world_size = env.rank, env.world_size
        self.batch_size_per_gpu = _parse_batch_size(batch_size)
        self.seed = int(seed)
        self.check_greedy = bool(check_greedy)
        self.device = process_device(device, env.local_rank, env.world_size, _num_cuda_devices())
        if adapter is None:
            from evals.adapters.model_spec import build_adapter, resolve_dtype

            # `pretrained` may reach us as an int when a folder name is numeric (lmms-eval casts values).
            dtype = resolve_dtype(str(dtype), (self.device,))
            adapter = build_adapter(str(pretrained), device=self.device, dtype=dtype, allow_pickle=bool(allow_pickle))
        self.adapter = adapter
        logger.info("vargpt: %s on %s, rank %d of %d", getattr(adapter, "name", pretrained), self.device,
                    self._rank, self._world_size)

    # -- lmms-eval API ------------------------------------------------------------------------------
    def generate_until(self, requests: list[Instance]) -> list[str]:
        """Batched generation; each output is cut at the request's first `until` string."""
        built = [self._text_request(req) for req in requests]
        # One batch holds one setting (a batch decodes with one token budget); longest prompts first.
        order = sorted(range(len(built)), key=lambda i: (_settings_key(built[i]), -len(built[i].text)))
        outputs: list[str | None] = [None] * len(built)
        with tqdm(total=len(built), disable=self.rank != 0, desc="vargpt generate_until") as bar:
            for group in _groups_of_equal_settings(order, built):
                for batch in _chunks(group, self.batch_size_per_gpu):
                    texts = self.adapter.generate_text([built[i] for i in batch])
                    for i, text in zip(batch, texts, strict=True):
                        outputs[i] = truncate_at_stop(text, built[i].stop)
                    bar.update(len(batch))
        return [text if text is not None else "" for text in outputs]

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        """(negative summed log-probability, is_greedy) of each continuation given its context.

        The first value is a loss, lower = more likely, although lmms-eval's docstring says "log
        probability": lmms-eval 0.7.3 picks `np.argmin` of these values in multiple_choice tasks (every
        `loglikelihood` consumer it ships), and its own wrappers (llava, llava_hf, qwen_vl, ...) return
        the loss. Ours is summed over the continuation's tokens (the adapter's score_choices), where
        theirs is the per-token mean, so `acc` ranks options by total likelihood (as our likelihood mode
        and lm-evaluation-harness do) and `acc_norm` divides by the option's length in characters.
        (lmms-eval 0.7.3's own evaluator cannot finish a multiple_choice task yet, for any model: it turns
        every response into text with `unwrap_generation_output`; see tests/interop/test_lmms_eval_run.py.)

        Requests sharing a document and context (a multiple-choice question sends one per option)
        become one ChoiceRequest. `is_greedy` is checked by decoding the context greedily and asking
        whether the text starts with the continuation: a string-level test that can only differ from
        lmms-eval's token-level one when greedy decoding continues the candidate's last word inside one
        token. With `check_greedy=False` no decoding is done and is_greedy is reported as False.
        """
        groups: dict[tuple, list[int]] = defaultdict(list)
        continuations: list[str] = []
        for i, req in enumerate(requests):
            context, target, _, doc_id, task, split = req.args
            continuation = target if isinstance(target, str) else self._target_text(target, task, split, doc_id)
            continuations.append(continuation)
            groups[(task, split, doc_id, context)].append(i)
        keys = list(groups)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        with tqdm(total=len(requests), disable=self.rank != 0, desc="vargpt loglikelihood") as bar:
            for batch_keys in _chunks(keys, self.batch_size_per_gpu):
                choice_requests = [self._choice_request(requests[groups[k][0]], [continuations[i] for i in groups[k]])
                                   for k in batch_keys]
                scores = self.adapter.score_choices(choice_requests)
                greedy = self._greedy_texts(choice_requests) if self.check_greedy else [None] * len(batch_keys)
                for key, logprobs, greedy_text in zip(batch_keys, scores, greedy, strict=True):
                    for i, logprob in zip(groups[key], logprobs, strict=True):
                        is_greedy = greedy_text is not None and starts_with_continuation(greedy_text, continuations[i])
                        results[i] = (-float(logprob), is_greedy)
                    bar.update(len(groups[key]))
        assert all(r is not None for r in results), "every loglikelihood request belongs to one group"
        return results

    def generate_until_multi_round(self, requests) -> list[str]:
        """Multi-round generation (a prompt rebuilt from earlier answers) is not implemented."""
        raise NotImplementedError("generate_until_multi_round is not supported by vargpt: "
                                  "run single-round generate_until or loglikelihood tasks")

    # -- request building ---------------------------------------------------------------------------
    def _doc(self, task: str, split: str, doc_id: int) -> dict:
        """The document lmms-eval registered for (task, split, doc_id)."""
        return self.task_dict[task][split][doc_id]

    def _loader(self, doc_to_visual, task: str, split: str, doc_id: int) -> Callable[[], list[Image.Image]]:
        """A lazy image loader for one document."""
        return functools.partial(_load_visuals, doc_to_visual, self._doc(task, split, doc_id))

    def _text_request(self, req: Instance) -> TextRequest:
        """One generate_until Instance as a TextRequest."""
        context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
        settings = gen_kwargs_to_settings(gen_kwargs)
        return TextRequest(
            doc_id=f"{task}/{split}/{doc_id}",
            text=context,
            load_images=self._loader(doc_to_visual, task, split, doc_id),
            max_new_tokens=settings.max_new_tokens,
            stop=settings.stop,
            temperature=settings.temperature,
            seed=doc_seed(self.seed, task, str(doc_id)),
        )

    def _choice_request(self, req: Instance, continuations: list[str]) -> ChoiceRequest:
        """The candidates of one (document, context) as a ChoiceRequest."""
        context, _, doc_to_visual, doc_id, task, split = req.args
        return ChoiceRequest(
            doc_id=f"{task}/{split}/{doc_id}",
            text=context,
            choices=tuple(continuations),
            load_images=self._loader(doc_to_visual, task, split, doc_id),
        )

    def _target_text(self, doc_to_target: Callable[[dict], Any], task: str, split: str, doc_id: int) -> str:
        """The continuation of a `loglikelihood` task: its doc_to_target, which must be one string."""
        target = doc_to_target(self._doc(task, split, doc_id))
        if isinstance(target, (list, tuple)):
            raise TypeError(f"task {task!r} gives {len(target)} targets for one loglikelihood request; "
                            "vargpt scores one")
        return str(target)

    def _greedy_texts(self, choice_requests: Sequence[ChoiceRequest]) -> list[str]:
        """Greedy continuation of each context, long enough to cover its longest candidate."""
        # A token decodes to at least one byte (byte-fallback pieces included), so as many tokens as the
        # longest candidate has UTF-8 bytes cover it.
        text_requests = [
            TextRequest(doc_id=r.doc_id, text=r.text, load_images=r.load_images,
                        max_new_tokens=max(1, *(len(c.strip().encode("utf-8")) for c in r.choices)), temperature=0.0)
            for r in choice_requests
        ]
        return self.adapter.generate_text(text_requests)


def _num_cuda_devices() -> int:
    """Visible CUDA devices (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def process_device(device: str | None, local_rank: int, world_size: int, num_cuda_devices: int) -> str:
    """This process's device: `cuda:LOCAL_RANK` under a launcher, else --device, else cuda:0 or cpu."""
    if device is None:
        device = "cuda" if num_cuda_devices else "cpu"
    if world_size > 1 and device.startswith("cuda"):
        # One replica per process: a bare or fixed cuda device would put every rank on one GPU.
        return f"cuda:{local_rank % max(1, num_cuda_devices)}"
    if device == "cuda":
        return "cuda:0"
    return device


def _settings_key(request: TextRequest) -> tuple:
    """What must be equal for two requests to share a batch."""
    return (request.max_new_tokens, request.stop, request.temperature)


def _groups_of_equal_settings(order: Sequence[int], built: Sequence[TextRequest]) -> list[list[int]]:
    """Split an order sorted by settings into runs of equal settings."""
    groups: list[list[int]] = []
    for i in order:
        if groups and _settings_key(built[groups[-1][0]]) == _settings_key(built[i]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
