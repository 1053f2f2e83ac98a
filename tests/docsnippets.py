"""Code blocks of the README that the tests run, so the README stays true."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def doc_snippet(name: str) -> str:
    """The ```python block just below ``<!-- test: name -->`` in README.md."""
    marker = re.compile(rf"<!-- test: {re.escape(name)} -->\s*```python\n(.*?)```", re.DOTALL)
    found = marker.search(README.read_text(encoding="utf-8"))
    if found is None:
        raise AssertionError(f"no `<!-- test: {name} -->` code block in README.md")
    return found.group(1)
