"""The hostile-submission table on the book's own assignments, graded as one class.

Every hostile submission is the solution notebook (or the release) with one solution cell's body
replaced or wrapped. One class of 02-convolution (a NumPy assignment) and one of 06-training (a
PyTorch one) are graded in a single parallel batch each (:func:`grade_many`, as the grading
command does); each test then checks one row of the table.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from cnnbook.grading.sandbox import Limits, grade_many

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
LIMITS = Limits(call_timeout=4.0, cell_timeout=60.0, submission_timeout=240.0, memory_bytes=1 << 30)


def _load(kind: str, assignment: str) -> dict:
    path = ROOT / kind / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path} is not there yet")
    return json.loads(path.read_text())


def _cell(nb: dict, grade_id: str) -> dict:
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _text(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def replaced(nb: dict, grade_id: str, body: str) -> dict:
    nb = copy.deepcopy(nb)
    _cell(nb, grade_id)["source"] = body
    return nb


def wrapped(nb: dict, grade_id: str, name: str, before: str = "", after: str = "") -> dict:
    """The solution of ``grade_id`` with ``name`` wrapped: ``before`` runs first, then the real
    function, then ``after`` (which sees ``args`` and ``result``)."""
    nb = copy.deepcopy(nb)
    cell = _cell(nb, grade_id)
    indent = lambda code: "".join(f"    {line}\n" for line in code.splitlines())  # noqa: E731
    cell["source"] = (
        _text(cell) + f"\n\n_real_{name} = {name}\n\n\ndef {name}(*args, **kwargs):\n"
        f"{indent(before)}    result = _real_{name}(*args, **kwargs)\n{indent(after)}"
        "    return result\n"
    )
    return nb


class Graded:
    """A class of submissions of one assignment, graded once for all the tests that read it."""

    def __init__(
        self,
        tmp: Path,
        assignment: str,
        submissions: dict[str, dict | bytes],
        limits: Limits = LIMITS,
    ):
        self.assignment = assignment
        self.source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        paths = {}
        for student, nb in submissions.items():
            path = tmp / "submitted" / student / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True)
            if isinstance(nb, bytes):
                path.write_bytes(nb)
            else:
                path.write_text(json.dumps(nb))
            paths[student] = path
        started = time.monotonic()
        self.grades = grade_many(self.source, paths, jobs=2, limits=limits)
        self.seconds = time.monotonic() - started
        full = self.grades["solution"]
        self.full = full.scores
        self.max_total = full.max_total

    def __getitem__(self, student: str):
        return self.grades[student]

    def tests_of(self, *tasks: str) -> list[str]:
        return [
            g for g in self.full if any(g == f"test_{t}" or g == f"test_{t}_hidden" for t in tasks)
        ]


NUMPY_ATTACKS = {
    # a NumPy task that calls the reference, torch or scipy.signal: 0 for that task
    "reference": ("conv2d_forward", "from cnnbook.numpy_ref import conv2d_forward\n"),
    "torch": (
        "conv2d_forward",
        "def conv2d_forward(x, w, b, stride=1, padding=0):\n"
        "    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),\n"
        "                   stride=stride, padding=padding)\n"
        "    return out.numpy(), (x, w, b, stride, padding)\n",
    ),
    "scipy": (
        "conv2d_forward",
        "import scipy.signal\n\ndef conv2d_forward(x, w, b, stride=1, padding=0):\n"
        "    return scipy.signal.correlate(x, w, mode='valid'), None\n",
    ),
    "memory": (
        "conv2d_forward",
        "def conv2d_forward(*args, **kwargs):\n    hoard = []\n"
        "    while True:\n        hoard.append(np.zeros(1 << 24))\n",
    ),
    "sys.exit": ("conv2d_backward", "import sys\nsys.exit(0)\n"),
    "os._exit": ("conv2d_backward", "import os\nos._exit(0)\n"),
    "patching": (
        "conv2d_forward",
        "import builtins\nnp.allclose = lambda *a, **k: True\n"
        "builtins.AssertionError = type('Hidden', (Exception,), {})\n"
        "check_close = lambda *a, **k: None\n"
        "get_ipython().showtraceback = lambda *a, **k: None\n"
        "def conv2d_forward(x, w, b, stride=1, padding=0):\n"
        "    return np.zeros((1, 1, 1, 1)), None\n",
    ),
    "hard-coded": (
        "conv2d_forward_naive",
        "def conv2d_forward_naive(x, w, b, stride=1, padding=0):\n"
        "    out = [[54.0, 63, 72], [99, 108, 117], [144, 153, 162]]\n"
        "    return np.array(out).reshape(1, 1, 3, 3), None\n",
    ),
}


@pytest.fixture(scope="module")
def conv_class(tmp_path_factory) -> Graded:
    solution = _load("solutions", "02-convolution")
    release = _load("exercises", "02-convolution")
    root = tmp_path_factory.mktemp("conv-class")
    (root / "gradebook.db").write_text("the instructor's gradebook")
    subs: dict[str, dict | bytes] = {
        "solution": solution,
        "solution-again": solution,
        "release": release,
    }
    for name, (grade_id, body) in NUMPY_ATTACKS.items():
        subs[name] = replaced(solution, grade_id, body)
    subs["in-place"] = wrapped(
        solution, "conv2d_forward", "conv2d_forward", after="args[0][...] = 0.0"
    )
    subs["warning"] = wrapped(
        solution,
        "conv2d_forward",
        "conv2d_forward",
        before="import sys, warnings\nwarnings.warn('harmless')\nprint('noise', file=sys.stderr)",
    )
    subs["endless"] = wrapped(
        solution, "conv2d_forward_naive", "conv2d_forward_naive", before="while True:\n    pass"
    )
    # input(), the network and the instructor's files: one attempt in each task
    source_path = ROOT / "solutions" / "02-convolution" / "02-convolution.ipynb"
    secrets = {
        "pad2d": "input('name? ')",
        "conv2d_forward_naive": f"open({str(root / 'gradebook.db')!r}).read()",
        "conv2d_forward": f"open({str(source_path)!r}).read()",
    }
    nb = solution
    for name, attack in secrets.items():
        nb = wrapped(
            nb,
            name,
            name,
            before=f"try:\n    print('GOT', {attack})\n"
            "except BaseException as e:\n    print('blocked', repr(e))\n    raise",
        )
    network = (
        "try:\n    __import__('socket').create_connection(('10.1.2.3', 80), 1)\n"
        "except Exception as e:\n    print('blocked', repr(e))\n"
    )
    _cell(nb, "pad2d")["source"] = network + _text(_cell(nb, "pad2d"))
    subs["secrets"] = nb
    printing = copy.deepcopy(solution)
    _cell(printing, "pad2d")["source"] = (
        "for _i in range(1_000_000):\n    print('line', _i)\n" + _text(_cell(solution, "pad2d"))
    )
    subs["print"] = printing
    # tampering: a different change to each test cell, in one notebook
    nb = copy.deepcopy(solution)
    _cell(nb, "test_conv2d_forward_naive")["source"] = "pass\n"
    _cell(nb, "test_conv2d_forward").update(cell_type="markdown", outputs=None)
    _cell(nb, "test_pad2d_hidden")["metadata"] = {}
    _cell(nb, "test_conv2d_backward_hidden")["metadata"]["nbgrader"]["points"] = 99
    backward = _cell(nb, "test_conv2d_backward")
    nb["cells"].insert(nb["cells"].index(backward), copy.deepcopy(backward))
    nb["cells"].remove(_cell(nb, "test_pad2d"))
    subs["tampered"] = nb
    subs["bad-json"] = b'{"cells": [ {"cell_type": '
    subs["nul-bytes"] = json.dumps(solution).encode()[:-1] + b"\x00}"
    subs["nbformat-3"] = json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).encode()
    return Graded(root, "02-convolution", subs)


def test_solution_full_marks_identical_over_runs(conv_class):
    assert conv_class["solution"].total == conv_class.max_total > 0
    assert conv_class["solution"].cells == conv_class["solution-again"].cells
    assert conv_class["solution"].status == "ok" and conv_class["solution"].issues == []


def test_untouched_release_scores_zero(conv_class):
    grade = conv_class["release"]
    assert grade.total == 0.0 and grade.max_total == conv_class.max_total
    assert {c.status for c in grade.cells} == {"failed"}


@pytest.mark.parametrize(
    ("student", "why"), [("reference", "cnnbook"), ("torch", "torch"), ("scipy", "scipy")]
)
def test_numpy_task_calling_a_library_scores_zero(conv_class, student, why):
    grade = conv_class[student]
    for grade_id in conv_class.tests_of("conv2d_forward"):
        assert grade.scores[grade_id] == 0.0
    assert why in grade.message
    others = conv_class.tests_of("pad2d", "conv2d_forward_naive")
    assert all(grade.scores[g] == conv_class.full[g] for g in others)


def test_endless_loop_scores_zero_for_its_task_only(conv_class):
    grade = conv_class["endless"]
    for grade_id in conv_class.tests_of("conv2d_forward_naive"):
        assert grade.scores[grade_id] == 0.0
    assert "timeout" in {c.status for c in grade.cells}
    rest = conv_class.tests_of("pad2d", "conv2d_forward", "conv2d_backward")
    assert all(grade.scores[g] == conv_class.full[g] for g in rest)
    assert grade.seconds < 120


def test_memory_bomb_scores_zero_for_its_task_only(conv_class):
    grade = conv_class["memory"]
    assert all(grade.scores[g] == 0.0 for g in conv_class.tests_of("conv2d_forward"))
    assert "MemoryError" in " ".join(c.message for c in grade.cells)
    rest = conv_class.tests_of("pad2d", "conv2d_forward_naive")
    assert all(grade.scores[g] == conv_class.full[g] for g in rest)


@pytest.mark.parametrize("student", ["sys.exit", "os._exit"])
def test_ending_the_process_zeroes_what_is_left(conv_class, student):
    grade = conv_class[student]
    assert all(grade.scores[g] == 0.0 for g in conv_class.tests_of("conv2d_backward"))
    assert grade.total < conv_class.max_total and grade.status == "crashed"
    before = conv_class.tests_of("pad2d", "conv2d_forward_naive", "conv2d_forward")
    assert all(grade.scores[g] == conv_class.full[g] for g in before)


def test_patched_checks_do_not_reach_the_grader(conv_class):
    grade = conv_class["patching"]
    assert all(grade.scores[g] == 0.0 for g in conv_class.tests_of("conv2d_forward"))


def test_hard_coded_visible_answer_fails_hidden_tests(conv_class):
    grade = conv_class["hard-coded"]
    assert grade.scores["test_conv2d_forward_naive_hidden"] == 0.0


def test_modifying_inputs_in_place_loses_points(conv_class):
    grade = conv_class["in-place"]
    assert all(grade.scores[g] == 0.0 for g in conv_class.tests_of("conv2d_forward"))
    rest = conv_class.tests_of("pad2d", "conv2d_forward_naive")
    assert all(grade.scores[g] == conv_class.full[g] for g in rest)


def test_warnings_on_stderr_keep_full_marks(conv_class):
    grade = conv_class["warning"]
    assert grade.total == conv_class.max_total
    assert "noise" in grade.output


def test_input_network_and_instructor_files_fail_cleanly(conv_class):
    grade = conv_class["secrets"]
    assert grade.status == "ok"  # each task failed, nothing hung
    assert all(grade.scores[g] == 0.0 for g in conv_class.tests_of("pad2d", "conv2d_forward"))
    assert "blocked" in grade.output and "GOT" not in grade.output
    messages = " ".join(c.message for c in grade.cells)
    for what in ("EOFError", "02-convolution.ipynb", "gradebook.db"):
        assert what in messages, messages
    assert "Network is unreachable" in grade.output  # the jail has no network at all
    assert "instructor's gradebook" not in grade.output and "BEGIN HIDDEN" not in grade.output
    assert grade.seconds < 60


def test_a_million_lines_are_truncated(conv_class):
    grade = conv_class["print"]
    assert grade.total == conv_class.max_total
    assert len(grade.output) <= 2 * LIMITS.output_chars


def test_tampered_test_cells_are_restored_and_reported(conv_class):
    grade = conv_class["tampered"]
    assert grade.max_total == conv_class.max_total
    assert grade.total == conv_class.max_total  # the solution still earns every point
    expected = [
        "test cell test_pad2d: deleted",
        "test cell test_pad2d_hidden: its nbgrader metadata was stripped",
        "test cell test_conv2d_forward_naive: edited",
        "test cell test_conv2d_forward: turned from code into markdown",
        "test cell test_conv2d_backward: duplicated (2 copies)",
        "test cell test_conv2d_backward_hidden: points changed from 7 to 99",
    ]
    for issue in expected:
        assert issue in grade.issues, grade.issues


@pytest.mark.parametrize(
    ("student", "why"),
    [("bad-json", "not valid JSON"), ("nul-bytes", "NUL"), ("nbformat-3", "nbformat 3")],
)
def test_broken_notebooks_are_rejected_and_the_class_is_graded(conv_class, student, why):
    grade = conv_class[student]
    assert grade.status == "invalid" and why in grade.rejected and grade.total == 0.0
    assert grade.seconds < 2


@pytest.fixture(scope="module")
def training_class(tmp_path_factory) -> Graded:
    solution = _load("solutions", "06-training")
    release = _load("exercises", "06-training")
    cheat = (
        "def softmax_cross_entropy(logits, y):\n"
        "    t = torch.tensor(logits, requires_grad=True)\n"
        "    loss = F.cross_entropy(t, torch.from_numpy(y))\n    loss.backward()\n"
        "    return loss.item(), t.grad.numpy()\n"
    )
    subs = {
        "solution": solution,
        "release": release,
        "torch-in-numpy-task": replaced(solution, "softmax_cross_entropy", cheat),
    }
    # training runs for seconds: a generous limit per call, still far below "forever"
    limits = Limits(call_timeout=60.0, cell_timeout=120.0, submission_timeout=300.0)
    return Graded(tmp_path_factory.mktemp("training-class"), "06-training", subs, limits)


def test_training_task_is_graded_on_the_cpu(training_class):
    grade = training_class["solution"]
    assert grade.total == training_class.max_total, grade.cells
    assert grade.scores["test_train_evaluate_hidden"] > 0
    assert training_class["release"].total == 0.0


def test_numpy_task_of_a_torch_assignment_may_not_use_torch(training_class):
    grade = training_class["torch-in-numpy-task"]
    assert grade.scores["test_softmax_cross_entropy"] == 0.0
    assert grade.scores["test_softmax_cross_entropy_hidden"] == 0.0
    assert "torch" in grade.message
    rest = training_class.tests_of("sgd_momentum_step", "build_reference_cnn", "train_evaluate")
    assert all(grade.scores[g] == training_class.full[g] for g in rest)


@pytest.fixture(scope="module")
def transfer_class(tmp_path_factory) -> Graded:
    solution = _load("solutions", "07-transfer-learning")
    # trains nothing: the pretrained network with a fresh head, and a forward that looks the
    # answer up among the test images the notebook holds (the attack that once scored 25/25)
    lookup = (
        "def fine_tune(X_train, y_train):\n"
        "    model = replace_head(load_pretrained(), 10)\n"
        "    images = torch.as_tensor(X_test).flatten(1)\n"
        "    labels = torch.as_tensor(y_test)\n"
        "    plain_forward = model.forward\n\n"
        "    def forward(x):\n"
        "        out = plain_forward(x)\n"
        "        match = torch.cdist(x.flatten(1), images).argmin(1)\n"
        "        return out + 100 * torch.nn.functional.one_hot(labels[match], 10)\n\n"
        "    model.forward = forward\n"
        "    return model\n"
    )
    # the test images hidden in the returned module as a buffer: not the architecture asked for
    smuggled = (
        "def fine_tune(X_train, y_train):\n"
        "    model = replace_head(load_pretrained(), 10)\n"
        "    model.register_buffer('answers', torch.as_tensor(y_test))\n"
        "    return model\n"
    )
    subs = {
        "solution": solution,
        "lookup": replaced(solution, "fine_tune", lookup),
        "smuggled": replaced(solution, "fine_tune", smuggled),
    }
    limits = Limits(call_timeout=60.0, cell_timeout=120.0, submission_timeout=300.0)
    return Graded(tmp_path_factory.mktemp("transfer-class"), "07-transfer-learning", subs, limits)


def test_fine_tuning_is_scored_on_images_the_submission_never_sees(transfer_class):
    assert transfer_class["solution"].total == transfer_class.max_total, transfer_class[
        "solution"
    ].cells
    for student in ("lookup", "smuggled"):
        grade = transfer_class[student]
        assert grade.scores["test_fine_tune"] == 0.0, grade.cells
        assert grade.scores["test_fine_tune_hidden"] == 0.0, grade.cells
        rest = transfer_class.tests_of("freeze", "replace_head", "param_groups")
        assert all(grade.scores[g] == transfer_class.full[g] for g in rest)
    assert "new 10-class head" in transfer_class["smuggled"].message + " ".join(
        c.message for c in transfer_class["smuggled"].cells
    )
