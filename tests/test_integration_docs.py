"""Every Python snippet of docs/existing-logging.md is run by an integration test.

A snippet counts as run when its lines (imports aside, which live at the top of a test
module) appear, in order, in one test function, fixture helper or module-level
statement of ``tests/test_integration_*.py``; those tests then check what it does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "existing-logging.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippets() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == "python"]


def significant(lines: list[str]) -> list[str]:
    return [
        line.strip()
        for line in lines
        if line.strip() and not line.strip().startswith(("import ", "from "))
    ]


def statements_of_tests() -> list[list[str]]:
    """The lines of every top-level statement of every integration test module."""
    out = []
    for path in sorted(ROOT.glob("tests/test_integration_*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.parse(source).body:
            out.append(significant(lines[node.lineno - 1 : node.end_lineno]))
    return out


def contains_in_order(haystack: list[str], needles: list[str]) -> bool:
    remaining = iter(haystack)
    return all(any(line == needle for line in remaining) for needle in needles)


STATEMENTS = statements_of_tests()


@pytest.mark.parametrize("snippet", snippets(), ids=lambda body: body.strip().splitlines()[0][:40])
def test_each_snippet_is_run_by_a_test(snippet: str) -> None:
    wanted = significant(snippet.splitlines())
    assert wanted
    assert any(contains_in_order(statement, wanted) for statement in STATEMENTS), snippet


def test_the_page_has_the_snippets_it_promises() -> None:
    assert len(snippets()) >= 10
