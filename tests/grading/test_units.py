"""Fast unit tests of the pieces of the grader: the assertion helpers' messages, the restoring of
instructor cells into a submission, nbgrader's scoring rule, and the vectorisation check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cnnbook.grading.checks import (
    check_close,
    check_equal,
    check_raises_value_error,
    check_unchanged,
    check_vectorised,
)
from cnnbook.grading.notebooks import grade_cells, restore_trusted_cells, score_cells


def test_check_close_names_shape_dtype_and_worst_element() -> None:
    want = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    check_close(want.numpy().copy(), want, "out")
    with pytest.raises(AssertionError, match=r"out: wrong shape: got \(3, 2\), expected \(2, 3\)"):
        check_close(np.zeros((3, 2)), want, "out")
    with pytest.raises(AssertionError, match="wrong dtype: got float32, expected float64"):
        check_close(np.zeros((2, 3), np.float32), want, "out")
    got = want.numpy().copy()
    got[1, 2] += 0.5
    with pytest.raises(AssertionError, match=r"1 of 6 values are wrong; worst at index \(1, 2\)"):
        check_close(got, want, "out")
    with pytest.raises(AssertionError, match="expected a NumPy array"):
        check_close([[0.0, 1, 2], [3, 4, 5]], want, "out")
    got[0, 0] = np.nan
    with pytest.raises(AssertionError, match=r"nan at index \(0, 0\)"):
        check_close(got, want, "out")
    check_close(2.0, torch.tensor(2.0 + 1e-9, dtype=torch.float64), "loss")  # a float vs a 0-d


def test_check_equal_raises_and_unchanged() -> None:
    check_equal(3, 3, "n")
    with pytest.raises(AssertionError, match="n: got 4, expected 3"):
        check_equal(4, 3, "n")
    with pytest.raises(AssertionError, match="expected an int"):
        check_equal(3.0, 3, "n")
    check_raises_value_error(int, "x", name="int('x')")
    with pytest.raises(AssertionError, match="nothing was raised"):
        check_raises_value_error(int, "3", name="int('3')")
    with pytest.raises(AssertionError, match="got TypeError"):
        check_raises_value_error(int, None, name="int(None)")
    with pytest.raises(AssertionError, match="x was modified in place"):
        check_unchanged(np.zeros(2), np.ones(2), "x")


def _meta(grade_id: str, **flags) -> dict:
    base = {"grade": False, "solution": False, "locked": False, "grade_id": grade_id}
    return {"nbgrader": {**base, **flags, "schema_version": 3}}


def _source_notebook():
    return new_notebook(
        cells=[
            new_markdown_cell("intro", metadata=_meta("intro", locked=True)),
            new_code_cell("x = 1", metadata=_meta("setup", locked=True)),
            new_code_cell("def f():\n    return 2", metadata=_meta("answer", solution=True)),
            new_code_cell(
                "assert f() == 2\n### BEGIN HIDDEN TESTS\n"
                "assert f() + x == 3\n### END HIDDEN TESTS",
                metadata=_meta("test_f", grade=True, locked=True, points=3),
            ),
        ]
    )


def test_restore_keeps_answers_and_restores_instructor_cells() -> None:
    source = _source_notebook()
    submission = new_notebook(
        cells=[
            new_code_cell("x = 100", metadata=_meta("setup", locked=True)),  # edited set-up
            new_code_cell("def f():\n    return 7", metadata=_meta("answer", solution=True)),
            new_code_cell("helper = 5"),  # a cell the student added
            new_code_cell("pass", metadata=_meta("test_f", grade=True, points=99)),  # tampered
            new_code_cell("pass", metadata=_meta("test_f", grade=True, points=99)),  # duplicate
        ]
    )
    merged = restore_trusted_cells(submission, source)
    sources = [c.source for c in merged.cells]
    assert sources == [
        "intro",  # deleted by the student, put back in place
        "x = 1",
        "def f():\n    return 7",
        "helper = 5",
        source.cells[3].source,
    ]
    assert merged.cells[4].metadata["nbgrader"]["points"] == 3
    assert submission.cells[0].source == "x = 100", "the submission itself is not modified"


def test_restore_puts_back_deleted_test_cells_after_their_predecessor() -> None:
    source = _source_notebook()
    submission = new_notebook(
        cells=[new_code_cell("def f():\n    return 2", metadata=_meta("answer", solution=True))]
    )
    merged = restore_trusted_cells(submission, source)
    assert [c.metadata["nbgrader"]["grade_id"] for c in merged.cells] == [
        "intro", "setup", "answer", "test_f",
    ]  # fmt: skip


def test_scores_follow_nbgraders_rule() -> None:
    source = _source_notebook()
    assert [(g.grade_id, g.points) for g in grade_cells(source)] == [("test_f", 3.0)]
    executed = restore_trusted_cells(source, source)
    test_cell = executed.cells[3]
    assert score_cells(executed, source) == {"test_f": 0.0}, "a cell never run earns nothing"
    test_cell.execution_count = 4
    assert score_cells(executed, source) == {"test_f": 3.0}
    test_cell.outputs = [new_output("stream", name="stderr", text="RuntimeWarning: overflow")]
    assert score_cells(executed, source) == {"test_f": 0.0}
    test_cell.outputs = [new_output("error", ename="AssertionError", evalue="", traceback=[])]
    assert score_cells(executed, source) == {"test_f": 0.0}


def test_the_vectorisation_check_tells_loops_from_vectorised_code() -> None:
    from cnnbook.numpy_ref import conv2d_forward

    timings = check_vectorised(conv2d_forward)  # the reference: vectorised (im2col)
    assert set(timings) == {"N", "H", "W"}

    def loop_over_n(x, w, b, stride=1, padding=0):  # the cheapest loop: one NumPy call a step
        flat, out = x.reshape(len(x), -1), np.empty(len(x))
        for n in range(len(x)):
            out[n] = flat[n] @ w.reshape(-1)
        return (out + b[0]).reshape(len(x), 1, 1, 1), None

    with pytest.raises(AssertionError, match="loops over N"):
        check_vectorised(loop_over_n)

    def wrong(x, w, b, stride=1, padding=0):  # fast but wrong: the values are checked too
        return x, None

    with pytest.raises(AssertionError, match="1x1 kernel"):
        check_vectorised(wrong)


def test_check_close_tolerance_follows_the_oracles_dtype() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(np.float32)
    w = rng.standard_normal((256, 32)).astype(np.float32)
    oracle = torch.from_numpy(x) @ torch.from_numpy(w)
    # the same product summed in another order (float32 rounding), as a student's NumPy gives it
    mine = np.einsum("ik,kj->ij", x[:, ::-1], w[::-1, :]).astype(np.float32)
    assert not np.array_equal(mine, oracle.numpy())
    check_close(mine, oracle, "float32 product")  # within the float32 default
    with pytest.raises(AssertionError, match="tolerance"):
        check_close(mine, oracle, "float32 product", rtol=1e-7, atol=1e-9)
    # float64: a relative error of 1e-4 is far too large
    exact = rng.standard_normal(10)
    with pytest.raises(AssertionError, match="values are wrong"):
        check_close(exact * (1 + 1e-4), exact, "x")
    check_close((exact * (1 + 1e-4)).astype(np.float32), exact.astype(np.float32), "x")
