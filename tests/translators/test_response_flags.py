"""The response flag table of docs/how-to/telemetry.md says what `response_flags.RESPONSE_FLAGS` says, row for row,
and every field a flag names is a field of ResiliencePolicy or of a route rule."""

from __future__ import annotations

import re
from pathlib import Path

from breakwater.translators.explain.response_flags import RESPONSE_FLAGS, ResponseFlag
from breakwater.translators.explain.settings import _fields
from breakwater.translators.model import ResilienceSpec
from breakwater.translators.policyset import FieldPath
from breakwater.translators.route_model import RouteRule

PAGE = Path(__file__).parents[2] / "docs" / "how-to" / "telemetry.md"
FLAG_ROW = re.compile(r"^\| `([A-Z]+)` \|")


def _camel(path: FieldPath) -> str:
    def one(part: str) -> str:
        head, *rest = part.split("_")
        return head + "".join(p.title() for p in rest)

    return ".".join(one(p) for p in path)


def page_row(flag: ResponseFlag) -> str:
    paths = (*flag.fields, *flag.rule_fields)
    fields = ", ".join(f"`{_camel(path)}`" for path in paths) or "—"
    where = {"cluster": "`upstream_cluster`", "route": "`route_name`", None: "—"}[flag.level]
    return f"| `{flag.code}` | {flag.envoy_name} | {flag.meaning} | {fields} | {where} |"


def test_the_page_s_table_is_the_module_s_table() -> None:
    rows = [line for line in PAGE.read_text().splitlines() if FLAG_ROW.match(line)]
    assert rows == [page_row(flag) for flag in RESPONSE_FLAGS]


def test_each_flag_names_fields_that_exist_and_where_to_read_them() -> None:
    known = set(_fields(ResilienceSpec))
    rule_known = set(_fields(RouteRule))
    for flag in RESPONSE_FLAGS:
        assert all(path in known for path in flag.fields), flag.code
        assert all(path in rule_known for path in flag.rule_fields), flag.code
        assert (flag.level is None) == (not flag.fields and not flag.rule_fields), flag.code
    codes = [flag.code for flag in RESPONSE_FLAGS]
    assert len(codes) == len(set(codes))
