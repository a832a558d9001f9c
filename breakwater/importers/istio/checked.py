"""A converted piece, checked by the Breakwater model it becomes before it goes into the output.

Istio accepts things Breakwater refuses (a header named `host`, a retry
condition Envoy has no name for); checking each piece by itself lets the
importer leave out that one field, with Breakwater's own reason, and still
carry the rest of the document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from breakwater.importers.istio.ledger import Ledger
from breakwater.translators.documents import YamlPath


def checked(
    model: type[BaseModel], data: dict[str, Any], ledger: Ledger, path: YamlPath, instead: str
) -> dict[str, Any] | None:
    """`data` when `model` accepts it; otherwise None, and `path` is listed with the reason.

    Accepting marks nothing carried: the caller marks the fields it read, so
    that a field it did not read is still found by the ledger.
    """
    try:
        model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in first["loc"])
        ledger.left(
            path, f"Breakwater refuses it: {where + ': ' if where else ''}{message}", instead
        )
        return None
    return data


__all__ = ["checked"]
