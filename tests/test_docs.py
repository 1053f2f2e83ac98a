"""The README stays true to the code."""

from __future__ import annotations

from pathlib import Path

from aiokv import KVSettings

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_configuration_table_lists_every_setting() -> None:
    for name, field in KVSettings.model_fields.items():
        row = f"| `{name}` | `{field.validation_alias}` |"
        assert row in README, f"README's configuration table lacks {row}"
