"""docs/reference/ says what the code says, and no documentation page links out of the repository.

Like the CRDs' check: the pages are generated and checked in, so that they read
on the code host too, and this fails the moment the code moves on without them
(`make docs-pages` rewrites them).
"""

from __future__ import annotations

from pathlib import Path

from breakwater.devtools.docs import check, pages
from breakwater.devtools.docs.links import problems


def test_the_reference_pages_are_current_and_every_link_stays_in_the_repository() -> None:
    assert check() == []


def test_every_command_operation_and_metric_is_on_its_page() -> None:
    generated = pages()
    assert "## `breakwater rollout`" in generated["cli.md"]
    assert "### `PUT /v1/routes/{route}/weights`" in generated["http-api.md"]
    assert "`breakwater_rollout_phase{rollout,phase}`" in generated["metrics.md"]
    assert "`spec.circuitBreaker.consecutiveErrors`" in generated["policies.md"]


def test_links_out_of_the_repository_are_found(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text(
        "[a](../../elsewhere/notes.md) [b](https://example.com/x) [c](missing.md)\n"
        "[d](https://www.envoyproxy.io/docs) `[e](https://example.com)`\n"
        "```\n[f](https://example.com)\n```\n"
    )
    found = problems(tmp_path, [page])
    assert len(found) == 3
    assert "outside the repository" in found[0]
    assert "PUBLIC_SITES" in found[1]
    assert "no such file" in found[2]
