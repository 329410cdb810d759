"""Required fields of a benchmark document: a missing or empty one refuses that document, not the run.

Tasks call these in `build_request`, before the prompt is built, so that a broken row is never asked as
"None\\nAnswer ..." or as an empty question. The runner turns the exception into the document's error record
("bad document: MissingField: document 7: field 'question' is missing") and goes on with the rest.
Values are returned unchanged: the prompt keeps the dataset's exact text (lmms-eval prompts byte for byte).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

FIX = "fix the row in the dataset copy or drop it"


class DocumentFieldError(ValueError):
    """A required field of a document is missing, empty or of the wrong type."""


class MissingField(DocumentFieldError, KeyError):
    """A required field is absent, None or NaN (also a KeyError, as a missing key is)."""

    def __str__(self) -> str:
        # KeyError's own str() quotes its message; the record and the CLI show it as written.
        return str(self.args[0]) if self.args else ""


class EmptyField(DocumentFieldError):
    """A required text field is empty or whitespace only, or a required list has no items."""


def is_missing(value: Any) -> bool:
    """True for a cell that holds nothing: None or a float NaN (what pandas writes for an empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def required_value(doc: Mapping[str, Any], field: str, doc_id: str) -> Any:
    """doc[field]; MissingField when the key is absent or the value is None or NaN."""
    value = doc.get(field)
    if is_missing(value):
        state = "" if field not in doc else " (null)" if value is None else " (NaN)"
        raise MissingField(f"document {doc_id}: required field {field!r} is missing{state}; {FIX}")
    return value


def required_text(doc: Mapping[str, Any], field: str, doc_id: str) -> str:
    """doc[field] as stored; raises when it is missing, not a string, or empty/whitespace only."""
    value = required_value(doc, field, doc_id)
    if not isinstance(value, str):
        raise DocumentFieldError(
            f"document {doc_id}: field {field!r} holds {type(value).__name__} {value!r}, expected text; {FIX}"
        )
    if not value.strip():
        raise EmptyField(f"document {doc_id}: field {field!r} is empty ({value!r}); {FIX}")
    return value


def required_list(doc: Mapping[str, Any], field: str, doc_id: str) -> Sequence[Any]:
    """doc[field] as stored; raises when it is missing or not a list (an empty list passes)."""
    value = required_value(doc, field, doc_id)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise DocumentFieldError(
            f"document {doc_id}: field {field!r} holds {type(value).__name__}, expected a list; {FIX}"
        )
    return value


def required_items(doc: Mapping[str, Any], field: str, doc_id: str) -> Sequence[Any]:
    """doc[field] as stored; raises when it is missing, not a list, or has no items."""
    value = required_list(doc, field, doc_id)
    if not value:
        raise EmptyField(f"document {doc_id}: field {field!r} is an empty list; {FIX}")
    return value


def required_strings(doc: Mapping[str, Any], field: str, doc_id: str, *, allow_empty: bool = False) -> Sequence[str]:
    """doc[field] as stored: a list of strings ("" allowed); raises on a missing field, another type, a
    non-string item, or (unless `allow_empty`) an empty list."""
    value = required_list(doc, field, doc_id) if allow_empty else required_items(doc, field, doc_id)
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise DocumentFieldError(
                f"document {doc_id}: item {position} of field {field!r} holds {type(item).__name__} {item!r}, "
                f"expected text; {FIX}"
            )
    return value


def check_text_fields(doc: Mapping[str, Any], fields: Sequence[str], doc_id: str) -> None:
    """required_text on each of `fields`, in order (the first bad one raises)."""
    for field in fields:
        required_text(doc, field, doc_id)
