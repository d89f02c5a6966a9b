"""The engine stays pure: skyguard/geofence imports no web, no database, no layer above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GEOFENCE = Path(__file__).resolve().parents[2] / "skyguard" / "geofence"
FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "geoalchemy2",
    "psycopg",
    "skyguard.store",
    "skyguard.api",
    "skyguard.ingest",
    "skyguard.alerts",
)


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports, relative imports resolved against its package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(source: str, package: str = "skyguard.geofence") -> list[str]:
    """The imports of a source file that break the layering."""
    return sorted(
        module
        for module in imported_modules(source, package)
        if any(module == bad or module.startswith(f"{bad}.") for bad in FORBIDDEN)
    )


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import fastapi", ["fastapi"]),
        ("from sqlalchemy.orm import Session", ["sqlalchemy.orm", "sqlalchemy.orm.Session"]),
        ("from skyguard import store", ["skyguard.store"]),
        ("from .. import api", ["skyguard.api"]),
        (
            "from ..alerts.webhooks import send",
            ["skyguard.alerts.webhooks", "skyguard.alerts.webhooks.send"],
        ),
        ("def f():\n    import psycopg\n", ["psycopg"]),
        ("import shapely\nfrom skyguard.errors import InvalidGeometry\nfrom . import shapes", []),
    ],
)
def test_the_checker_sees_forbidden_imports(source, bad):
    assert forbidden_imports(source) == bad


def test_geofence_imports_nothing_of_web_or_storage():
    files = sorted(GEOFENCE.rglob("*.py"))
    assert GEOFENCE / "shapes.py" in files
    offenders = {
        str(path.relative_to(GEOFENCE)): bad
        for path in files
        if (bad := forbidden_imports(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
