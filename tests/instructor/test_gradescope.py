"""The Gradescope autograder end to end: build the zip, unpack it into a folder laid out
like Gradescope's /autograder, run the real run_autograder on a submission and read
results.json. Also in a container like Gradescope's (no CAP_SYS_ADMIN: no bubblewrap, no
namespaces), where a hostile submission tries to read the hidden tests and plant its own
results.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from grader.exercises import EXERCISES, get_exercise
from grader.gradescope.autograder import place_submission
from grader.gradescope.build import BuildError, build_autograder

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "solutions"
EX01 = get_exercise("exercise-01").filename
EX03 = get_exercise("exercise-03").filename
HIDDEN_LINE = "def test_round_trip"  # a line of exercise-03's hidden tests


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    build_autograder(
        out, exercises=["exercise-01", "exercise-03"], test_visibility="after_due_date"
    )
    return out


def gradescope_root(zip_path: Path, where: Path) -> Path:
    """Unpack like Gradescope: the zip into ROOT/source, run_autograder copied to ROOT."""
    root = where / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # zipfile drops the permission bits; Gradescope keeps them
            mode = info.external_attr >> 16 & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    return root


def run_autograder(
    root: Path, python: str = sys.executable, prefix: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """Run ROOT/run_autograder as Gradescope does; results.json and the instructor's log."""
    env = {**os.environ, "FLOWGRADE_AUTOGRADER_ROOT": str(root),
           "FLOWGRADE_AUTOGRADER_PYTHON": python}  # fmt: skip
    env.pop("FLOWGRADE_SANDBOX", None)
    done = subprocess.run(
        [*prefix, str(root / "run_autograder")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    leftovers = [p.name for p in (root / "results").iterdir() if p.name != "results.json"]
    assert not leftovers, f"temporary files left in results/: {leftovers}"
    return json.loads((root / "results" / "results.json").read_text()), done.stdout


def test_zip_layout(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        config = json.loads(archive.read("flowgrade-autograder.json"))
    for script in ("setup.sh", "run_autograder"):
        assert script in names and stat.S_IMODE(modes[script]) == 0o755
    assert {"constraints.txt", "pyproject.toml", "grader/gradescope/autograder.py"} <= names
    assert f"solutions/{EX03}" in names and "grader/hidden/test_exercise_03.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert config["exercises"] == ["exercise-01", "exercise-03"]
    setup = (ROOT / "grader" / "gradescope" / "setup.sh").read_text()
    assert '-c "$SOURCE/constraints.txt"' in setup
    subprocess.run(["bash", "-n", str(ROOT / "grader" / "gradescope" / "setup.sh")], check=True)


def test_build_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="visibility"):
        build_autograder(tmp_path / "a.zip", visibility="sometimes")
    with pytest.raises(BuildError, match="no such course file"):
        build_autograder(tmp_path / "a.zip", course=tmp_path / "missing.toml")
    course = tmp_path / "course.toml"
    course.write_text('[sandbox]\nmode = "bwrap"\n')
    summary = build_autograder(tmp_path / "a.zip", course=course)
    assert any("usually forbids" in note for note in summary.notes)


def test_correct_and_broken_exercises_in_nested_folders(
    autograder_zip: Path, tmp_path: Path
) -> None:
    root = gradescope_root(autograder_zip, tmp_path)
    nested = root / "submission" / "my work" / "exercises"
    nested.mkdir(parents=True)
    shutil.copy(REFERENCE / EX01, nested / EX01)
    (root / "submission" / EX03).write_text("def soft_clamp(raw, bound:\n    return raw\n")
    (root / "submission" / ".hidden").mkdir()
    (root / "submission" / ".hidden" / EX03).write_text("import os\n")  # never graded

    results, log = run_autograder(root)
    assert log.startswith("sandbox ")
    tests = results["tests"]
    ex01 = [t for t in tests if t["name"].startswith("exercise-01 ")]
    ex03 = [t for t in tests if t["name"].startswith("exercise-03 ")]
    assert ex01 and all(t["score"] == t["max_score"] > 0 for t in ex01)
    assert ex03 and all(t["score"] == 0 for t in ex03)
    assert results["score"] == sum(t["max_score"] for t in ex01)
    assert results["max_score"] == sum(t["max_score"] for t in tests) == 20
    assert f"{EX03}, line 1: syntax error" in results["output"]
    assert all(t["visibility"] == "after_due_date" for t in tests)
    assert {t["status"] for t in ex01} == {"passed"}
    assert results["stdout_visibility"] == "hidden" and results["execution_time"] > 0
    assert not any(HIDDEN_LINE in t["output"] for t in tests)


HOSTILE = """\
from __future__ import annotations
import json, os, time
import torch

ROOT = {root!r}


def soft_clamp(raw, bound):
    return bound * torch.tanh(raw / bound)


def _attack():
    for path in (ROOT + "/source/grader/hidden/test_exercise_03.py",
                 ROOT + "/source/solutions/exercise_03_affine_coupling.py"):
        try:
            print("STOLEN " + open(path).read())
        except OSError as err:
            print("cannot read " + type(err).__name__)
    try:
        with open(ROOT + "/results/results.json", "w") as out:
            json.dump({{"score": 1e9, "tests": []}}, out)
    except OSError as err:
        print("cannot plant " + type(err).__name__)
    if os.fork() == 0:  # a late writer, after grading
        time.sleep(1.0)
        try:
            with open(ROOT + "/results/results.json", "w") as out:
                json.dump({{"score": 2e9, "tests": []}}, out)
        finally:
            os._exit(0)


_attack()


def affine_coupling_forward(z, conditioner, clamp=None):
    raise NotImplementedError


def affine_coupling_inverse(x, conditioner, clamp=None):
    raise NotImplementedError
"""


def _check_hostile(root: Path, results: dict[str, Any]) -> None:
    time.sleep(1.5)  # the late writer had its chance
    again = json.loads((root / "results" / "results.json").read_text())
    assert again == results, "results.json changed after the autograder wrote it"
    assert results["score"] == 1.0  # the honest soft_clamp, nothing else
    assert "STOLEN" not in json.dumps(results) and HIDDEN_LINE not in json.dumps(results)
    ex01 = next(t for t in results["tests"] if t["name"].startswith("exercise-01"))
    assert ex01["score"] == 0 and "not handed in" in ex01["output"]


def test_hostile_submission_gets_only_its_honest_point(
    autograder_zip: Path, tmp_path: Path
) -> None:
    root = gradescope_root(autograder_zip, tmp_path)
    (root / "submission" / EX03).write_text(HOSTILE.format(root=str(root)))
    _check_hostile(root, run_autograder(root)[0])


def _setpriv_can_drop_sys_admin() -> bool:
    probe = ["setpriv", "--bounding-set", "-sys_admin", "true"]
    return shutil.which("setpriv") is not None and subprocess.run(probe).returncode == 0


def _readable_python(where: Path) -> str:
    """A Python whose files another uid can read, as /autograder/venv is on Gradescope: a
    system interpreter of this version in a venv that adds this environment's packages."""
    import site
    import sysconfig

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        f"/usr/bin/{version}",
        f"/usr/local/bin/{version}",
        f"{sys.base_prefix}/bin/{version}",
    ]
    readable = [c for c in candidates if Path(c).is_file() and _world_searchable(Path(c).parent)]
    assert readable, f"no {version} that an unprivileged uid can run"
    venv = where / "venv"
    subprocess.run([readable[0], "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = sysconfig.get_path("purelib", vars={"base": str(venv)})
    Path(packages, "flowgrade-test.pth").write_text(
        f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n"
    )
    return str(venv / "bin" / "python")


def _world_searchable(path: Path) -> bool:
    return all(p.stat().st_mode & 0o001 for p in [*path.resolve().parents, path.resolve()])


@pytest.mark.skipif(os.geteuid() != 0, reason="simulating Gradescope's root container needs root")
def test_hostile_submission_in_a_container_without_namespaces(
    autograder_zip: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Gradescope's Docker: no CAP_SYS_ADMIN, so neither bubblewrap nor namespaces. The
    autograder falls back to an unprivileged uid per worker plus private file modes."""
    assert _setpriv_can_drop_sys_admin()
    where = Path(tempfile.mkdtemp(prefix="flowgrade-gradescope-"))  # not under a 0700 folder,
    where.chmod(0o755)  # like /autograder: the workers' uid must reach grader/ to import it
    request.addfinalizer(lambda: shutil.rmtree(where, ignore_errors=True))
    root = gradescope_root(autograder_zip, where)
    (root / "submission" / EX03).write_text(HOSTILE.format(root=str(root)))
    prefix = ("setpriv", "--bounding-set", "-sys_admin")
    results, log = run_autograder(root, _readable_python(where), prefix)
    _check_hostile(root, results)
    layers = log.splitlines()[0]  # for the instructor's log only, never in results.json
    assert layers.startswith("sandbox unshare:") and "unprivileged uid per worker" in layers
    assert "bubblewrap" not in layers and "per-worker namespaces" not in layers
    assert "sandbox" not in results["output"]
    assert "cannot read PermissionError" in results["output"]
    assert "cannot plant PermissionError" in results["output"]


def test_a_grader_that_cannot_start_still_leaves_results(
    autograder_zip: Path, tmp_path: Path
) -> None:
    root = gradescope_root(autograder_zip, tmp_path)
    (root / "results" / "results.json").write_text('{"score": 1e9}')  # planted before the run
    results, _ = run_autograder(root, python="/bin/false")
    assert results["score"] == 0 and "could not run" in results["output"]


def test_placement_of_loose_and_ambiguous_files(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    (submission / "a").mkdir(parents=True)
    (submission / "b").mkdir()
    (submission / "a" / "exercise_03.py").write_text("")
    (submission / "b" / "Exercise_3_mine.py").write_text("")
    (submission / "exercise_05_v2.py").write_text("")
    (submission / EX01).symlink_to("/etc/passwd")  # never followed
    placement = place_submission(submission, EXERCISES)
    assert placement.files == {"exercise-05": submission / "exercise_05_v2.py"}
    assert any("several files could be" in n and "exercise-03" in n for n in placement.notes)
    assert any("graded exercise_05_v2.py as" in n for n in placement.notes)
