"""The attacks that beat the old in-process guards, each against the bubblewrap jail.

One test per class of attack found by an adversarial review (processes outside Python, file
descriptors on /proc, other students, breaking the run, probes beside student code, names taken
from the student, oracle inputs changed in place, the reference under another name, scoring on
data the student holds), plus the smaller findings (disk, temp folders, the package imported
from elsewhere, an instructor cell failing in the jail). Honest submissions graded in the same run
keep full marks. The tiny assignment is the one of conftest.py (scale: 1 + 2 points, relu: 2 + 3).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import cnnbook
from cnnbook.grading import jail
from cnnbook.grading.sandbox import Limits, grade_many, grade_notebook

pytestmark = pytest.mark.skipif(jail.bwrap_path() is None, reason="needs a working bubblewrap")

FULL = {"test_scale": 1.0, "test_scale_hidden": 2.0, "test_relu": 2.0, "test_relu_hidden": 3.0}
LIMITS = Limits(call_timeout=5.0, cell_timeout=10.0, submission_timeout=60.0)


def hostile(nbtools, grade_id, body):
    return nbtools.replace_solution(nbtools.mini_source(), grade_id, body)


def scale_doing(attack: str) -> str:
    """A correct ``scale`` that tries ``attack`` on its first call and prints what it got."""
    indented = "".join(f"        {line}\n" for line in attack.strip().splitlines())
    return (
        "import os, subprocess, sys\n\n_calls = []\n\ndef scale(x, factor):\n"
        "    _calls.append(1)\n    try:\n"
        "        assert len(_calls) == 1\n"
        f"{indented}"
        "    except AssertionError:\n        pass\n"
        "    except BaseException as error:\n        print('blocked:', repr(error))\n"
        "    return x * factor\n"
    )


def grade(course, nb, student="student", **kwargs):
    return grade_notebook(course.source_path, course.submit(student, nb), limits=LIMITS, **kwargs)


def _pids_cgroup_works() -> bool:
    group = jail.PidsCgroup(8)
    try:
        return group.active
    finally:
        group.remove()


def host_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# 1. processes outside Python's hooks: a shell, unmounting, a daemon that outlives the run
def test_a_shell_started_by_the_student_sees_nothing_and_dies_with_the_jail(course, nbtools):
    marker = "4242.4242"
    attack = f"""
subprocess.Popen(['sleep', '{marker}'], start_new_session=True)
out = subprocess.run(['/bin/sh', '-c', 'umount -l / ; umount -l /proc ; cat {course.source_path} ; '
                      'ls {course.root} ; id'], capture_output=True, text=True, timeout=5)
print('SHELL', out.stdout, out.stderr)
"""
    result = grade(course, hostile(nbtools, "scale", scale_doing(attack)))
    assert result.scores == FULL  # the attack gained nothing and cost nothing
    assert "SHELL" in result.output  # the shell did run, inside the jail
    assert course.SECRET not in result.output and "BEGIN HIDDEN" not in result.output
    time.sleep(0.5)
    assert host_processes_with(marker) == [], "a process started in the jail outlived it"


# 2. files by paths relative to a descriptor on /proc: nothing of the host is under them
def test_proc_descriptors_lead_nowhere_and_plant_nothing(course, nbtools):
    csv = course.root / "grades-tiny.csv"
    csv.write_text("student,total\nsomeone,8\n")
    attack = f"""
found = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            fd = os.open(f'/proc/{{pid}}/root', os.O_RDONLY)
            relative = '{csv.relative_to("/")}'
            found.append(open(relative, opener=lambda p, f: os.open(p, f, dir_fd=fd)).read())
            os.symlink('/etc/passwd', '{course.root.relative_to("/")}/planted', dir_fd=fd)
        except OSError as error:
            found.append(repr(error))
print('FOUND', found)
"""
    result = grade(course, hostile(nbtools, "scale", scale_doing(attack)))
    assert result.scores == FULL
    assert "someone,8" not in result.output
    assert not (course.root / "planted").exists() and not (course.root / "planted").is_symlink()


# 3. other students graded at the same moment: their folders are not in this jail
def test_an_empty_submission_cannot_copy_a_classmate(course, nbtools):
    thief = """
import glob
mine = os.path.realpath('.')
for path in glob.glob('/**/*.ipynb', recursive=True) + glob.glob('/tmp/**/*.ipynb', recursive=True):
    text = open(path).read()
    if 'return x * factor' in text:
        exec(text[text.index('def scale'):text.index('return x * factor') + 17])
        print('COPIED FROM', path)
"""
    nb = nbtools.release_of(nbtools.mini_source())
    nb = nbtools.replace_solution(nb, "scale", thief)
    paths = {f"honest-{i}": course.submit(f"honest-{i}", nbtools.mini_source()) for i in range(2)}
    paths["thief"] = course.submit("thief", nb)
    grades = grade_many(course.source_path, paths, jobs=2, limits=LIMITS)
    assert grades["thief"].scores["test_scale"] == 0.0, grades["thief"].output
    assert "COPIED" not in grades["thief"].output
    assert grades["honest-0"].scores == FULL and grades["honest-1"].scores == FULL


# 4. one submission must not break the run: kill the grader, lower its limits, fork bombs
def test_a_submission_cannot_kill_or_starve_the_grader(course, nbtools):
    me = os.getpid()
    attacks = {
        "kill": f"os.kill({me}, 9)\nos.kill(os.getppid(), 9)\nos.kill(-1, 9)",
        "prlimit": f"import resource\nfor pid in ({me}, os.getppid(), 1):\n"
        "    try:\n        resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3))\n"
        "    except OSError as e:\n        print('prlimit', pid, repr(e))",
        "fork-bomb": "while True:\n    os.fork()",
    }
    if os.getuid() == 0 and not _pids_cgroup_works():
        del attacks["fork-bomb"]  # as root without a pids cgroup nothing bounds it: not here
    paths = {}
    for name, attack in attacks.items():
        body = "import os\n" + attack + "\n\ndef scale(x, factor):\n    return x * factor\n"
        paths[name] = course.submit(name, hostile(nbtools, "scale", body))
    for i in range(3):
        paths[f"honest-{i}"] = course.submit(f"honest-{i}", nbtools.mini_source())
    grades = grade_many(course.source_path, paths, jobs=1, limits=LIMITS)
    for i in range(3):  # graded after the attacks, on the same grader process
        assert grades[f"honest-{i}"].scores == FULL, grades[f"honest-{i}"].message
    assert grades["prlimit"].scores == FULL  # its attempt failed; its code is otherwise right
    assert all(g.status != "error" for g in grades.values()), {
        k: g.message for k, g in grades.items()
    }


def test_a_grader_process_that_dies_is_replaced_and_its_work_regraded(course, nbtools):
    import psutil

    slow = "import time\ntime.sleep(1.5)\n\ndef scale(x, factor):\n    return x * factor\n"
    paths = {f"s{i}": course.submit(f"s{i}", hostile(nbtools, "scale", slow)) for i in range(4)}
    done: dict = {}
    worker = threading.Thread(
        target=lambda: done.update(grade_many(course.source_path, paths, jobs=2, limits=LIMITS))
    )
    worker.start()
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.3)
        for child in psutil.Process().children():
            if "spawn_main" in " ".join(child.cmdline()):
                victim = child
                break
    assert victim is not None, "no grader process seen"
    time.sleep(1.0)
    victim.send_signal(signal.SIGKILL)
    worker.join(240)
    assert not worker.is_alive()
    assert {k: g.scores for k, g in done.items()} == {k: FULL for k in paths}


# 5. probes beside student code: the clock and the tracer are the grader's, outside the jail
def test_patching_the_clock_and_the_tracer_in_the_jail_changes_nothing(course, nbtools):
    body = (
        "import sys, time\ntime.perf_counter = lambda: 0.0\ntime.monotonic = lambda: 0.0\n"
        "sys.settrace = sys.setprofile = lambda *a, **k: None\n\n"
        "def scale(x, factor):\n    out = np.empty_like(x)\n"
        "    for i in np.ndindex(x.shape):\n        out[i] = x[i] * factor\n    return out\n"
    )
    result = grade(course, hostile(nbtools, "scale", body))
    assert result.scores["test_scale"] == 1.0 and result.scores["test_scale_hidden"] == 0.0
    message = result.cells[1].message
    assert "not vectorised" in message or "time limit" in message, message
    assert result.scores["test_relu_hidden"] == 3.0


# 6. a test cell never takes a name from the student's process other than a graded function
def test_a_helper_the_grader_lacks_is_never_fetched_from_the_student(course, nbtools):
    source = nbtools.mini_source()
    # an instructor's mistake: the hidden test uses a helper no instructor cell defines
    source["cells"][5]["source"] = (
        "### BEGIN HIDDEN TESTS\n_x = rng.standard_normal(4)\n"
        "assert np.allclose(scale(_x, 3.0), oracle_scale(_x, 3.0))\n### END HIDDEN TESTS\n"
    )
    course.write_source(source)
    body = (
        "def scale(x, factor):\n    return x\n\n"
        "def oracle_scale(x, factor):  # the student's 'oracle' agrees with the wrong answer\n"
        "    return x\n"
    )
    result = grade(course, nbtools.replace_solution(source, "scale", body))
    assert result.scores["test_scale_hidden"] == 0.0
    assert result.status == "error"  # the grader's fault, said loudly
    assert "oracle_scale" in result.message and "GRADER ERROR" in result.message


def test_a_graded_function_that_is_not_a_function_fails_its_tests(course, nbtools):
    result = grade(course, hostile(nbtools, "scale", "scale = 'not a function'\n"))
    assert result.scores["test_scale"] == 0.0 and "not a function" in result.cells[0].message
    assert result.status == "ok" and result.scores["test_relu_hidden"] == 3.0


# 7. an oracle that reads the input after the call sees the grader's untouched copy
def test_zeroing_an_input_in_place_cannot_fool_an_oracle_that_reads_it_later(course, nbtools):
    source = nbtools.mini_source()
    source["cells"][4]["source"] = (
        "_x = np.array([1.0, -2.0, 3.0])\n_got = scale(_x, 2.0)\n"
        "assert np.allclose(_got, _x * 2.0), 'scale'\n"  # the oracle reads _x after the call
    )
    course.write_source(source)
    body = "def scale(x, factor):\n    x[...] = 0.0\n    return x * factor\n"
    result = grade(course, nbtools.replace_solution(source, "scale", body))
    assert result.scores["test_scale"] == 0.0
    assert "in place" in result.cells[0].message


# 8. the NumPy reference is not in the jail, whatever name it is loaded under
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_the_numpy_reference_cannot_be_loaded_from_a_file(course, nbtools, kind):
    package = Path(cnnbook.__file__).resolve().parent
    candidates = [
        str(package / "numpy_ref" / "activations.py"),
        f"{jail.GRADER_DIR}/cnnbook/numpy_ref/activations.py",
    ]
    body = (
        "import importlib.util\n\nfor _path in " + repr(candidates) + ":\n"
        "    try:\n"
        "        _spec = importlib.util.spec_from_file_location('helpers', _path)\n"
        "        _mod = importlib.util.module_from_spec(_spec)\n"
        "        _spec.loader.exec_module(_mod)\n"
        "        relu_forward = _mod.relu_forward\n        print('LOADED', _path)\n"
        "    except Exception as error:\n        print('blocked', repr(error))\n\n"
        "def relu_backward(dout, cache):\n    return np.where(cache['mask'], dout, 0.0)\n"
    )
    result = grade(course, hostile(nbtools, "relu", body), kind=kind)
    assert "LOADED" not in result.output, result.output
    assert result.scores["test_relu"] == 0.0
    assert result.scores["test_scale_hidden"] == 2.0
    if kind == "torch":  # the jail imports the grader's own package
        assert any(jail.GRADER_DIR in note for note in result.notes), result.notes


# the smaller findings: disk, temp folders, an instructor cell that fails in the jail
def test_writing_more_than_the_scratch_space_fails_with_an_error(course, nbtools):
    attack = """
total = 0
for i in range(10):
    with open(f'big-{i}.bin', 'wb') as handle:
        handle.write(b'x' * (60 << 20))
    total += 60
print('WROTE', total, 'MiB')
"""
    result = grade(course, hostile(nbtools, "scale", scale_doing(attack)))
    assert "WROTE 600" not in result.output and "blocked" in result.output
    assert result.scores == FULL


def test_no_temporary_folder_is_left_behind_even_after_a_crash(course, nbtools, tmp_path):
    import tempfile

    own = tmp_path / "tmp"
    own.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(own)  # this test's folders only
    try:
        grade(course, hostile(nbtools, "relu", "import os\nos._exit(1)\n"))
        grade(course, hostile(nbtools, "scale", "while True:\n    pass\n"))
    finally:
        tempfile.tempdir = saved
    assert list(own.iterdir()) == []


def test_an_instructor_cell_failing_in_the_jail_is_the_graders_error(course, nbtools):
    source = nbtools.mini_source()
    source["cells"][1]["source"] += (
        "\nimport os as _os\nif _os.path.isdir('/cnnbook-jail'):\n"
        "    raise FileNotFoundError('the data file is not in the jail')\n"
    )
    course.write_source(source)
    result = grade(course, source)
    assert result.status == "error"
    assert "GRADER ERROR" in result.message and "data file" in result.message
    assert "StudentCodeError" not in result.message


def test_grading_refuses_to_start_without_bubblewrap(course, nbtools, monkeypatch):
    monkeypatch.setattr(jail, "bwrap_path", lambda: None)
    with pytest.raises(jail.JailUnavailable, match="bubblewrap"):
        grade(course, nbtools.mini_source())
    with pytest.raises(jail.JailUnavailable, match="--engine trusted"):
        grade_many(course.source_path, {}, limits=LIMITS)


def test_jail_limits_are_validated():
    with pytest.raises(ValueError, match="processes"):
        jail.JailLimits(processes=0)
    with pytest.raises(ValueError, match="scratch_bytes"):
        jail.JailLimits(scratch_bytes=True)


def test_the_jail_command_hides_the_course(course, tmp_path):
    submission = tmp_path / "copy"
    submission.mkdir()
    numpy_ref = f"{jail.GRADER_DIR}/cnnbook/numpy_ref"
    command = jail.jail_command(
        ["true"],
        submission_dir=submission,
        grader_files={},
        hidden=[numpy_ref, str(course.root / "src" / "cnnbook")],
        scratch_bytes=1 << 20,
        env={},
    )
    joined = json.dumps(command)
    assert str(course.root) not in joined  # nothing of the course, not even to hide it
    assert command[command.index(numpy_ref) - 1] == "--tmpfs"
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop"):
        assert flag in command
