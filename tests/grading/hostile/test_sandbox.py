"""The sandboxed executor on a tiny generated assignment: every row of the hostile-submission
table, at small scale (``test_real_assignments.py`` repeats them on the book's assignments).

The tiny assignment (see conftest.py) has two tasks: ``scale`` (tests worth 1 + 2 points) and
``relu_forward``/``relu_backward`` (2 + 3 points), 8 points in all.
"""

from __future__ import annotations

import json
import resource
import time

import pytest

from cnnbook.grading.sandbox import (
    CellResult,
    InvalidNotebook,
    Limits,
    check_tampering,
    feedback_notebook,
    forbidden_uses,
    grade_notebook,
    load_notebook,
)

SCALE_TESTS = ("test_scale", "test_scale_hidden")
RELU_TESTS = ("test_relu", "test_relu_hidden")
FULL = {"test_scale": 1.0, "test_scale_hidden": 2.0, "test_relu": 2.0, "test_relu_hidden": 3.0}


def grade(course, nb, limits, student="student"):
    return grade_notebook(course.source_path, course.submit(student, nb), limits=limits)


def hostile(nbtools, grade_id, body):
    return nbtools.replace_solution(nbtools.mini_source(), grade_id, body)


def assert_scale_zero_relu_full(result, why: str):
    scores = result.scores
    assert scores["test_scale"] == scores["test_scale_hidden"] == 0.0, result.cells
    assert scores["test_relu"] == 2.0 and scores["test_relu_hidden"] == 3.0, result.cells
    messages = " ".join(c.message for c in result.cells if c.grade_id in SCALE_TESTS)
    assert why in messages, messages


def test_solution_scores_full_marks_identically_twice(course, nbtools, fast_limits):
    first = grade(course, nbtools.mini_source(), fast_limits)
    second = grade(course, nbtools.mini_source(), fast_limits)
    assert first.scores == FULL, first.cells
    assert [c.status for c in first.cells] == ["passed"] * 4
    assert first.cells == second.cells
    assert first.issues == [] and first.rejected is None
    assert first.max_total == 8.0


def test_untouched_release_scores_zero_and_completes(course, nbtools, fast_limits):
    result = grade(course, nbtools.release_of(nbtools.mini_source()), fast_limits)
    assert result.total == 0.0 and result.max_total == 8.0
    assert all(c.status == "failed" and "NotImplementedError" in c.message for c in result.cells)
    assert result.issues == []  # the release's test cells are what the source's show


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("from cnnbook.numpy_ref import scale\n", "cnnbook"),
        (
            "def scale(x, factor):\n    return torch.mul(torch.from_numpy(x), factor).numpy()\n",
            "torch",
        ),
        (
            "import torch.nn.functional as F\n\ndef scale(x, factor):\n"
            "    return F.linear(torch.from_numpy(x)[..., None], torch.tensor([[factor]]))[..., 0]"
            ".numpy()\n",
            "torch",
        ),
        (
            "from scipy import signal\n\ndef scale(x, factor):\n"
            "    return signal.convolve(x, [[factor]], mode='same')\n",
            "scipy",
        ),
        # hidden from the static check: the child refuses the library itself
        (
            "def scale(x, factor):\n    m = __import__('tor' + 'ch')\n"
            "    return m.from_numpy(x).mul(factor).numpy()\n",
            "not available in a NumPy task",
        ),
    ],
    ids=["cnnbook-reference", "torch", "torch.nn.functional", "scipy.signal", "dynamic-import"],
)
def test_numpy_task_using_a_forbidden_library_scores_zero(course, nbtools, fast_limits, body, why):
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert_scale_zero_relu_full(result, why)


def test_endless_loop_times_out_and_the_other_task_is_graded(course, nbtools, fast_limits):
    body = "def scale(x, factor):\n    while True:\n        pass\n"
    started = time.monotonic()
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    elapsed = time.monotonic() - started
    assert_scale_zero_relu_full(result, "time limit")
    assert {c.status for c in result.cells if c.grade_id in SCALE_TESTS} == {"timeout"}
    # two calls hit the 1.5 s limit (one per scale test), plus start-up and restarts
    assert elapsed < 2 * fast_limits.call_timeout + 15


def test_endless_loop_at_the_top_of_a_cell_is_skipped(course, nbtools, fast_limits):
    body = "while True:\n    pass\n"
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert_scale_zero_relu_full(result, "NameError")
    assert any("ran past the time limit" in issue for issue in result.issues)


def test_a_time_limit_cannot_be_swallowed_by_a_broad_except(course, nbtools, fast_limits):
    # The instructor's test cell catches everything; the aborted call still fails the cell.
    source = nbtools.mini_source()
    source["cells"][4]["source"] = (
        "try:\n    scale(np.ones(2), 2.0)\nexcept BaseException:\n    pass\n"
    )
    course.write_source(source)
    body = "def scale(x, factor):\n    while True:\n        pass\n"
    result = grade(course, nbtools.replace_solution(source, "scale", body), fast_limits)
    assert result.scores["test_scale"] == 0.0 and result.cells[0].status == "timeout"
    assert result.scores["test_relu_hidden"] == 3.0


def test_memory_bomb_scores_zero_and_leaves_the_grader_flat(course, nbtools, fast_limits):
    grade(course, nbtools.mini_source(), fast_limits)  # the grader's own imports (torch) first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    body = (
        "def scale(x, factor):\n    hoard = []\n    while True:\n"
        "        hoard.append(np.zeros(1 << 23))\n"  # 64 MiB each, until the limit
    )
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert_scale_zero_relu_full(result, "MemoryError")
    assert grown_mib < 100


@pytest.mark.parametrize(
    "body",
    [
        "import sys\nsys.exit()\n",
        "import os\nos._exit(0)\n",
        "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        "import sys\n\ndef relu_forward(x):\n    sys.exit(3)\n",
    ],
    ids=["sys.exit", "os._exit", "kill", "exit-in-call"],
)
def test_ending_the_process_scores_zero_for_everything_not_yet_graded(
    course, nbtools, fast_limits, body
):
    result = grade(course, hostile(nbtools, "relu", body), fast_limits)
    assert result.scores["test_scale"] == 1.0 and result.scores["test_scale_hidden"] == 2.0
    assert result.scores["test_relu"] == 0.0 and result.scores["test_relu_hidden"] == 0.0
    assert result.total < result.max_total
    assert result.cells[-1].status == "not-run"


WRONG_BUT_SNEAKY = [
    "np.allclose = lambda *args, **kwargs: True\nnp.array_equal = lambda *args, **kwargs: True\n",
    "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n",
    "get_ipython().showtraceback = lambda *args, **kwargs: None\n"
    "import sys\nsys.excepthook = lambda *args: None\n",
    "rng = None\ntorch = None\n",  # the test's own names stay the instructor's
    "class _Always(np.ndarray):\n"
    "    def __eq__(self, other):\n        return np.ones(self.shape, bool)\n",
]


@pytest.mark.parametrize(
    "trick",
    WRONG_BUT_SNEAKY,
    ids=["np.allclose", "AssertionError", "traceback", "names", "subclass"],
)
def test_patching_the_checks_in_the_student_process_changes_nothing(
    course, nbtools, fast_limits, trick
):
    body = trick + "\ndef scale(x, factor):\n    return (x * (factor + 1)).view(type(x))\n"
    if "_Always" in trick:
        body = trick + "\ndef scale(x, factor):\n    return (x * (factor + 1)).view(_Always)\n"
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert result.scores["test_scale"] == 0.0 and result.scores["test_scale_hidden"] == 0.0
    assert result.scores["test_relu_hidden"] == 3.0


def test_hidden_tests_never_reach_the_student_process(course, nbtools, fast_limits):
    spy = (
        "import gc, sys\n\ncalls = [0]\n\ndef scale(x, factor):\n"
        "    calls[0] += 1\n"
        "    if calls[0] <= 3:  # (not on the line-count probe's calls)\n"
        "        look()\n    return x * factor\n\n"
        "def look():\n"
        "    seen = [o for o in gc.get_objects() if isinstance(o, (dict, list, tuple))]\n"
        "    texts = [v for o in seen for v in (o.values() if isinstance(o, dict) else o)\n"
        "             if isinstance(v, str)]\n"
        "    frame, depth = sys._getframe(), 0\n"
        "    while frame is not None and depth < 50:\n"
        "        texts += [c for c in frame.f_code.co_consts if isinstance(c, str)]\n"
        "        frame, depth = frame.f_back, depth + 1\n"
        "    needles = ('modified its input ' + 'in place', 'BEGIN HIDDEN ' + 'TESTS')\n"
        "    if any(n in t and t != n for t in texts for n in needles):\n"
        "        print('FOUND THE HIDDEN TESTS')\n"
    )
    result = grade(course, hostile(nbtools, "scale", spy), fast_limits)
    assert result.scores == FULL
    assert "FOUND" not in result.output


def test_warnings_and_stderr_do_not_cost_points(course, nbtools, fast_limits):
    body = (
        "import sys, warnings\n\ndef scale(x, factor):\n"
        "    warnings.warn('a harmless warning')\n"
        "    print('some noise on stderr', file=sys.stderr)\n"
        "    return x * factor\n"
    )
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert result.scores == FULL
    assert "noise" in result.output


def test_hard_coding_the_visible_answer_fails_the_hidden_tests(course, nbtools, fast_limits):
    body = "def scale(x, factor):\n    return np.array([2.0, -4.0, 6.0])\n"
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert result.scores["test_scale"] == 1.0 and result.scores["test_scale_hidden"] == 0.0


def test_modifying_inputs_in_place_loses_the_points(course, nbtools, fast_limits):
    body = "def scale(x, factor):\n    x *= factor\n    return x\n"
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert result.scores["test_scale_hidden"] == 0.0
    assert "in place" in result.cells[1].message
    assert result.scores["test_relu_hidden"] == 3.0


def test_loops_instead_of_numpy_fail_the_vectorisation_check(course, nbtools, fast_limits):
    # timed in the grader; with these short limits the loop may also run out of time
    body = (
        "def scale(x, factor):\n    out = np.empty_like(x)\n"
        "    for i in np.ndindex(x.shape):\n        out[i] = x[i] * factor\n    return out\n"
    )
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert result.scores["test_scale"] == 1.0 and result.scores["test_scale_hidden"] == 0.0
    message = result.cells[1].message
    assert "not vectorised" in message or "time limit" in message, message


@pytest.mark.parametrize(
    "attack",
    [
        "input('your name? ')",
        "import socket\n    socket.create_connection(('10.0.0.1', 80), timeout=1)",
        "import urllib.request\n    urllib.request.urlopen('http://example.com', timeout=1)",
        "open(SOURCE).read()",
        "open(GRADEBOOK).read()",
        "open(OTHER).read()",
        "import os\n    os.listdir(COURSE)",
        "import subprocess\n    subprocess.run(['cat', GRADEBOOK])",
        "open(COURSE + '/planted.txt', 'w').write('x')",
    ],
    ids=[
        "input",
        "socket",
        "urllib",
        "source",
        "gradebook",
        "other-student",
        "listdir",
        "subprocess",
        "write-outside",
    ],
)
def test_input_network_and_instructor_files_fail_cleanly(course, nbtools, fast_limits, attack):
    other = course.submit("other-student", nbtools.mini_source())
    paths = {
        "SOURCE": course.source_path,
        "GRADEBOOK": course.root / "gradebook.db",
        "OTHER": other,
        "COURSE": course.root,
    }
    planted = course.root / "planted.txt"
    for name, path in paths.items():
        attack = attack.replace(name, repr(str(path)))
    body = (
        f"def scale(x, factor):\n    try:\n        got = {attack.strip()}\n"
        "    except BaseException as error:\n        print('blocked:', repr(error))\n"
        "        raise\n    print('GOT', got)\n    return x * factor\n"
    )
    started = time.monotonic()
    result = grade(course, hostile(nbtools, "scale", body), fast_limits)
    assert time.monotonic() - started < 20
    assert result.scores["test_scale"] == 0.0 and result.cells[0].status == "failed"
    assert result.scores["test_relu_hidden"] == 3.0
    assert course.SECRET not in result.output and "GOT" not in result.output
    assert "BEGIN HIDDEN" not in result.output
    assert not planted.exists()


TAMPERING = {
    "deleted": lambda cells: cells.pop(4),
    "edited": lambda cells: cells[4].update(source="pass\n"),
    "markdown": lambda cells: cells[4].update(cell_type="markdown", outputs=None),
    "duplicated": lambda cells: cells.insert(5, json.loads(json.dumps(cells[4]))),
    "metadata-stripped": lambda cells: cells[4]["metadata"].clear(),
    "points": lambda cells: cells[4]["metadata"]["nbgrader"].update(points=100),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampered_tests_are_restored_and_reported(course, nbtools, fast_limits, how):
    wrong = "def scale(x, factor):\n    return x\n"
    for body, expected in ((None, 1.0), (wrong, 0.0)):
        nb = nbtools.release_of(nbtools.mini_source())
        nb = nbtools.mini_source() if body is None else nbtools.replace_solution(nb, "scale", body)
        TAMPERING[how](nb["cells"])
        result = grade(course, nb, fast_limits)
        assert result.max_total == 8.0
        assert result.scores["test_scale"] == expected, (how, result.cells)
        assert any("test_scale" in issue for issue in result.issues), result.issues
        if body is None:
            assert result.scores == FULL


def test_check_tampering_names_each_change(nbtools):
    source = nbtools.mini_source()
    nb = nbtools.release_of(source)
    nb["cells"][8]["source"] += "# edited\n"
    nb["cells"][9]["metadata"]["nbgrader"]["points"] = 30
    nb["cells"].append(nbtools.cell("code", "pass", grade_id="bonus", grade=True, points=50))
    del nb["cells"][5]
    issues = check_tampering(source, nb)
    assert "test cell test_relu: edited" in issues
    assert "test cell test_relu_hidden: points changed from 3 to 30" in issues
    assert "test cell test_scale_hidden: deleted" in issues
    assert "graded cell bonus: not in the source (ignored)" in issues
    assert check_tampering(source, nbtools.release_of(source)) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"cells": [', "not valid JSON"),
        (b'{"nbformat": 4, "cells": []}\x00', "NUL bytes"),
        (json.dumps({"nbformat": 3, "worksheets": []}).encode(), "nbformat 3"),
        (
            json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}).encode(),
            "not text",
        ),
        (json.dumps([1, 2]).encode(), "JSON object"),
        ("\udcff".encode("utf-8", "surrogatepass"), "UTF-8"),
    ],
    ids=["json", "nul", "nbformat3", "source", "list", "utf8"],
)
def test_invalid_notebooks_are_rejected_quickly(course, fast_limits, content, why):
    started = time.monotonic()
    result = grade_notebook(course.source_path, course.submit("bad", content), limits=fast_limits)
    assert time.monotonic() - started < 2
    assert result.rejected is not None and why in result.rejected
    assert result.total == 0.0 and result.max_total == 8.0
    assert {c.status for c in result.cells} == {"rejected"}
    with pytest.raises(InvalidNotebook):
        load_notebook(course.root / "submitted" / "bad" / "tiny" / "tiny.ipynb")


def test_a_million_printed_lines_are_truncated(course, nbtools, fast_limits):
    grade(course, nbtools.mini_source(), fast_limits)  # the grader's own imports (torch) first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    body = (
        "for _i in range(1_000_000):\n    print('line', _i)\n\n"
        "def scale(x, factor):\n    return x * factor\n"
    )
    result = grade(
        course,
        hostile(nbtools, "scale", body),
        Limits(call_timeout=10, cell_timeout=30, output_chars=5_000),
    )
    assert result.scores == FULL
    assert len(result.output) < 6_000 and "more characters of output dropped" in result.output
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 50


def test_forbidden_uses_reports_lines():
    code = "import numpy as np\nimport scipy.signal\nx = F.conv2d\ny = 'torch.nn'\nz = 'a torch'\n"
    assert forbidden_uses(code, aliases={"F"}) == [
        "line 2: import scipy.signal",
        "line 3: uses F",
        "line 4: names the module 'torch.nn'",
    ]
    assert forbidden_uses("def f(x):\n    return np.maximum(x, 0)\n") == []
    # the student's own F (number of filters, cs231n style) is not torch.nn.functional
    own = "def conv(x, w, F=None):\n    F, C, HH, WW = w.shape\n    return F * C\n"
    assert forbidden_uses(own, aliases={"F"}) == []
    assert forbidden_uses("def g(F):\n    return F\n", aliases={"F"}) == []


def test_limits_are_validated():
    with pytest.raises(ValueError, match="call_timeout"):
        Limits(call_timeout=0)
    with pytest.raises(ValueError, match="memory_bytes"):
        Limits(memory_bytes=-1)
    with pytest.raises(ValueError, match="max_restarts"):
        Limits(max_restarts=-2)


def test_cell_result_is_plain_data():
    cell = CellResult("t", 1.0, 2.0, "passed")
    assert (cell.grade_id, cell.points, cell.max_points, cell.status, cell.message) == (
        "t",
        1.0,
        2.0,
        "passed",
        "",
    )


def test_the_tests_warning_filters_apply_inside_the_call(course, nbtools, fast_limits):
    # an instructor's test may turn warnings into failures; the call runs under the same filters
    source = nbtools.mini_source()
    source["cells"][4]["source"] = (
        "import warnings as _w\nwith _w.catch_warnings():\n    _w.simplefilter('error')\n"
        "    scale(np.array([1.0]), 10.0)\n"
    )
    course.write_source(source)
    quiet = grade(course, source, fast_limits)
    overflowing = "def scale(x, factor):\n    return np.float64(1e308) * 10 * x * factor\n"
    loud = grade(course, nbtools.replace_solution(source, "scale", overflowing), fast_limits)
    assert quiet.scores["test_scale"] == 1.0
    assert loud.scores["test_scale"] == 0.0 and "RuntimeWarning" in loud.cells[0].message


def test_the_trusted_engine_grades_the_same_without_a_jail(course, nbtools):
    plain = Limits(call_timeout=5.0, cell_timeout=10.0)
    solution = grade_notebook(
        course.source_path, course.submit("me", nbtools.mini_source()), limits=plain,
        engine="trusted",
    )  # fmt: skip
    assert solution.scores == FULL and solution.status == "ok"
    wrong = hostile(nbtools, "scale", "def scale(x, factor):\n    return x\n")
    result = grade_notebook(
        course.source_path, course.submit("me", wrong), limits=plain, engine="trusted"
    )
    assert result.scores["test_scale"] == 0.0 and result.scores["test_relu_hidden"] == 3.0
    with pytest.raises(ValueError, match="engine"):
        grade_notebook(course.source_path, course.source_path, engine="sandbox")


def test_feedback_notebook_puts_outcomes_on_the_cells(course, nbtools, fast_limits):
    nb = hostile(nbtools, "relu", "while True:\n    pass\n")
    del nb["cells"][4]  # test_scale deleted by the student: restored in the feedback
    result = grade(course, nb, fast_limits)
    feedback = feedback_notebook(nbtools.mini_source(), nb, result)
    by_id = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in feedback["cells"]}
    assert set(FULL) <= set(by_id)
    assert by_id["test_scale"]["outputs"][0]["text"] == "1 of 1 points\n"
    assert by_id["test_relu"]["outputs"][0]["ename"] == "NameError"
    assert by_id["relu"]["outputs"][0]["ename"] == "CellTimeoutError"
    assert result.status == "timeout" and result.timed_out
    order = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in feedback["cells"]]
    assert order.index("scale") < order.index("test_scale") < order.index("test_scale_hidden")
    text = json.dumps(feedback)
    assert "BEGIN HIDDEN" not in text and "modified its input in place" not in text
    assert "hidden tests: their code is not shown" in text
