"""The one check of a located policy error: on the field, on the line, saying what it must."""

from __future__ import annotations

from collections.abc import Sequence

from breakwater.translators.errors import PolicyError


def assert_located(
    errors: Sequence[PolicyError], line: int, field: str | None, words: Sequence[str]
) -> PolicyError:
    """The first error on `field` (any error when None): on `line`, holding every one of
    `words`, and printed as `file:line: ...`. Returned for further checks."""
    assert errors, "expected an error"
    matching = [e for e in errors if e.field == field] if field else list(errors)
    assert matching, f"no error on {field}: {[str(e) for e in errors]}"
    error = matching[0]
    assert error.line == line, str(error)
    for word in words:
        assert word in str(error), str(error)
    assert str(error).startswith(f"{error.file}:{line}: "), str(error)
    return error
