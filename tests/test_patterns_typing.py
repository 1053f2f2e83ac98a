"""mypy --strict accepts typed use of @cached and the pattern APIs, and rejects misuse.

Runs mypy in a subprocess (a few seconds, so marked slow); skipped where mypy is not installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "tests" / "typecheck" / "cached_usage.py"

# Each line ending in "# E: <code>" must get that mypy error; unmarked lines must get none.
MISUSE = textwrap.dedent(
    """
    from pydantic import BaseModel

    from aiokv import AsyncClient, cached

    kv = AsyncClient()


    class Product(BaseModel):
        id: int


    @cached(kv, ttl=60, key="product:{product_id}")
    async def get_product(product_id: int) -> Product:
        return Product(id=product_id)


    async def misuse() -> None:
        await get_product("1")  # E: arg-type
        await get_product(1, fresh=True)  # E: call-arg
        print((await get_product(1)).name)  # E: attr-defined
        text: str = await get_product(1)  # E: assignment
        await kv.get_or_set("k", lambda: 1, type=str)  # E: arg-type
    """
)

_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


@pytest.mark.slow
def test_mypy_strict_on_a_user_module(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            str(USAGE),
            str(misuse),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    found: dict[str, set[tuple[int, str]]] = {"usage": set(), "misuse": set()}
    for line in result.stdout.splitlines():
        match = _ERROR.match(line)
        if match is None:
            continue
        which = "misuse" if match["file"].endswith("misuse.py") else "usage"
        found[which].add((int(match["line"]), match["code"]))
    assert found["usage"] == set(), result.stdout
    expected = {
        (number, line.rsplit("# E: ", 1)[1])
        for number, line in enumerate(MISUSE.splitlines(), start=1)
        if "# E: " in line
    }
    assert expected <= found["misuse"], result.stdout + result.stderr
    marked = {number for number, _ in expected}
    assert {number for number, _ in found["misuse"]} == marked, result.stdout
