"""The code in the docs' pages: ``>>>`` sessions run as doctests, other Python blocks parse."""

import ast
import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
SESSIONS = [p for p in PAGES if ">>> " in p.read_text()]


def _name(path: Path) -> str:
    return str(path.relative_to(DOCS))


def test_the_docs_have_sessions_to_run():
    assert PAGES and SESSIONS


@pytest.mark.parametrize("page", SESSIONS, ids=_name)
def test_page_sessions_run(page):
    text = page.read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, _name(page), str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} of {runner.tries} examples failed"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_page_python_blocks_parse(page):
    for code in re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M):
        ast.parse(code)
