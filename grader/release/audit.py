"""A leak check run on every kit before it is declared built.

It looks, in every file of the kit, for (1) the source of any reference function body
from `solutions/` and (2) the source of any hidden test file or hidden test function
body. Bodies are compared as whitespace-normalised source text of their statements
(docstrings removed), so a copied function is found whatever its name or indentation.
"""

from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

MIN_BODY_CHARS = 24  # shorter bodies (e.g. `return x`) prove nothing either way


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text)


def function_bodies(path: Path) -> dict[str, str]:
    """Qualified name -> normalised source of the function's body (no docstring)."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    bodies = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            statements = node.body
            if (
                statements
                and isinstance(statements[0], ast.Expr)
                and isinstance(statements[0].value, ast.Constant)
                and isinstance(statements[0].value.value, str)
            ):
                statements = statements[1:]
            text = "".join(ast.get_source_segment(source, s) or "" for s in statements)
            body = _normalise(text)
            if len(body) >= MIN_BODY_CHARS:
                bodies[f"{path.name}:{node.name}"] = body
    return bodies


def secrets_of(project_root: Path) -> dict[str, str]:
    """Everything that must not be in a kit: label -> normalised text."""
    secrets: dict[str, str] = {}
    for path in sorted((project_root / "solutions").glob("*.py")):
        secrets.update({f"reference {k}": v for k, v in function_bodies(path).items()})
    for path in sorted((project_root / "grader" / "hidden").glob("test_*.py")):
        secrets[f"hidden test file {path.name}"] = _normalise(path.read_text(encoding="utf-8"))
        secrets.update({f"hidden test {k}": v for k, v in function_bodies(path).items()})
    return secrets


def find_leaks(kit: Path, project_root: Path) -> list[str]:
    """`kit/file: contains <secret>` for every leak found (empty: clean)."""
    secrets = secrets_of(project_root)
    leaks = []
    for path in sorted(p for p in kit.rglob("*") if p.is_file()):
        text = _normalise(_readable(path))
        for label, secret in secrets.items():
            if secret and secret in text:
                leaks.append(f"{path.relative_to(kit)}: contains {label}")
    return leaks


def _readable(path: Path) -> str:
    """The file's text; for archives (.npz, .zip) the text of every member."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return "".join(
                archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    return path.read_bytes().decode("utf-8", "replace")
