"""docs/patterns.md stays true: its Python snippets run, top to bottom, on both drivers."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from aiokv import AsyncClient

DOC = Path(__file__).resolve().parents[1] / "docs" / "patterns.md"
_BLOCK = re.compile(r"(?P<skip><!-- not run[^>]*-->\n)?```python\n(?P<source>.*?)```", re.S)


def snippets() -> list[tuple[int, str]]:
    """(first line number, source) of each block to run."""
    text = DOC.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        if match["skip"] is None:
            found.append((text.count("\n", 0, match.start("source")) + 1, match["source"]))
    return found


def test_the_doc_has_snippets() -> None:
    assert len(snippets()) >= 10


@pytest.mark.one_slot
async def test_snippets_run(kv: AsyncClient, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"kv": kv, "__name__": "patterns_md"}
    for line, source in snippets():
        # Padded so that a traceback points at the line in docs/patterns.md.
        code = compile(
            "\n" * (line - 1) + source, str(DOC), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(code, namespace)
        if inspect.isawaitable(result):
            await result
    assert "held by another owner" in capsys.readouterr().out
