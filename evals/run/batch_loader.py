"""A background thread that turns documents into ready batches while the model runs the current one.

It reads documents, builds their requests (per-document seeds from `doc_seed`), decodes images, runs the
adapter's own preprocessing (`prepare`: tokens, pixel values) when it has one, and hands over batches
through a small queue, so decoding and preprocessing overlap the model. Text
requests are sorted by length (longest first) within a window of batches: less padding per batch,
and an out-of-memory error shows up on the first batch rather than the last. A document that cannot
be read, built or decoded comes out as a failed item, which the runner records as an error.
"""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from evals.requests import ChoiceRequest, ImageRequest, Request, TextRequest
from evals.run.sharding import doc_seed
from evals.task_api import Task

WINDOW_BATCHES = 16  # batches read ahead and sorted together
QUEUE_BATCHES = 2  # batches decoded ahead of the model
Prepare = Callable[[Sequence[Request]], list[Request]]  # an adapter's `prepare` (evals.adapters.interface.PreparesRequests)


@dataclass
class PreparedDoc:
    """One document ready for the adapter (request with decoded images), or the error it hit."""

    doc_id: str
    doc: Any = None
    request: Request | None = None
    error: str | None = None


class _Preloaded:
    """An image loader that returns images decoded earlier (by the loader thread)."""

    def __init__(self, images: list):
        self.images = images

    def __call__(self) -> list:
        return self.images


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def describe_error(error: BaseException) -> str:
    """`Type: message`, first line, object addresses removed: the text stored in Record.error."""
    text = str(error).strip().splitlines()
    # Reprs like "<_io.BytesIO object at 0x7f...>" differ run to run; records must not.
    return _ADDRESS.sub("", f"{type(error).__name__}: {text[0]}" if text else type(error).__name__)


def request_length(request: Request) -> int:
    """The sort key of a request: characters of its text (and longest choice)."""
    if isinstance(request, ChoiceRequest):
        return len(request.text) + max((len(c) for c in request.choices), default=0)
    if isinstance(request, TextRequest):
        return len(request.text)
    return 0


def build_item(task: Task, docs: Sequence[Any], index: int, doc_id: str, run_seed: int) -> PreparedDoc:
    """Read one document and build its request; any failure becomes a failed item."""
    try:
        doc = docs[index]
        request = task.build_request(doc, doc_seed(run_seed, task.name, doc_id))
    except Exception as error:  # a malformed document fails alone
        return PreparedDoc(doc_id=doc_id, error=f"bad document: {describe_error(error)}")
    return PreparedDoc(doc_id=doc_id, doc=doc, request=request)


def decode_images(item: PreparedDoc) -> PreparedDoc:
    """Decode the images of an item's request now, so the adapter gets them without waiting."""
    request = item.request
    if item.error is not None or request is None or isinstance(request, ImageRequest):
        return item
    try:
        images = list(request.load_images())
    except Exception as error:  # an undecodable image fails its document only
        return dataclasses.replace(item, error=f"unreadable image: {describe_error(error)}")
    return dataclasses.replace(item, request=dataclasses.replace(request, load_images=_Preloaded(images)))


def prepare_batch(batch: list[PreparedDoc], prepare: Prepare | None) -> list[PreparedDoc]:
    """The batch with its requests preprocessed by the adapter; unchanged when there is nothing to do or it fails."""
    ready = [i for i, item in enumerate(batch) if item.error is None and item.request is not None]
    if prepare is None or not ready:
        return batch
    try:
        requests = prepare([batch[i].request for i in ready])
    except Exception:  # the adapter's batch call meets the same problem and records it per document
        return batch
    if len(requests) != len(ready):
        return batch
    prepared = list(batch)
    for i, request in zip(ready, requests):
        prepared[i] = dataclasses.replace(batch[i], request=request)
    return prepared


def plan_batches(items: list[PreparedDoc], batch_size: int, sort_by_length: bool) -> list[list[PreparedDoc]]:
    """Cut built items into batches; text ones sorted longest first (stable, so ties keep plan order)."""
    if sort_by_length:
        items = sorted(items, key=lambda it: -request_length(it.request) if it.request is not None else 0)
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def iter_batches(
    task: Task,
    docs: Sequence[Any],
    work: Sequence[tuple[int, str]],
    batch_size: int,
    run_seed: int,
    prepare: Prepare | None = None,
) -> Iterator[list[PreparedDoc]]:
    """Batches of prepared documents for (index, doc id) pairs, in the calling thread."""
    window = batch_size * WINDOW_BATCHES
    sort_by_length = task.kind != "image"
    for start in range(0, len(work), window):
        built = [build_item(task, docs, i, d, run_seed) for i, d in work[start : start + window]]
        for batch in plan_batches(built, batch_size, sort_by_length):
            yield prepare_batch([decode_images(item) for item in batch], prepare)


class BatchLoader:
    """Runs `iter_batches` on a daemon thread; iterate it for the batches, in order."""

    _DONE = object()

    def __init__(
        self,
        task: Task,
        docs: Sequence[Any],
        work: Sequence[tuple[int, str]],
        batch_size: int,
        run_seed: int,
        prepare: Prepare | None = None,
    ):
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        self._stop = threading.Event()
        self._source = iter_batches(task, docs, work, batch_size, run_seed, prepare)
        self._thread = threading.Thread(target=self._fill, name=f"batch-loader-{task.name}", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            for batch in self._source:
                if not self._put(batch):
                    return
        except BaseException as error:  # handed to the consumer, re-raised there
            self._put(error)
            return
        self._put(self._DONE)

    def _put(self, value: Any) -> bool:
        """Queue one value unless the consumer has stopped; True when queued."""
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[list[PreparedDoc]]:
        try:
            while True:
                value = self._queue.get()
                if value is self._DONE:
                    return
                if isinstance(value, BaseException):
                    raise value
                yield value
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (used when the consumer leaves early)."""
        self._stop.set()
        self._thread.join(timeout=5)
