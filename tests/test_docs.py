"""The README stays true to the code."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from docsnippets import doc_snippet

from aiokv import AsyncClient, KVSettings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_configuration_table_lists_every_setting() -> None:
    for name, field in KVSettings.model_fields.items():
        row = f"| `{name}` | `{field.validation_alias}` |"
        assert row in README, f"README's configuration table lacks {row}"


async def test_readme_patterns_block_runs(kv: AsyncClient) -> None:
    source = doc_snippet("patterns")
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, {"kv": kv, "__name__": "readme"})
    if inspect.isawaitable(result):
        await result
