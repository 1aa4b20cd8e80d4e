"""The one model-reference parser: what it accepts, and its one-line refusals."""

from __future__ import annotations

import pytest

from nbmlops.references import MAX_VERSION, Reference, parse_reference


@pytest.mark.parametrize(("text", "expected"), [
    ("churn", Reference("churn")),
    (" churn/3 ", Reference("churn", version=3)),
    ("churn@production", Reference("churn", alias="production")),
    (f"churn/{MAX_VERSION}", Reference("churn", version=MAX_VERSION)),
])
def test_references_parse(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected
    assert parse_reference(str(expected)) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("", "write NAME, NAME/VERSION or NAME@ALIAS"),
    ("a@b/c", "write NAME, NAME/VERSION or NAME@ALIAS"),
    ("churn/zero", "a version is a number from 1"),
    ("churn/0", "a version is a number from 1"),
    ("churn/\u0663", "in the digits 0-9"),
    (f"churn/{MAX_VERSION + 1}", f"from 1 to {MAX_VERSION}"),
    ("churn@1st", "alias '1st': start with a letter"),
    ("bad name", "model name 'bad name'"),
    ("x" * 5000, "model name 'xxxx"),
])
def test_bad_references_are_one_line_value_errors(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert len(message) < 200
