"""`grade release`: the student kit holds no answers, and `grade` still works inside it."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from classgen import EXERCISE, SOURCES
from click.testing import CliRunner

from grader.exercises import EXERCISE_IDS, PROJECT_ROOT, get_exercise
from grader.instructor_cli import release
from grader.quiz.attempt_file import load_attempt_file
from grader.quiz.loader import load_quiz, load_quiz_file
from grader.quiz.model import Quiz
from grader.quiz.shown import prepare_attempt_questions, shown_questions
from grader.quiz.shuffle import attempt_seed
from grader.quiz.take import score_attempt
from grader.quiz.variants import draw_params
from grader.release.audit import find_leaks
from grader.release.quizzes import release_quizzes
from tests.wrong.mutants import materialize


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "kit"
    result = CliRunner().invoke(release, [str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "leak check" in result.output
    return out


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _bodies(path: Path) -> list[str]:
    """Source of every function body in `path`, docstrings dropped, whitespace removed."""
    source = path.read_text()
    bodies = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            bodies.append(_squash("".join(ast.get_source_segment(source, s) for s in body)))
    return [b for b in bodies if len(b) > 15]


def _kit_text(kit: Path) -> str:
    parts = []
    for path in kit.rglob("*"):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        elif path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return _squash("\n".join(parts))


def test_kit_has_no_reference_code_and_no_hidden_tests(kit):
    assert not (kit / "solutions").exists()
    assert not list(kit.rglob("test_exercise_*.py")) and not (kit / "grader" / "hidden").exists()
    assert (kit / "exercises" / EXERCISE.filename).read_text() == SOURCES["stub"]
    text = _kit_text(kit)
    secrets = [b for p in (PROJECT_ROOT / "solutions").glob("exercise_*.py") for b in _bodies(p)]
    secrets += [b for p in (PROJECT_ROOT / "grader/hidden").glob("test_*.py") for b in _bodies(p)]
    assert secrets, "nothing to look for"
    leaked = [secret[:60] for secret in secrets if secret in text]
    assert leaked == []
    assert find_leaks(kit, PROJECT_ROOT) == []  # the normalised syntax-tree comparison too


def test_kit_ships_quiz_solver_names_but_no_solver_code(kit):
    from grader.quiz.solvers import SOLVERS

    text = (kit / "grader" / "quiz" / "solvers.py").read_text()
    assert "solutions" not in text and "math.exp" not in text and "def coupling" not in text
    namespace: dict[str, object] = {}
    exec(compile(text, "solvers.py", "exec"), namespace)
    assert sorted(namespace["SOLVERS"]) == sorted(SOLVERS)


def test_vectors_load_without_pickle(kit):
    import numpy as np

    files = sorted((kit / "grader" / "release" / "vectors").glob("*.npz"))
    assert [f.stem for f in files] == list(EXERCISE_IDS)
    for vectors in files:
        with np.load(vectors, allow_pickle=False) as data:
            manifest = json.loads(data["__manifest__"].tobytes())
        assert manifest["exercise"] == vectors.stem
        assert sum(t["public"] for t in manifest["tests"]) >= 5, vectors.stem


def _json_from_kit(kit: Path, script: str, folder: Path, *extra: str) -> dict:
    """Run `script` (Python, given `folder` and `extra` as argv[1:]) with the kit's grader;
    the JSON object it prints last."""
    env = {**os.environ, "PYTHONPATH": str(kit)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), *extra],
        cwd=kit, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


GRADE_IN_KIT = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from grader.grading import grade_exercise\n"
    "root = Path(sys.argv[1])\n"
    "out = {}\n"
    "for run in sys.argv[2:]:\n"
    "    exercise, folder = run.split('/')\n"
    "    r = grade_exercise(exercise, root / folder, call_timeout=5)\n"
    "    failed = {t.name: t.output for t in r.tests if t.status != 'passed'}\n"
    "    out[run] = {'failed': failed, 'names': [t.name for t in r.tests],\n"
    "                'notes': list(r.notes)}\n"
    "print(json.dumps(out))\n"
)


def _grade_in_kit(kit: Path, folder: Path, *runs: str) -> dict[str, dict]:
    """Grade each 'exercise-NN/<subfolder of folder>' with the kit's public checks;
    -> {run: {'failed': {test: output}, 'names': [public tests], 'notes': [...]}}."""
    return _json_from_kit(kit, GRADE_IN_KIT, folder, *runs)


SLIPS = (
    "detached_log_det",
    "output_buffer_without_device",
    "conditioner_output_clamped_in_place",
)


def test_grade_runs_inside_the_kit(kit, tmp_path):
    for kind in ("correct", "wrong_sign"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / EXERCISE.filename).write_text(SOURCES[kind])
    for slip in SLIPS:  # the gradient, device and watch checks replay in the kit too
        materialize(EXERCISE.id, slip, tmp_path / slip)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import grader\n"
        "assert Path(grader.__file__).resolve().is_relative_to(Path.cwd().resolve())\n"
        "from grader.grading import grade_exercise\n"
        "out = {}\n"
        "kinds = sys.argv[2].split(',')\n"
        "for name, folder in [('stub', 'exercises'), *[(k, sys.argv[1] + '/' + k) "
        "for k in kinds]]:\n"
        "    r = grade_exercise('exercise-03', Path(folder), call_timeout=5)\n"
        "    out[name] = {'score': r.score, 'max': r.max_score, 'notes': r.notes,\n"
        "                 'failed': [t.name for t in r.tests if t.status != 'passed']}\n"
        "print(json.dumps(out))\n"
    )
    results = _json_from_kit(kit, script, tmp_path, ",".join(("correct", "wrong_sign", *SLIPS)))
    stub, correct, wrong = results["stub"], results["correct"], results["wrong_sign"]
    assert stub["score"] == 0 and correct["score"] == correct["max"] > 0
    assert 0 < wrong["score"] < wrong["max"] and "inverse_matches_reference" in wrong["failed"]
    assert "soft_clamp" not in wrong["failed"]
    assert "Your instructor grades 10 tests (10 points)" in correct["notes"][0]
    assert not any("Graded by your instructor only" in note for note in correct["notes"])
    assert results["detached_log_det"]["failed"] == ["gradients"]
    assert results["output_buffer_without_device"]["failed"] == ["structure"]
    assert results["conditioner_output_clamped_in_place"]["failed"] == ["structure"]


def test_kit_checks_planar_and_multiscale_answers(kit, tmp_path):
    """In the kit, the references of exercises 06 and 07 pass every public check (0-dim
    results such as planar_is_invertible's bool keep their shape), while a dense slogdet is
    refused by the watched inputs, an odd size that raises the wrong error type fails, and
    a detached log-det and a log-det made without device= lose their gradient and structure
    checks, as in the hidden tests."""
    for name in ("exercise-06", "exercise-07"):
        filename = get_exercise(name).filename
        (tmp_path / "reference").mkdir(exist_ok=True)
        shutil.copy(PROJECT_ROOT / "solutions" / filename, tmp_path / "reference" / filename)
    materialize("exercise-06", "dense_slogdet", tmp_path / "dense")
    materialize("exercise-07", "odd_size_unchecked", tmp_path / "odd")
    materialize("exercise-06", "detached_log_det", tmp_path / "detached")
    materialize("exercise-07", "squeeze_log_det_without_device", tmp_path / "device")
    graded = _grade_in_kit(
        kit,
        tmp_path,
        *("exercise-06/reference", "exercise-06/dense", "exercise-06/detached"),
        *("exercise-07/reference", "exercise-07/odd", "exercise-07/device"),
    )
    failed = {run: result["failed"] for run, result in graded.items()}
    assert failed["exercise-06/reference"] == {} and failed["exercise-07/reference"] == {}
    assert sorted(failed["exercise-06/dense"]) == ["forward_cost"]
    assert "DenseJacobian: torch.outer" in failed["exercise-06/dense"]["forward_cost"]
    assert sorted(failed["exercise-07/odd"]) == ["sizes_that_do_not_fit"]
    assert (
        "these inputs must raise ValueError" in failed["exercise-07/odd"]["sizes_that_do_not_fit"]
    )
    assert sorted(failed["exercise-06/detached"]) == ["gradients"]
    assert "it was detached" in failed["exercise-06/detached"]["gradients"]
    assert sorted(failed["exercise-07/device"]) == ["structure"]
    assert "device=x.device" in failed["exercise-07/device"]["structure"]


def test_kit_enforces_which_direction_of_exercise_08_is_parallel(kit, tmp_path):
    """In the kit, exercise-08's reference passes every public check (all 10 are public),
    and a MAF density computed in a loop, right in value, fails only the call-count check:
    the recorded conditioner carries its call limit into the kit."""
    filename = get_exercise("exercise-08").filename
    (tmp_path / "reference").mkdir()
    shutil.copy(PROJECT_ROOT / "solutions" / filename, tmp_path / "reference" / filename)
    materialize("exercise-08", "maf_density_loop", tmp_path / "loop")
    results = _grade_in_kit(kit, tmp_path, "exercise-08/reference", "exercise-08/loop")
    reference = results["exercise-08/reference"]
    assert len(reference["names"]) == 10 and reference["failed"] == {}
    failed = results["exercise-08/loop"]["failed"]
    assert sorted(failed) == ["which_direction_is_parallel"]
    assert (
        "ConditionerCallLimit: the conditioner was called a 2nd time"
        in (failed["which_direction_is_parallel"])
    )


def test_kit_checks_the_flow_training_exercise(kit, tmp_path):
    """In the kit, exercise-09's reference passes every public check; the training test,
    graded against a threshold, is named as graded by the instructor only; an ELBO without
    the flow's log-dets fails the recorded ELBO values and nothing unrelated."""
    filename = get_exercise("exercise-09").filename
    (tmp_path / "reference").mkdir()
    shutil.copy(PROJECT_ROOT / "solutions" / filename, tmp_path / "reference" / filename)
    materialize("exercise-09", "elbo_without_log_det", tmp_path / "no_log_det")
    results = _grade_in_kit(kit, tmp_path, "exercise-09/reference", "exercise-09/no_log_det")
    correct, wrong = results["exercise-09/reference"], results["exercise-09/no_log_det"]
    assert correct["failed"] == {} and "training" not in correct["names"]
    assert any(
        "Graded by your instructor only" in note and "training (2 pt)" in note
        for note in correct["notes"]
    ), correct["notes"]
    assert "elbo_matches_reference" in wrong["failed"] and "coupling_masks" not in wrong["failed"]


def test_zero_dim_tensors_keep_their_shape_in_vector_files():
    import numpy as np

    from grader.release.encoding import Encoder, decode

    encoder = Encoder()
    node = encoder.encode((torch.tensor(True), torch.tensor(2.5, dtype=torch.float64)))
    flag, number = decode(node, {k: np.array(v) for k, v in encoder.arrays.items()})
    assert flag.shape == () and flag.dtype == torch.bool and bool(flag)
    assert number.shape == () and number.item() == 2.5


def test_release_refuses_to_overwrite(kit):
    result = CliRunner().invoke(release, [str(kit)])
    assert result.exit_code == 1 and "--force" in result.output


def test_practice_quizzes_ship_exam_keys_do_not(tmp_path):
    lines = release_quizzes(PROJECT_ROOT / "quizzes", tmp_path / "kit")
    exam = tmp_path / "kit" / "checkpoint.yaml"
    assert not load_quiz_file(exam).has_key
    assert "You summed the scales" not in exam.read_text()  # exam feedback stays behind
    assert load_quiz_file(tmp_path / "kit" / "change-of-variables.yaml").has_key
    assert any("answer key stripped (exam)" in line for line in lines)


# ---------------------------------------------------------------- quizzes in the kit

# `grade ...` as a student runs it: the kit's grader, and no reference solutions. The
# development venv has the project installed in editable mode, whose import hook would find
# `solutions/` in the repository; a student's environment has no such hook, so drop it.
KIT_GRADE = """\
import runpy, sys
from pathlib import Path
sys.meta_path[:] = [f for f in sys.meta_path
                    if not getattr(f, "__module__", "").startswith("__editable__")]
try:
    import solutions
except ModuleNotFoundError:
    print("solutions: not importable", file=sys.stderr)
else:
    sys.exit("solutions is importable from " + str(solutions.__file__))
import grader
assert Path(grader.__file__).resolve().is_relative_to(Path.cwd().resolve())
sys.argv[0] = "grade"
runpy.run_module("grader", run_name="__main__", alter_sys=True)
"""


def _kit_take(kit: Path, tmp_path: Path, name: str, lines: list[str]) -> tuple[Path, str]:
    """Take quiz `name` in the kit as student kid with the typed `lines`; the attempt file."""
    saved = tmp_path / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWGRADE_")}
    done = subprocess.run(
        [sys.executable, "-c", KIT_GRADE, "quiz", "take", name, "--student", "kid",
         "--gradebook", str(tmp_path / "kid.sqlite"), "--save-file", str(saved)],
        cwd=kit, env={**env, "PYTHONPATH": str(kit)}, input="".join(f"{x}\n" for x in lines),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "solutions: not importable" in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    return saved, done.stdout


def _right_answers(full: Quiz, plan: list[dict]) -> list[str]:
    """Typed lines answering every question right, from the full bank's key for `plan`."""
    lines = []
    for item in shown_questions(full, plan):
        question = item.question
        if question.is_choice:
            lines.append(" ".join(item.letter_of(o) for o in question.correct_ids))
        elif question.kind == "numeric":
            lines.append(repr(float(question.answer)))
        else:
            lines.append(str(question.answer))
    return lines


def test_practice_templates_work_in_the_kit_without_reference_code(kit, tmp_path):
    name = "jacobians-and-coupling"
    kit_quiz = load_quiz_file(kit / "quizzes" / f"{name}.yaml")
    templates = [q for q in kit_quiz.questions if q.variant is not None]
    assert {"coupling-forward", "coupling-inverse"} <= {
        q.variant.solver for q in load_quiz(name).questions if q.variant is not None
    }
    assert templates and all(q.variant.table and q.variant.solver is None for q in templates)
    plan = prepare_attempt_questions(kit_quiz, attempt_seed("kid", name, 1))
    saved, output = _kit_take(kit, tmp_path, name, _right_answers(load_quiz(name), plan))
    record = load_attempt_file(saved)
    assert record.data["questions"] == plan
    assert record.state == "finished" and record.score == record.max_score > 0
    for question in templates:
        assert record.data["marks"][question.id]["feedback"] == ["correct"]
    assert output.count("Correct") >= len(kit_quiz.questions)


def test_exam_attempt_taken_in_the_kit_is_marked_by_the_full_bank(kit, tmp_path):
    name = "checkpoint"
    full = load_quiz(name)
    templates = [q for q in full.questions if q.variant is not None]
    assert full.mode == "exam" and templates
    plan = prepare_attempt_questions(full, attempt_seed("kid", name, 1))
    saved, output = _kit_take(kit, tmp_path, name, _right_answers(full, plan))
    record = load_attempt_file(saved)
    assert record.state == "submitted" and record.score is None
    seed = attempt_seed("kid", name, 1)
    stored = {entry["id"]: entry.get("params") for entry in record.data["questions"]}
    for question in templates:  # the numbers the kit drew are the full bank's own draw
        assert stored[question.id] == draw_params(question.variant, seed, question.id)
    for item in shown_questions(full, record.data["questions"]):
        if stored.get(item.id):
            assert " ".join(item.question.stem.split()) in " ".join(output.split())
    marked = score_attempt(full, record)
    assert marked.state == "finished" and marked.score == marked.max_score > 0
