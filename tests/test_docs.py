"""The docs teach with code that runs: every ```python block of every docs page and of the README.

The blocks of one page run in order in one namespace, in a temporary working
directory. When a python block is followed directly by a ```text block, that
block is the output the page promises, and it must match what the code prints.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]

# A fenced block: its language and body. Fences inside other blocks do not occur in these pages.
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)


def page_blocks(text: str) -> list[tuple[str, str | None]]:
    """(python source, expected output or None) for each python block, in order."""
    fences = [(m.group(1), m.group(2), m.start(), m.end()) for m in _FENCE.finditer(text)]
    blocks = []
    for i, (lang, body, _, end) in enumerate(fences):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(fences):
            next_lang, next_body, next_start, _ = fences[i + 1]
            if next_lang == "text" and text[end:next_start].strip() == "":
                expected = next_body
        blocks.append((body, expected))
    return blocks


def _normalize(output: str) -> str:
    return "\n".join(line.rstrip() for line in output.strip("\n").splitlines())


def test_the_docs_have_pages_with_code():
    names = {p.name for p in PAGES}
    for page in ("index.md", "engine.md", "modules.md", "gradcheck.md", "delta-to-autodiff.md", "api.md"):
        assert page in names
    assert len(page_blocks((ROOT / "docs" / "delta-to-autodiff.md").read_text(encoding="utf-8"))) >= 6


def test_page_blocks_pairs_code_with_the_output_right_after_it():
    text = (
        "```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
        "```python\nx = 2\n```\nprose\n```text\nnot output\n```\n"
    )
    assert page_blocks(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run_and_print_what_the_page_shows(page, tmp_path, monkeypatch, fast_path):
    # The pages show the default runtime (its fused node names, for one), hence fast_path.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYGRAD_NN_PROGRESS", "none")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, (source, expected) in enumerate(page_blocks(page.read_text(encoding="utf-8")), start=1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"{page.name}, python block {i}", "exec"), namespace)
        if expected is not None:
            assert _normalize(out.getvalue()) == _normalize(expected), f"{page.name}, python block {i}"
