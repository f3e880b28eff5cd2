"""A leak check run on every kit before it is declared built.

It looks in every file of the kit for (1) reference code — the body of any function in
`solutions/` — and (2) hidden-test source — the text of a hidden test file or the body
of any function in one.

Python code is compared as *normalised syntax trees*: identifier names (variables,
arguments, function and class names), docstrings, comments, type annotations and layout
are ignored; attribute names, keyword names, constants and the shape of every expression
are kept. A reference body is cut into statement sequences — the whole body, and every
shortest run of consecutive statements (in any block of it: the body, a loop's body, ...)
that is at least `MIN_RUN_NODES` syntax nodes big — and each is looked for as consecutive
statements of any block of any Python file of the kit: a module's top level, a function or
method body, a loop or branch inside one. So a renamed, reformatted copy is found, also
when it is wrapped in another function, split over a class's methods or pasted at module
level, and also when only a telling part of a body (an inverse formula and its log-det) was
copied. The sizes keep statements like `return x` or `total = z.new_zeros(z.shape[0])`
from proving anything.

Files that are not Python (hint and quiz YAML, Markdown, the `.npz` vector manifests) hold
formulas in words, which are allowed; for them the check is on plain text with whitespace
removed: the literal source of a reference body, or of a hidden test, must not appear.
Python blocks inside Markdown (```python fences) and `.py` members of archives get the
syntax-tree comparison.
"""

from __future__ import annotations

import ast
import copy
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MIN_BODY_CHARS = 24  # plain-text check: shorter bodies (e.g. `return x`) prove nothing
MIN_BODY_NODES = 8  # a whole body this big counts (a one-line formula such as a soft clamp)
MIN_RUN_NODES = 16  # a run of statements inside a reference body counts from this size on
# Hidden tests share idioms with the trusted helpers that ship (drawing a seed, making an
# input), so a run of theirs must be bigger to prove a copy.
HIDDEN_RUN_NODES = 40
FENCE = re.compile(r"```(?:python|py)\s*\n(.*?)```", re.DOTALL)


# ---------------------------------------------------------------- normalised syntax


class _Normaliser(ast.NodeTransformer):
    """Renames every identifier to `_`, drops docstrings and annotations."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(id="_", ctx=ast.Load())

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(arg="_")

    def visit_Global(self, node: ast.Global) -> ast.AST:
        return ast.Global(names=["_"] * len(node.names))

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        return ast.Nonlocal(names=["_"] * len(node.names))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if node.value is None:
            return None  # a bare declaration does nothing
        return self.visit(ast.Assign(targets=[node.target], value=node.value))

    def _definition(self, node: ast.AST) -> ast.AST:
        node.name = "_"  # type: ignore[attr-defined]
        if hasattr(node, "returns"):
            node.returns = None  # type: ignore[attr-defined]
        node.body = _without_docstring(node.body)  # type: ignore[attr-defined]
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return body[1:] or [ast.Pass()]
    return body


@dataclass(frozen=True)
class Statement:
    """One statement, normalised: its canonical text and its size in syntax nodes."""

    text: str
    size: int


def normalise(statement: ast.stmt) -> Statement | None:
    """The statement with names, docstrings and annotations normalised away (None if it
    normalises to nothing, e.g. a bare annotation)."""
    tree = _Normaliser().visit(copy.deepcopy(statement))
    if tree is None:
        return None
    nodes = sum(1 for n in ast.walk(tree) if not isinstance(n, ast.expr_context))
    return Statement(ast.dump(tree, annotate_fields=False, include_attributes=False), nodes)


def _blocks(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list in `tree`: module and class bodies, function bodies, the bodies
    and else-branches of loops, ifs, withs and trys, exception handlers, match cases."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield _without_docstring(block) if name == "body" else block
        for handler in getattr(node, "handlers", []) or []:
            yield handler.body


def normalised_blocks(tree: ast.AST) -> list[tuple[Statement, ...]]:
    """`_blocks(tree)` with every statement normalised."""
    blocks = []
    for block in _blocks(tree):
        statements = tuple(s for s in (normalise(stmt) for stmt in block) if s is not None)
        if statements:
            blocks.append(statements)
    return blocks


# ---------------------------------------------------------------- what must not leak


@dataclass(frozen=True)
class Secret:
    """A statement sequence (and, for the plain-text check, source text) that must not
    appear in a kit."""

    label: str
    statements: tuple[str, ...]


def _runs(block: tuple[Statement, ...], minimum: int) -> Iterator[tuple[str, ...]]:
    """The shortest runs of consecutive statements of `block` of at least `minimum` nodes
    (a longer run that is copied contains one of them)."""
    for start in range(len(block)):
        size = 0
        for end in range(start, len(block)):
            size += block[end].size
            if size >= minimum:
                yield tuple(s.text for s in block[start : end + 1])
                break


def function_secrets(path: Path, label: str, min_run: int = MIN_RUN_NODES) -> list[Secret]:
    """The statement sequences of every function body in the file at `path`: whole bodies
    of at least MIN_BODY_NODES, and runs of at least `min_run` nodes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    secrets: list[Secret] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        where = f"{label} {path.name}:{node.name}"
        body = tuple(s for s in (normalise(stmt) for stmt in _without_docstring(node.body)) if s)
        if sum(s.size for s in body) >= MIN_BODY_NODES:
            secrets.append(Secret(where, tuple(s.text for s in body)))
        for block in normalised_blocks(ast.Module(body=node.body, type_ignores=[])):
            secrets.extend(Secret(where, run) for run in _runs(block, min_run))
    return list(dict.fromkeys(secrets))


def function_bodies(path: Path) -> dict[str, str]:
    """Qualified name -> whitespace-free source of the function's body (no docstring), for
    the plain-text check of files that are not Python."""
    source = path.read_text(encoding="utf-8")
    bodies = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            statements = _without_docstring(node.body)
            text = "".join(ast.get_source_segment(source, s) or "" for s in statements)
            body = _squash(text)
            if len(body) >= MIN_BODY_CHARS:
                bodies[f"{path.name}:{node.name}"] = body
    return bodies


@dataclass(frozen=True)
class Secrets:
    """Everything that must not be in a kit."""

    code: tuple[Secret, ...]  # statement sequences, for Python code
    text: dict[str, str]  # label -> whitespace-free text, for everything else


def secrets_of(project_root: Path) -> Secrets:
    code: list[Secret] = []
    text: dict[str, str] = {}
    for path in sorted((project_root / "solutions").glob("*.py")):
        code += function_secrets(path, "reference")
        text.update({f"reference {k}": v for k, v in function_bodies(path).items()})
    for path in sorted((project_root / "grader" / "hidden").glob("test_*.py")):
        code += function_secrets(path, "hidden test", HIDDEN_RUN_NODES)
        text[f"hidden test file {path.name}"] = _squash(path.read_text(encoding="utf-8"))
        text.update({f"hidden test {k}": v for k, v in function_bodies(path).items()})
    return Secrets(tuple(code), text)


# ---------------------------------------------------------------- looking for them


class _Index:
    """Where each normalised statement occurs in the Python code of a kit."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, tuple[str, ...]]] = []
        self.at: dict[str, list[tuple[int, int]]] = {}

    def add(self, where: str, source: str) -> None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return  # not Python after all (a fence of pseudo-code): the text check covers it
        for block in normalised_blocks(tree):
            number = len(self.blocks)
            texts = tuple(s.text for s in block)
            self.blocks.append((where, texts))
            for position, text in enumerate(texts):
                self.at.setdefault(text, []).append((number, position))

    def find(self, statements: tuple[str, ...]) -> list[str]:
        """Every place (file, and member or code block) where `statements` occur in a row."""
        places = []
        for number, position in self.at.get(statements[0], []):
            where, block = self.blocks[number]
            if block[position : position + len(statements)] == statements:
                places.append(where)
        return places


def find_leaks(kit: Path, project_root: Path, secrets: Secrets | None = None) -> list[str]:
    """`kit/file: contains <secret>` for every leak found (empty: clean). `secrets` defaults
    to `secrets_of(project_root)` (pass it to audit several kits against one project)."""
    secrets = secrets or secrets_of(project_root)
    index = _Index()
    leaks = []
    for path in sorted(p for p in kit.rglob("*") if p.is_file()):
        name = str(path.relative_to(kit))
        python, text = _contents(path)
        for where, source in python:
            index.add(f"{name}{where}", source)
        squashed = _squash(text)
        leaks += [f"{name}: contains {label}" for label, s in secrets.text.items() if s in squashed]
    for secret in secrets.code:
        leaks += [
            f"{where}: contains code of {secret.label}" for where in index.find(secret.statements)
        ]
    return sorted(dict.fromkeys(leaks))


def _contents(path: Path) -> tuple[list[tuple[str, str]], str]:
    """(Python sources in the file, with where they sit; its other text). A `.py` file is
    Python; an archive is read member by member; Markdown gives its ```python blocks."""
    if zipfile.is_zipfile(path):
        python, texts = [], []
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                data = archive.read(member).decode("utf-8", "replace")
                if member.endswith(".py"):
                    python.append((f"!{member}", data))
                else:
                    texts.append(data)
        return python, "".join(texts)
    data = path.read_bytes().decode("utf-8", "replace")
    if path.suffix == ".py":
        return [("", data)], data  # the text check too: code hidden in a string literal
    if path.suffix in (".md", ".rst", ".txt"):
        blocks = [(f" (code block {i + 1})", b) for i, b in enumerate(FENCE.findall(data))]
        return blocks, data
    return [], data


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)
