"""Required document fields: missing, null, NaN, empty or mistyped values raise one-line typed errors."""

from __future__ import annotations

import pytest

from tasks.data.doc_fields import (
    DocumentFieldError,
    EmptyField,
    MissingField,
    required_items,
    required_strings,
    required_text,
)


def test_text_is_returned_exactly_as_stored():
    # No stripping: the prompt must keep the dataset's text byte for byte (POPE strips it itself).
    assert required_text({"question": " Is it red? "}, "question", "7") == " Is it red? "


@pytest.mark.parametrize("doc", [{}, {"question": None}, {"question": float("nan")}], ids=["absent", "null", "nan"])
def test_a_missing_question_is_a_key_error_naming_field_and_document(doc):
    with pytest.raises(MissingField) as caught:
        required_text(doc, "question", "262148000")
    message = str(caught.value)
    assert message.startswith("document 262148000: required field 'question' is missing")
    assert "\n" not in message and not message.startswith("'")  # not KeyError's quoted form
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_an_empty_or_whitespace_question_is_a_value_error(value):
    with pytest.raises(EmptyField, match=r"^document q1: field 'question' is empty"):
        required_text({"question": value}, "question", "q1")


def test_text_of_another_type_is_refused():
    with pytest.raises(DocumentFieldError, match=r"field 'answer' holds int 3, expected text"):
        required_text({"answer": 3}, "answer", "q1")


def test_answers_must_be_a_non_empty_list():
    answers = [{"answer": "yes"}]
    assert required_items({"answers": answers}, "answers", "q1") is answers
    with pytest.raises(EmptyField, match="'answers' is an empty list"):
        required_items({"answers": []}, "answers", "q1")
    with pytest.raises(DocumentFieldError, match="expected a list"):
        required_items({"answers": "yes"}, "answers", "q1")
    with pytest.raises(MissingField):
        required_items({"answers": None}, "answers", "q1")


def test_answer_strings_must_be_a_list_of_text():
    answers = ["yes", "", "Yes!"]  # an empty answer is data, not a broken row
    assert required_strings({"answers": answers}, "answers", "q1") is answers
    with pytest.raises(DocumentFieldError, match=r"^document q1: item 1 of field 'answers' holds NoneType None"):
        required_strings({"answers": ["yes", None]}, "answers", "q1")
    with pytest.raises(EmptyField, match="'answers' is an empty list"):
        required_strings({"answers": []}, "answers", "q1")
    with pytest.raises(DocumentFieldError, match="expected a list"):
        required_strings({"answers": "yes"}, "answers", "q1")


def test_an_empty_list_of_strings_passes_when_allowed():
    # TextVQA's OCR tokens: an image without text has none, and lmms-eval's prompt then ends in ": ".
    assert required_strings({"ocr_tokens": []}, "ocr_tokens", "q1", allow_empty=True) == []
    with pytest.raises(MissingField):
        required_strings({}, "ocr_tokens", "q1", allow_empty=True)
