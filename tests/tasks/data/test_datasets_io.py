"""Loading tasks' splits from demo slices, local snapshots, save_to_disk folders, and failing cleanly."""

from __future__ import annotations

import io
import shutil

import datasets
import huggingface_hub.constants
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evals.task_api import DataSource
from tasks import gqa, mmbench, pope, seed
from tasks.data.datasets_io import DEMO_DIR, CorruptImage, DatasetUnavailable, DocRows, image_loader

DEMO = DataSource(kind="demo")


def ids(task, source):
    return [task.doc_id(d) for d in task.load_docs(source)]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """A private `datasets` cache so snapshot loading writes nothing outside the test."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    return tmp_path


def test_local_snapshot_folder_reads_the_demo_documents(hf_cache):
    # tasks/demo is laid out as DIR/<hub id>/ snapshots, so `--data tasks/demo` equals `--data demo`.
    task = gqa.TASKS[0]
    local = list(task.load_docs(DataSource.parse(str(DEMO_DIR))))
    demo = list(task.load_docs(DEMO))
    assert [task.doc_id(d) for d in local] == [task.doc_id(d) for d in demo]
    assert local[0]["image"] == demo[0]["image"]  # the image joined from the images config


def test_save_to_disk_of_the_pooled_split_keeps_this_category(tmp_path):
    # A save_to_disk of lmms-eval's pooled `pope` test split (all categories) under DIR/lmms-lab/POPE.
    splits = [pope.TASKS[i].load_docs(DEMO) for i in range(3)]
    rows = [row for docs in splits for row in docs]
    pooled = datasets.Dataset.from_list(rows)
    pooled.save_to_disk(str(tmp_path / "lmms-lab" / "POPE"))
    popular = next(t for t in pope.TASKS if t.name == "pope_popular")
    assert ids(popular, DataSource.parse(str(tmp_path))) == ids(popular, DEMO)


def test_save_to_disk_dataset_dict_under_a_mirror_id(tmp_path):
    dev = mmbench.TASKS[0]
    table = datasets.load_dataset("parquet", data_files=str(DEMO_DIR / "lmms-lab/MMBench/en/dev-*.parquet"),
                                  split="train", cache_dir=str(tmp_path / "c"))
    datasets.DatasetDict({"dev": table}).save_to_disk(str(tmp_path / "d" / "lmms-lab-encoder" / "MMBench"))
    assert ids(dev, DataSource.parse(str(tmp_path / "d"))) == ids(dev, DEMO)


def test_save_to_disk_folder_given_directly_with_joined_images(tmp_path):
    task = gqa.TASKS[0]
    datasets.Dataset.from_list(list(task.load_docs(DEMO))).save_to_disk(str(tmp_path / "gqa_copy"))
    docs = task.load_docs(DataSource.parse(str(tmp_path / "gqa_copy")))
    assert task.build_request(docs[0], 0).load_images()[0].size == (48, 48)


def test_saved_gqa_without_images_is_a_one_line_error(tmp_path):
    questions = datasets.Dataset.from_list([{k: v for k, v in d.items() if k != "image"}
                                            for d in gqa.TASKS[0].load_docs(DEMO)])
    questions.save_to_disk(str(tmp_path / "lmms-lab" / "GQA"))
    with pytest.raises(DatasetUnavailable, match="no image column") as caught:
        gqa.TASKS[0].load_docs(DataSource.parse(str(tmp_path)))
    assert "\n" not in str(caught.value)


def test_missing_local_copy_names_the_dataset_and_the_fix(tmp_path):
    with pytest.raises(DatasetUnavailable) as caught:
        seed.TASKS[0].load_docs(DataSource.parse(str(tmp_path)))
    message = str(caught.value)
    assert "lmms-lab/SEED-Bench" in message and "huggingface-cli download" in message and "\n" not in message


def test_offline_hub_without_cache_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetUnavailable) as caught:
        pope.TASKS[0].load_docs(DataSource(kind="hub"))
    message = str(caught.value)
    assert message.startswith("dataset lmms-lab/POPE") and "--data" in message and "\n" not in message


def test_seed_keeps_only_image_questions():
    docs = seed.TASKS[0].load_docs(DEMO)
    assert len(docs) == 27 and {d["data_type"] for d in docs} == {"image"}


def test_corrupt_image_fails_when_loaded_not_when_planned():
    task = pope.TASKS[0]
    doc = dict(task.load_docs(DEMO)[0], image={"bytes": b"not a png", "path": None})
    request = task.build_request(doc, seed=0)  # building the request decodes nothing
    with pytest.raises(CorruptImage, match=f"document {doc['question_id']}"):
        request.load_images()


def test_image_loader_accepts_decoded_images_and_pickles():
    import pickle

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, format="PNG")
    loader = pickle.loads(pickle.dumps(image_loader([{"bytes": buffer.getvalue(), "path": None}, Image.new("RGB", (2, 2))], "x")))
    assert [im.mode for im in loader()] == ["RGB", "RGB"]


def test_folder_of_copies_without_this_dataset_is_not_mistaken_for_it():
    # tasks/demo holds lmms-lab/* copies; a dataset id it lacks must not read tasks/demo itself.
    from evals.task_api import DatasetSpec
    from tasks.data.datasets_io import find_copy

    with pytest.raises(DatasetUnavailable, match="no copy of dataset lmms-lab/NoSuchBench"):
        find_copy(DatasetSpec("lmms-lab/NoSuchBench", "test"), DataSource.parse(str(DEMO_DIR)))


def copy_pope(root, question_of_row0=None):
    """A snapshot copy of the demo POPE under root/lmms-lab/POPE, row 0 of `random` optionally re-asked."""
    target = root / "lmms-lab" / "POPE"
    if not target.exists():
        shutil.copytree(DEMO_DIR / "lmms-lab" / "POPE", target)
    if question_of_row0 is not None:
        (path,) = (target / "Full").glob("random-*.parquet")
        table = pq.read_table(path)
        rows = table.to_pylist()
        rows[0]["question"] = question_of_row0
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    return DataSource.parse(str(root))


def test_an_edited_snapshot_is_read_afresh(hf_cache):
    task = pope.TASKS[0]  # pope_random
    source = copy_pope(hf_cache / "data")
    assert task.load_docs(source)[0]["question"] == pope.TASKS[0].load_docs(DEMO)[0]["question"]
    source = copy_pope(hf_cache / "data", "Is there an edited question?")  # the user fixes the copy and reruns
    assert task.load_docs(source)[0]["question"] == "Is there an edited question?"


def test_two_folders_of_the_same_dataset_give_their_own_rows(hf_cache):
    task = pope.TASKS[0]
    first = copy_pope(hf_cache / "a", "Is there a cat in copy a?")
    second = copy_pope(hf_cache / "b", "Is there a dog in copy b?")
    assert task.load_docs(first)[0]["question"] == "Is there a cat in copy a?"
    assert task.load_docs(second)[0]["question"] == "Is there a dog in copy b?"


def test_a_snapshot_split_is_memory_mapped_and_images_stay_undecoded(hf_cache):
    from tasks.data.datasets_io import find_copy, read_split

    task = pope.TASKS[0]
    copy = find_copy(task.dataset, copy_pope(hf_cache / "data"))
    split = read_split(copy, task.dataset.config, task.dataset.split)
    # Backed by an Arrow file in the cache (memory-mapped), not a table held in memory.
    assert [f["filename"] for f in split.cache_files] and all(
        f["filename"].startswith(str(hf_cache / "hf-cache")) for f in split.cache_files)
    assert set(task.load_docs(DataSource.parse(str(hf_cache / "data")))[0]["image"]) == {"bytes", "path"}
    # Only the scored split was converted: no arrow file for `adversarial` or `popular`.
    converted = [p.name for p in (hf_cache / "hf-cache").rglob("*.arrow")]
    assert converted and all("random" in name for name in converted)


def test_doc_rows_read_in_chunks_equal_the_datasets_rows():
    # 150 rows cross two chunk boundaries (64 rows each); nested columns convert as `datasets` converts them.
    dataset = datasets.Dataset.from_dict(
        {"id": list(range(150)), "question": [f"q{i}" for i in range(150)], "tags": [[{"k": i}] for i in range(150)]}
    )
    rows = DocRows(dataset)
    assert [rows[i] for i in range(150)] == dataset.to_list()
    assert rows[-1]["id"] == 149 and rows[64]["question"] == "q64"
    with pytest.raises(IndexError):
        rows[150]
    edited = rows[3]
    edited["id"] = -1
    assert rows[3]["id"] == 3  # each read is a copy
    picked = DocRows(dataset, rows=[140, 2, 70, 2], extend=lambda row: {"double": row["id"] * 2})
    assert [(r["id"], r["double"]) for r in picked] == [(140, 280), (2, 4), (70, 140), (2, 4)]


def test_doc_rows_position_field_holds_the_row_in_the_dataset_not_in_the_selection():
    dataset = datasets.Dataset.from_dict({"question": [f"q{i}" for i in range(100)]})
    assert [r["row"] for r in DocRows(dataset, position_field="row")][:3] == [0, 1, 2]
    picked = DocRows(dataset, rows=[70, 2, 99], position_field="row")
    assert [(r["row"], r["question"]) for r in picked] == [(70, "q70"), (2, "q2"), (99, "q99")]
