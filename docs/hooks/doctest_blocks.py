"""MkDocs hook: show the doctest sessions of docstrings as code.

Docstrings in this package carry ``>>>`` examples outside any "Examples:"
section. Plain Markdown would read ``>>>`` as nested block quotes and
``[(4, 3), (4, 1)]`` as a reference link; this hook adds a Markdown
preprocessor (used by mkdocstrings for docstrings too) that fences each run
of doctest lines, up to the next blank line, as a ``pycon`` code block.
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

_FENCE = re.compile(r"^\s*(```|~~~)")
_PROMPT = re.compile(r"^(\s*)>>> ")


class _DoctestFences(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        in_fence = False
        in_session = False
        indent = ""
        for line in lines:
            if in_session:
                if line.strip():
                    out.append(line)
                    continue
                out.append(f"{indent}```")
                in_session = False
            if _FENCE.match(line):
                in_fence = not in_fence
            elif not in_fence and (m := _PROMPT.match(line)):
                indent = m.group(1)
                out.append(f"{indent}```pycon")
                in_session = True
            out.append(line)
        if in_session:
            out.append(f"{indent}```")
        return out


class DoctestFences(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # Markdown's name for the hook
        # Before fenced_code_block (priority 25), so the new fences are rendered as code.
        md.preprocessors.register(_DoctestFences(md), "doctest_fences", 30)


def on_config(config: Any) -> Any:
    config.markdown_extensions.append(DoctestFences())
    return config
