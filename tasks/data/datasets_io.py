"""Reading a task's scored split through `datasets`, from wherever the user keeps a copy.

Sources (DataSource):
- ``hub``: ``datasets.load_dataset(id, config, split, revision)`` on the task's hub id, then its mirrors
  (``lmms-lab-encoder/*`` holds the same commits as ``lmms-lab/*``). The local HF cache answers offline.
- a folder ``DIR`` (``--data DIR``): ``DIR/<hub id>`` (or ``DIR/<mirror id>``), or ``DIR`` itself, holding
  either a snapshot of the hub repository (what ``huggingface-cli download --repo-type dataset`` writes)
  or a ``save_to_disk`` folder of the scored split (a Dataset, or a DatasetDict that has the split).
- ``demo``: the bundled slices under ``tasks/demo/<hub id>/<config>/<split>-*.parquet`` (also a valid
  snapshot folder, so ``--data tasks/demo`` reads the same documents).

A snapshot folder is not read through ``load_dataset(folder)``: the `datasets` cache keys it by folder name
and configs, not by content, so an edited copy (or another folder of the same name) gave the old rows.
The scored split's parquet files (found through the README's ``configs:``, as ``load_dataset`` finds them)
are converted once into memory-mapped Arrow under ``<HF_DATASETS_CACHE>/vargpt_evals_local/<key>``, the key
a hash of every file's path, size, modification time and last 64 KiB (the parquet footer), so a changed
file is read afresh. Only the scored split is converted (a VQAv2 validation run does not convert test).
Entries of older contents stay there until removed by hand.

Documents come back as plain dicts whose image cells stay undecoded (``{"bytes", "path"}``);
``image_loader`` decodes them when the runner asks, so a corrupt image fails its own document only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evals.requests import ImageLoader
from evals.task_api import DatasetSpec, DataSource

logger = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
DEFAULT_CONFIG = "default"
LOCAL_CACHE = "vargpt_evals_local"  # folder under the `datasets` cache holding converted snapshot splits
TAIL_BYTES = 64 * 1024  # bytes at the end of each file that enter its identity


class DatasetUnavailable(RuntimeError):
    """A task's dataset cannot be read (offline and not cached, or no copy where the user pointed)."""


class CorruptImage(ValueError):
    """A document's image cannot be decoded; the runner records it as that document's error."""


@dataclass(frozen=True)
class DatasetCopy:
    """One place a dataset can be read from."""

    kind: Literal["hub", "snapshot", "saved", "demo"]
    location: str  # hub id or folder
    revision: str | None = None
    mirrors: tuple[str, ...] = ()


def find_copy(spec: DatasetSpec, source: DataSource) -> DatasetCopy:
    """Where this run reads `spec` from; a local folder without a copy raises DatasetUnavailable."""
    if source.kind == "hub":
        return DatasetCopy("hub", spec.hub_id, spec.revision, spec.mirrors)
    if source.kind == "demo":
        return DatasetCopy("demo", str(DEMO_DIR / spec.hub_id))
    root = Path(source.path) if source.path is not None else Path(".")
    repo_ids = (spec.hub_id, *spec.mirrors)
    tried = [root / repo_id for repo_id in repo_ids]
    # DIR itself may be the copy (`score --data PATH`), unless it is a folder of copies (DIR/<org>/...).
    root_is_collection = any((root / repo_id.split("/")[0]).is_dir() for repo_id in repo_ids)
    for folder in tried if root_is_collection else [*tried, root]:
        kind = _folder_kind(folder)
        if kind is not None:
            return DatasetCopy(kind, str(folder))
    looked = ", ".join(str(p) for p in tried)
    raise DatasetUnavailable(
        f"no copy of dataset {spec.hub_id} under {root} (looked in {looked} and {root} itself); put a hub "
        f"snapshot there (huggingface-cli download --repo-type dataset {spec.hub_id} --local-dir "
        f"{root / spec.hub_id}) or a save_to_disk folder of split {spec.split!r}"
    )


def read_split(copy: DatasetCopy, config: str | None, split: str) -> datasets.Dataset:
    """The split `split` of configuration `config` (None = the dataset's default) from one copy."""
    if copy.kind == "demo":
        return _read_parquet_split(Path(copy.location), config, split)
    if copy.kind == "saved":
        return _read_saved_split(Path(copy.location), split)
    if copy.kind == "snapshot":
        return _read_snapshot_split(Path(copy.location), config, split)
    return _read_hub_split(copy, config, split)


def files_identity(files: Sequence[Path]) -> str:
    """A hash of each file's resolved path, size, modification time and last bytes: changes with any file."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        # The tail holds a parquet file's footer (row counts, column statistics): an edit within one tick of
        # a coarse file clock that keeps the size still changes it. Reading it costs one seek per file.
        with path.open("rb") as handle:
            handle.seek(max(0, stat.st_size - TAIL_BYTES))
            digest.update(handle.read(TAIL_BYTES))
    return digest.hexdigest()[:24]


def has_column(dataset: datasets.Dataset, name: str) -> bool:
    """True when the dataset has a top-level column `name`."""
    return name in dataset.column_names


class DocRows(Sequence[dict]):
    """A dataset's rows as plain dicts, images undecoded, optionally restricted and extended.

    `rows` picks and orders rows (default: all); `extend(row)` returns extra fields for a row (used to
    join GQA images); `position_field` names a field that receives the row's position in the dataset (the
    id of a document whose dataset has no id column, as lmms-eval's doc_id is that position). Rows are read
    through Arrow, so nothing is decoded ahead of time. Reads come in aligned chunks of CHUNK_ROWS (one Arrow
    take and conversion each): the loader reads documents in order, and one row at a time costs about ten
    times more per row.
    """

    CHUNK_ROWS = 64

    def __init__(
        self,
        dataset: datasets.Dataset,
        rows: Sequence[int] | None = None,
        extend: Callable[[dict], dict] | None = None,
        position_field: str | None = None,
    ):
        self._table = dataset.with_format("arrow")
        self._rows = list(range(len(dataset))) if rows is None else list(rows)
        self._extend = extend
        self._position_field = position_field
        self._chunk: tuple[int, list[dict]] = (-1, [])  # (chunk number, its rows): replaced whole, never edited

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self._rows))[index]  # negative indices, and IndexError past the end
        number, offset = divmod(position, self.CHUNK_ROWS)
        chunk = self._chunk
        if chunk[0] != number:
            start = number * self.CHUNK_ROWS
            columns = self._table[self._rows[start : start + self.CHUNK_ROWS]].to_pydict()  # twice as fast as to_pylist
            chunk = self._chunk = (number, [dict(zip(columns, values)) for values in zip(*columns.values())])
        row = dict(chunk[1][offset])  # a copy: callers may edit their row
        if self._extend is not None:
            row.update(self._extend(row))
        if self._position_field is not None:
            row[self._position_field] = self._rows[position]
        return row

    def __iter__(self) -> Iterator[dict]:
        return (self[i] for i in range(len(self)))


def decode_image(raw: Any, doc_id: str) -> Image.Image:
    """One image cell (raw {"bytes","path"} or a PIL image) as an RGB PIL image."""
    try:
        if isinstance(raw, Image.Image):
            return raw.convert("RGB")
        if isinstance(raw, Mapping):
            if raw.get("bytes"):
                image = Image.open(io.BytesIO(raw["bytes"]))
            elif raw.get("path"):
                image = Image.open(raw["path"])
            else:
                raise ValueError("the image cell is empty")
            return image.convert("RGB")  # convert() forces the full decode here, not later
        raise TypeError(f"unexpected image cell of type {type(raw).__name__}")
    except Exception as err:  # noqa: BLE001 - PIL raises many types for bad data; one typed error for the runner
        raise CorruptImage(f"document {doc_id}: image cannot be decoded ({type(err).__name__}: {_first_line(err)})") from None


def _load_images(raws: tuple, doc_id: str) -> list[Image.Image]:
    return [decode_image(raw, doc_id) for raw in raws]


def image_loader(raws: Sequence[Any] | None, doc_id: str) -> ImageLoader:
    """A picklable callable that decodes the document's images when called."""
    if raws is None:
        return functools.partial(_missing_image, doc_id)
    return functools.partial(_load_images, tuple(raws), doc_id)


def _missing_image(doc_id: str) -> list[Image.Image]:
    raise CorruptImage(f"document {doc_id}: the document has no image")


# -- internals -------------------------------------------------------------------------------------
def _folder_kind(folder: Path) -> Literal["snapshot", "saved"] | None:
    if not folder.is_dir():
        return None
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        return "saved"
    if (folder / "README.md").is_file() or any(folder.glob("*.parquet")) or any(folder.glob("*/*.parquet")):
        return "snapshot"
    return None


def _read_saved_split(folder: Path, split: str) -> datasets.Dataset:
    loaded = datasets.load_from_disk(str(folder))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise DatasetUnavailable(
                f"save_to_disk folder {folder} has splits {sorted(loaded)} but not {split!r}; save the scored split"
            )
        return loaded[split]
    return loaded


def _read_parquet_split(folder: Path, config: str | None, split: str) -> datasets.Dataset:
    files = sorted((folder / (config or DEFAULT_CONFIG)).glob(f"{split}-*.parquet"))
    if not files:
        raise DatasetUnavailable(f"demo slice {folder} has no {config or DEFAULT_CONFIG}/{split}-*.parquet; regenerate it with tasks/demo/make_demo.py")
    table = pa.concat_tables([pq.read_table(f) for f in files])
    # The parquet schema carries the `datasets` features (Image, List, ...), so the types round-trip. The
    # fingerprint is the files' identity: left out, `datasets` hashes the whole table on every load.
    return datasets.Dataset(datasets.table.InMemoryTable(table), fingerprint=files_identity(files))


def _read_snapshot_split(folder: Path, config: str | None, split: str) -> datasets.Dataset:
    files, features = _snapshot_files(folder, config, split)
    not_parquet = [f for f in files if f.suffix != ".parquet"]
    if not_parquet:
        raise DatasetUnavailable(
            f"snapshot {folder} holds split {split!r} as {not_parquet[0].name}, not parquet; give a save_to_disk "
            "folder of the split instead"
        )
    cache_dir = Path(datasets.config.HF_DATASETS_CACHE) / LOCAL_CACHE / files_identity(files)
    # The parquet builder writes Arrow once into cache_dir and memory-maps it: images stay undecoded bytes.
    return datasets.load_dataset(
        "parquet", data_files={split: [str(f) for f in files]}, split=split, features=features, cache_dir=str(cache_dir)
    )


def _snapshot_files(folder: Path, config: str | None, split: str) -> tuple[list[Path], datasets.Features | None]:
    """The data files of one split of a snapshot folder, resolved as load_dataset does, and its README features."""
    try:
        # Reads README.md `configs:` (or the default file patterns) and lists files; converts nothing.
        builder = datasets.load_dataset_builder(str(folder), config)
        files = builder.config.data_files[split] if builder.config.data_files else []
    except Exception as err:  # noqa: BLE001 - `datasets` raises many types for a bad or partial folder
        raise DatasetUnavailable(
            f"snapshot {folder} does not give config {config or DEFAULT_CONFIG!r} split {split!r} "
            f"({type(err).__name__}: {_first_line(err)}); point --data at a complete snapshot of the hub repository"
        ) from None
    if not files:
        raise DatasetUnavailable(
            f"snapshot {folder} has no files for config {config or DEFAULT_CONFIG!r} split {split!r}; point --data "
            "at a complete snapshot of the hub repository"
        )
    return [Path(f) for f in files], builder.info.features


def _read_hub_split(copy: DatasetCopy, config: str | None, split: str) -> datasets.Dataset:
    errors = []
    for repo_id in (copy.location, *copy.mirrors):
        try:
            return datasets.load_dataset(repo_id, config, split=split, revision=copy.revision)
        except ConnectionError as err:
            # No network and not cached: every mirror would fail the same way, so stop here.
            errors.append(f"{repo_id}: {_first_line(err)}")
            break
        except Exception as err:  # noqa: BLE001 - the hub client raises many types; all mean "unavailable"
            errors.append(f"{repo_id}: {type(err).__name__}: {_first_line(err)}")
    raise DatasetUnavailable(
        f"dataset {copy.location} (config {config or DEFAULT_CONFIG}, split {split}, revision "
        f"{copy.revision or 'main'}) is not readable [{'; '.join(errors)}]; download it with `huggingface-cli "
        f"download --repo-type dataset {copy.location} --local-dir DIR/{copy.location}` and pass --data DIR, "
        "or use --data demo"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
