"""The kit's leak audit: reference code is found whatever it is called and wherever it sits,
formulas in words are not code, and small statements prove nothing."""

from __future__ import annotations

import ast
import random
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest

from grader.exercises import PROJECT_ROOT
from grader.release.audit import MIN_BODY_NODES, Secrets, function_secrets, secrets_of
from grader.release.audit import find_leaks as audit

SOLUTIONS = sorted((PROJECT_ROOT / "solutions").glob("exercise_*.py"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with the real reference solutions and hidden tests."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT_ROOT / "solutions", root / "solutions")
    shutil.copytree(PROJECT_ROOT / "grader" / "hidden", root / "grader" / "hidden")
    return root


_SECRETS: dict[Path, Secrets] = {}


def find_leaks(kit: Path, project: Path) -> list[str]:
    """The audit, with the project's secrets worked out once for the module (~1 s each)."""
    if project not in _SECRETS:
        _SECRETS[project] = secrets_of(project)
    return audit(kit, project, _SECRETS[project])


class _Rename(ast.NodeTransformer):
    """Gives every identifier a fresh random name (the same name for the same identifier)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.names: dict[str, str] = {}

    def fresh(self, name: str) -> str:
        if name not in self.names:
            self.names[name] = f"v{self.rng.randrange(10**6)}_{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node: ast.Name) -> ast.Name:
        keep = node.id in ("torch", "math", "sympy", "reversed", "range", "len", "abs")
        return ast.Name(id=node.id if keep else self.fresh(node.id), ctx=node.ctx)

    def visit_arg(self, node: ast.arg) -> ast.arg:
        return ast.arg(arg=self.fresh(node.arg))


def _reference_functions() -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for path in SOLUTIONS:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                found.append((f"{path.name}:{node.name}", node))
    return found


def _disguised(function: ast.FunctionDef, seed: int) -> str:
    """The function's body, every name changed, docstring and annotations dropped, laid out
    anew and wrapped as a method of a class inside another module-level statement block."""
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and
                                              isinstance(s.value, ast.Constant))]  # fmt: skip
    renamer = _Rename(seed)
    renamed = [renamer.visit(ast.parse(ast.unparse(s)).body[0]) for s in body]
    code = "\n".join(ast.unparse(s) for s in renamed)
    return (
        "import torch\nimport math\n\n\nclass Helper:\n    '''A helpful layer.'''\n\n"
        "    def method(self, *inputs):  # nothing to see here\n"
        "        unrelated = len(inputs)\n" + textwrap.indent(code, " " * 8) + "\n"
    )


def _kit(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    kit = tmp_path / "kit"
    for name, content in files.items():
        target = kit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return kit


@pytest.mark.parametrize("name_and_node", _reference_functions(), ids=lambda item: item[0])
def test_every_reference_function_is_found_renamed_and_wrapped(name_and_node, project, tmp_path):
    name, node = name_and_node
    secrets = function_secrets(Path(PROJECT_ROOT / "solutions" / name.split(":")[0]), "ref")
    mine = [s for s in secrets if s.label.endswith(f":{node.name}")]
    if not mine:
        pytest.skip(f"{name}: body below {MIN_BODY_NODES} syntax nodes proves nothing")
    kit = _kit(tmp_path, {"grader/testing/helper.py": _disguised(node, seed=len(name))})
    leaks = find_leaks(kit, project)
    assert any(f"reference {name}" in leak for leak in leaks), leaks


def test_the_old_affine_coupling_layer_is_caught(project, tmp_path):
    """The kit leak of issue 11: a coupling layer whose methods hold the reference lines."""
    layer = """
class Coupling:
    def forward(self, a):
        h = a.shape[-1] // 2
        p, q = a[..., :h], a[..., h:]
        s, t = self.net(p)
        q2 = q * torch.exp(s) + t
        return torch.cat([p, q2], dim=-1), s.sum(dim=-1)
"""
    leaks = find_leaks(_kit(tmp_path, {"grader/testing/layers.py": layer}), project)
    assert leaks == [
        "grader/testing/layers.py: contains code of reference "
        "exercise_03_affine_coupling.py:affine_coupling_forward"
    ]


def test_a_copy_pasted_at_module_level_is_caught(project, tmp_path):
    script = "import torch\nfor layer in stack:\n    x, ld = layer.forward(x)\n"
    script += "    total = total + ld\nprint(total)\n"
    leaks = find_leaks(_kit(tmp_path, {"notes/scratch.py": script}), project)
    assert leaks == [
        "notes/scratch.py: contains code of reference exercise_05_composition.py:compose_forward"
    ]


def test_python_inside_markdown_and_archives_is_compared_as_code(project, tmp_path):
    (node,) = [n for name, n in _reference_functions() if name.endswith(":compose_inverse")]
    code = textwrap.dedent(_disguised(node, seed=7))
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("pkg/helper.py", code)
    kit = _kit(
        tmp_path,
        {
            "docs/guide.md": f"# Guide\n\n```python\n{code}```\n",
            "data/bundle.zip": archive.read_bytes(),
        },
    )
    leaks = find_leaks(kit, project)
    assert any(leak.startswith("docs/guide.md (code block 1)") for leak in leaks), leaks
    assert any(leak.startswith("data/bundle.zip!pkg/helper.py") for leak in leaks), leaks


def test_formulas_in_words_and_small_statements_are_no_leak(project, tmp_path):
    hints = """\
soft_clamp:
  nudge: Which bounded function has slope 1 at 0?
  idea: tanh is bounded by 1; scale its input and output by the bound.
  formula: soft_clamp(raw, bound) = bound * tanh(raw / bound)
affine_coupling_inverse:
  formula: z_b = (x_b - t) * exp(-log_s), log|det dz/dx| = -sum(log_s)
compose_forward:
  formula: total = total + log_det for every layer, in order
"""
    small = (
        "def f(x):\n    return x\n\n\ndef g(z):\n    total = z.new_zeros(z.shape[0])\n"
        "    return total\n"
    )
    kit = _kit(tmp_path, {"exercises/hints/exercise-03.yaml": hints, "grader/util.py": small})
    assert find_leaks(kit, project) == []


def test_hidden_test_source_is_found(project, tmp_path):
    hidden = (PROJECT_ROOT / "grader" / "hidden" / "test_exercise_03.py").read_text()
    kit = _kit(tmp_path, {"notes.txt": hidden})
    leaks = find_leaks(kit, project)
    assert "notes.txt: contains hidden test file test_exercise_03.py" in leaks
