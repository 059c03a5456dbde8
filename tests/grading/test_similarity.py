"""The similarity report: planted copies are flagged, independent solutions are not.

The class is generated here for assignment 02: four students who wrote ``pad2d``,
``conv2d_forward_naive`` and ``conv2d_forward`` each their own way, the solution notebook as a
fifth honest student, and planted copies of them (verbatim, renamed, reordered, comments changed)
and of the package's reference (``numpy_ref`` source pasted into the answer cells).
"""

from __future__ import annotations

import csv
import inspect
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from cnnbook.grading.__main__ import main
from cnnbook.grading.assignments import course_root, release_notebook, source_notebook
from cnnbook.grading.similarity import DEFAULT_THRESHOLD, answer_code, compare_texts

pytest.importorskip("copydetect")

ASSIGNMENT = "02-convolution"
TASKS = ("pad2d", "conv2d_forward_naive", "conv2d_forward")

# Four independent implementations of the same three functions; the signatures and docstrings
# are the release's (students write under them), the bodies differ in approach.
HONEST: dict[str, dict[str, str]] = {
    "ada": {
        "pad2d": """
    if isinstance(padding, int):
        padding = (padding, padding)
    top, left = padding
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    return np.pad(x, [(0, 0), (0, 0), (top, top), (left, left)], mode=np_mode)
""",
        "conv2d_forward_naive": """
    st = (stride, stride) if isinstance(stride, int) else stride
    pd = (padding, padding) if isinstance(padding, int) else padding
    xp = pad2d(x, pd)
    f, _, hh, ww = w.shape
    n, _, H, W = xp.shape
    oh = (H - hh) // st[0] + 1
    ow = (W - ww) // st[1] + 1
    res = np.empty((n, f, oh, ow), dtype=x.dtype)
    for img in range(n):
        for k in range(f):
            for a in range(oh):
                for c in range(ow):
                    patch = xp[img, :, a * st[0]:a * st[0] + hh, c * st[1]:c * st[1] + ww]
                    res[img, k, a, c] = (patch * w[k]).sum() + b[k]
    return res, (x, w, b, st, pd)
""",
        "conv2d_forward": """
    st = (stride, stride) if isinstance(stride, int) else stride
    pd = (padding, padding) if isinstance(padding, int) else padding
    xp = pad2d(x, pd)
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    win = win[:, :, ::st[0], ::st[1]]
    res = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    return (res + b[None, :, None, None]).astype(x.dtype), (x, w, b, st, pd)
""",
    },
    "bo": {
        "pad2d": """
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    if mode == "zeros":
        out = np.zeros(x.shape[:2] + (x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), x.dtype)
        out[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] = x
        return out
    rows = np.arange(-ph, x.shape[2] + ph)
    cols = np.arange(-pw, x.shape[3] + pw)
    if mode == "replicate":
        rows = np.clip(rows, 0, x.shape[2] - 1)
        cols = np.clip(cols, 0, x.shape[3] - 1)
    else:
        rows = np.abs(rows)
        rows = np.where(rows > x.shape[2] - 1, 2 * (x.shape[2] - 1) - rows, rows)
        cols = np.abs(cols)
        cols = np.where(cols > x.shape[3] - 1, 2 * (x.shape[3] - 1) - cols, cols)
    return x[:, :, rows[:, None], cols[None, :]]
""",
        "conv2d_forward_naive": """
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    py, px = (padding, padding) if np.isscalar(padding) else padding
    padded = pad2d(x, (py, px))
    outs = []
    for n in range(x.shape[0]):
        per_filter = []
        for f in range(w.shape[0]):
            rows = []
            for i in range(0, padded.shape[2] - w.shape[2] + 1, sy):
                row = []
                for j in range(0, padded.shape[3] - w.shape[3] + 1, sx):
                    region = padded[n, :, i:i + w.shape[2], j:j + w.shape[3]]
                    row.append(np.sum(region * w[f]) + b[f])
                rows.append(row)
            per_filter.append(rows)
        outs.append(per_filter)
    return np.array(outs, dtype=x.dtype), (x, w, b, (sy, sx), (py, px))
""",
        "conv2d_forward": """
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    py, px = (padding, padding) if np.isscalar(padding) else padding
    padded = np.ascontiguousarray(pad2d(x, (py, px)))
    n, c, hp, wp = padded.shape
    k, _, kh, kw = w.shape
    oh, ow = (hp - kh) // sy + 1, (wp - kw) // sx + 1
    s0, s1, s2, s3 = padded.strides
    view = np.lib.stride_tricks.as_strided(
        padded, shape=(n, c, oh, ow, kh, kw), strides=(s0, s1, s2 * sy, s3 * sx, s2, s3)
    )
    out = np.einsum("nchwij,kcij->nkhw", view, w) + b.reshape(1, k, 1, 1)
    return out.astype(x.dtype), (x, w, b, (sy, sx), (py, px))
""",
    },
    "cy": {
        "pad2d": """
    p = tuple(padding) if hasattr(padding, "__len__") else (padding,) * 2
    widths = ((0, 0),) * (x.ndim - 2) + ((p[0],) * 2, (p[1],) * 2)
    if mode not in ("zeros", "reflect", "replicate"):
        raise ValueError("unknown mode " + str(mode))
    kind = "constant" if mode == "zeros" else ("edge" if mode == "replicate" else mode)
    return np.pad(x, widths, kind)
""",
        "conv2d_forward_naive": """
    s = tuple(stride) if hasattr(stride, "__len__") else (stride,) * 2
    p = tuple(padding) if hasattr(padding, "__len__") else (padding,) * 2
    big = pad2d(x, p)
    out_h = 1 + (big.shape[2] - w.shape[2]) // s[0]
    out_w = 1 + (big.shape[3] - w.shape[3]) // s[1]
    y = np.tile(b.reshape(1, -1, 1, 1), (x.shape[0], 1, out_h, out_w)).astype(x.dtype)
    for u in range(w.shape[2]):
        for v in range(w.shape[3]):
            part = big[:, :, u:u + s[0] * out_h:s[0], v:v + s[1] * out_w:s[1]]
            y += np.einsum("nchw,oc->nohw", part[:, :, :out_h, :out_w], w[:, :, u, v])
    return y, (x, w, b, s, p)
""",
        "conv2d_forward": """
    s = tuple(stride) if hasattr(stride, "__len__") else (stride,) * 2
    p = tuple(padding) if hasattr(padding, "__len__") else (padding,) * 2
    big = pad2d(x, p)
    out_h = 1 + (big.shape[2] - w.shape[2]) // s[0]
    out_w = 1 + (big.shape[3] - w.shape[3]) // s[1]
    acc = np.zeros((x.shape[0], w.shape[0], out_h, out_w))
    for u in range(w.shape[2]):
        for v in range(w.shape[3]):
            sl = big[:, :, u:u + s[0] * (out_h - 1) + 1:s[0], v:v + s[1] * (out_w - 1) + 1:s[1]]
            acc += np.tensordot(w[:, :, u, v], sl, axes=(1, 1)).transpose(1, 0, 2, 3)
    return (acc + b[:, None, None]).astype(x.dtype), (x, w, b, s, p)
""",
    },
    "dee": {
        "pad2d": """
    try:
        pad_h, pad_w = padding
    except TypeError:
        pad_h = pad_w = padding
    height, width = x.shape[-2:]
    if mode == "zeros":
        i = np.arange(height + 2 * pad_h) - pad_h
        j = np.arange(width + 2 * pad_w) - pad_w
        inside = ((i >= 0) & (i < height))[:, None] & ((j >= 0) & (j < width))[None, :]
        taken = x[..., np.clip(i, 0, height - 1)[:, None], np.clip(j, 0, width - 1)]
        return np.where(inside, taken, 0).astype(x.dtype)
    lookup = {"reflect": "reflect", "replicate": "edge"}
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), lookup[mode])
""",
        "conv2d_forward_naive": """
    try:
        step_h, step_w = stride
    except TypeError:
        step_h = step_w = stride
    try:
        pad_h, pad_w = padding
    except TypeError:
        pad_h = pad_w = padding
    src = pad2d(x, (pad_h, pad_w))
    n_out, _, k_h, k_w = w.shape
    height = (src.shape[2] - k_h) // step_h + 1
    width = (src.shape[3] - k_w) // step_w + 1
    result = np.zeros((x.shape[0], n_out, height, width), dtype=x.dtype)
    for idx in np.ndindex(x.shape[0], n_out, height, width):
        batch, filt, row, col = idx
        top, lft = row * step_h, col * step_w
        acc = b[filt]
        for ch in range(x.shape[1]):
            for dy in range(k_h):
                for dx in range(k_w):
                    acc += src[batch, ch, top + dy, lft + dx] * w[filt, ch, dy, dx]
        result[idx] = acc
    return result, (x, w, b, (step_h, step_w), (pad_h, pad_w))
""",
        "conv2d_forward": """
    try:
        step_h, step_w = stride
    except TypeError:
        step_h = step_w = stride
    try:
        pad_h, pad_w = padding
    except TypeError:
        pad_h = pad_w = padding
    src = pad2d(x, (pad_h, pad_w))
    n_out, n_in, k_h, k_w = w.shape
    height = (src.shape[2] - k_h) // step_h + 1
    width = (src.shape[3] - k_w) // step_w + 1
    r = (np.arange(height) * step_h)[:, None] + np.arange(k_h)[None, :]
    c = (np.arange(width) * step_w)[:, None] + np.arange(k_w)[None, :]
    patches = src[:, :, r[:, None, :, None], c[None, :, None, :]]
    matrix = patches.transpose(0, 2, 3, 1, 4, 5).reshape(x.shape[0] * height * width, -1)
    prod = matrix @ w.reshape(n_out, -1).T + b
    result = prod.reshape(x.shape[0], height, width, n_out).transpose(0, 3, 1, 2)
    return result.astype(x.dtype), (x, w, b, (step_h, step_w), (pad_h, pad_w))
""",
    },
}

# What each planted copy did to its original: the pairs that must be flagged.
PLANTED_PAIRS: dict[str, str] = {
    "copy_verbatim": "ada",
    "copy_renamed": "bo",
    "copy_reordered": "cy",
    "copy_comments": "dee",
    "paste_reference": "reference:cnnbook",
}


def _stubs() -> dict[str, str]:
    """Each task's first two lines in the release (signature and docstring).

    Without a body they are the release's stub minus its ``raise``: a task not attempted.
    """
    release = nbformat.read(release_notebook(ASSIGNMENT, course_root()), as_version=4)
    out = {}
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in TASKS:
            out[grade_id] = "\n".join(cell.source.splitlines()[:2])
    return out


def _cells(bodies: dict[str, str]) -> dict[str, str]:
    stubs = _stubs()
    return {task: stubs[task] + bodies[task].rstrip() + "\n" for task in TASKS}


def _rename(code: str) -> str:
    """Every local name replaced, as a student hiding a copy would."""
    names = {"sy": "v_step", "sx": "h_step", "py": "v_pad", "px": "h_pad", "padded": "xpad"}
    names |= {"outs": "all_out", "per_filter": "maps", "region": "blk", "view": "windows5"}
    names |= {"rows": "ridx", "cols": "cidx", "out": "result", "oh": "H2", "ow": "W2"}
    for old, new in names.items():
        code = re.sub(rf"\b{old}\b", new, code)
    return code


def _comment(code: str) -> str:
    """Every line given a new comment, and the blank lines doubled."""
    lines = []
    for i, line in enumerate(code.splitlines()):
        if line.strip() and not line.lstrip().startswith(('"""', "def ")):
            lines.append(f"{line}  # step {i}: my own idea")
        else:
            lines.append(line)
    return "\n\n".join(lines)


def _reference_paste() -> dict[str, str]:
    """numpy_ref's pad2d and conv2d_forward pasted under the release's names."""
    from cnnbook.numpy_ref import conv, padding

    cells = dict(_stubs())  # the naive one not attempted (the release's stub), the others pasted
    cells["pad2d"] = inspect.getsource(padding.pad2d) + "\n" + inspect.getsource(padding.zero_pad)
    cells["conv2d_forward"] = inspect.getsource(conv.conv2d_forward)
    return cells


def make_class() -> tuple[dict[str, list[str]], set[str], dict[str, str]]:
    """The generated class: student -> answer cells, the honest students, the planted pairs."""
    root = course_root()
    source = nbformat.read(source_notebook(ASSIGNMENT, root), as_version=4)
    students = {name: list(_cells(bodies).values()) for name, bodies in HONEST.items()}
    students["solution"] = [answer_code(source, source)]
    honest = set(students)
    students["copy_verbatim"] = list(students["ada"])
    students["copy_renamed"] = [_rename(cell) for cell in students["bo"]]
    students["copy_reordered"] = list(reversed(students["cy"]))
    students["copy_comments"] = [_comment(cell) for cell in students["dee"]]
    students["paste_reference"] = list(_reference_paste().values())
    return students, honest, PLANTED_PAIRS


def measure(threshold: float = DEFAULT_THRESHOLD) -> dict[str, object]:
    """Recall on the planted pairs and false positives among the honest ones, at ``threshold``.

    The honest pairs are every pair of honest students and every honest student with every
    reference, except the solution notebook with the references: it is the instructor's code,
    which the package's reference was written from.
    """
    from cnnbook.grading.similarity import package_reference

    students, honest, planted = make_class()
    release = nbformat.read(release_notebook(ASSIGNMENT, course_root()), as_version=4)
    boilerplate = "\n\n".join(c.source for c in release.cells if c.cell_type == "code")
    documents = {name: "\n\n".join(cells) for name, cells in students.items()}
    references = {"cnnbook": package_reference()[0]}
    pairs, _ = compare_texts(documents, references, boilerplate, threshold)
    by_pair = {(p.a, p.b): p for p in pairs} | {(p.b, p.a): p for p in pairs}
    found = [by_pair[(copy, original)] for copy, original in planted.items()]
    honest_pairs = [
        p
        for p in pairs
        if p.a in honest and (p.b in honest or (p.is_reference and p.a != "solution"))
    ]
    false_pos = [p for p in honest_pairs if p.flagged]
    return {
        "recall": sum(p.flagged for p in found) / len(found),
        "false_positive_rate": len(false_pos) / len(honest_pairs),
        "planted": found,
        "honest": honest_pairs,
        "false_positives": false_pos,
    }


def test_planted_copies_flagged_and_honest_solutions_not() -> None:
    result = measure()
    planted = {(p.a, p.b): round(p.score, 2) for p in result["planted"]}
    worst_honest = max(result["honest"], key=lambda p: p.score)
    print(f"recall {result['recall']:.2f}, false positives {result['false_positive_rate']:.3f}")
    assert result["recall"] == 1.0, planted
    assert result["false_positives"] == [], [(p.a, p.b, p.score) for p in result["false_positives"]]
    # a margin on both sides of the threshold, so a small change of scores is noticed
    assert min(p.score for p in result["planted"]) >= DEFAULT_THRESHOLD + 0.1, planted
    assert worst_honest.score <= DEFAULT_THRESHOLD - 0.1, (worst_honest.a, worst_honest.b)


def test_answer_code_keeps_solution_and_added_cells_only() -> None:
    source = nbformat.read(source_notebook(ASSIGNMENT, course_root()), as_version=4)
    submission = nbformat.read(release_notebook(ASSIGNMENT, course_root()), as_version=4)
    submission.cells.append(nbformat.v4.new_code_cell("my_helper = 42"))
    for cell in submission.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_pad2d":
            cell.source = "edited_test_cell = 1"
    code = answer_code(submission, source)
    assert "my_helper = 42" in code
    assert "def conv2d_backward" in code
    assert "edited_test_cell" not in code and "check_close" not in code


def test_threshold_out_of_range() -> None:
    with pytest.raises(ValueError, match="threshold"):
        compare_texts({"a": "x = 1"}, threshold=0)


def _course(tmp_path: Path) -> Path:
    """A course folder with the real source and release of 02 and the generated class."""
    root = course_root()
    course = tmp_path / "course"
    for folder in ("solutions", "exercises"):
        shutil.copytree(root / folder / ASSIGNMENT, course / folder / ASSIGNMENT)
    (course / "nbgrader_config.py").write_text("")
    students, _, _ = make_class()
    release = nbformat.read(release_notebook(ASSIGNMENT, root), as_version=4)
    for name, cells in students.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [c for c in release.cells if c.cell_type != "code"][:1]
        nb.cells += [nbformat.v4.new_code_cell(code) for code in cells]
        out = course / "submitted" / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        out.parent.mkdir(parents=True)
        nbformat.write(nb, out)
    broken = course / "submitted" / "broken" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    return course


def test_cli_writes_csv_and_html(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    course = _course(tmp_path)
    out = tmp_path / "report"
    code = main(["similarity", ASSIGNMENT, "--root", str(course), "--output-dir", str(out)])
    assert code == 0
    with (out / f"similarity-{ASSIGNMENT}.csv").open() as f:
        rows = list(csv.DictReader(f))
    flagged = {(r["student_a"], r["student_b"]) for r in rows if r["flagged"] == "yes"}
    for copy, original in PLANTED_PAIRS.items():
        assert (copy, original) in flagged or (original, copy) in flagged
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    page = (out / f"similarity-{ASSIGNMENT}.html").read_text()
    assert "<mark>" in page and "paste_reference" in page and "http" not in page.split("<body>")[0]
    assert "broken: not compared" in capsys.readouterr().err
    pasted = next(
        r
        for r in rows
        if r["student_a"] == "paste_reference" and r["student_b"] == "reference:cnnbook"
    )
    assert pasted["where"].split(" (")[0] in ("numpy_ref/conv.py", "numpy_ref/padding.py")


def test_cli_unknown_assignment_and_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    course = _course(tmp_path)
    assert main(["similarity", "99-nothing", "--root", str(course)]) == 2
    assert "99-nothing" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["similarity", ASSIGNMENT, "--root", str(course), "--submitted", str(missing)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["similarity", ASSIGNMENT, "--root", str(course), "--threshold", "1.5"]) == 2
    assert "threshold" in capsys.readouterr().err
    assert main(["similarity", "03-activations", "--root", str(course)]) == 2
    assert "source notebook" in capsys.readouterr().err
    shutil.rmtree(course / "exercises")
    assert main(["similarity", ASSIGNMENT, "--root", str(course)]) == 2
    assert "release notebook" in capsys.readouterr().err
    assert not list(course.glob("similarity-*"))


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_solutions_are_correct(student: str) -> None:
    """The honest class is made of working answers, not of code that merely looks different."""
    import numpy as np

    from cnnbook import numpy_ref

    namespace: dict = {"np": np}
    for code in _cells(HONEST[student]).values():
        exec(code, namespace)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), np.ones(4)
    for mode in ("zeros", "reflect", "replicate"):
        expected = numpy_ref.pad2d(x, (2, 1), mode)
        np.testing.assert_allclose(namespace["pad2d"](x, (2, 1), mode), expected)
    for stride, padding in ((1, 0), ((2, 1), (1, 2)), (2, 1)):
        expected = numpy_ref.conv2d_forward(x, w, b, stride, padding)[0]
        for task in ("conv2d_forward_naive", "conv2d_forward"):
            got = namespace[task](x, w, b, stride, padding)[0]
            np.testing.assert_allclose(got, expected, err_msg=task)


def test_planted_copies_differ_from_their_originals() -> None:
    """Each disguise really changed the text, so a flag is not a plain string match."""
    students, _, planted = make_class()
    for copy, original in planted.items():
        if copy == "copy_verbatim" or original.startswith("reference:"):
            continue
        assert "\n\n".join(students[copy]) != "\n\n".join(students[original]), copy
