"""Per-offering variants (solutions/<assignment>/variants/<k>.yaml): every variant's solution scores
full marks, its untouched release scores zero, each realistic mistake loses points on the task it
breaks, and its release (generated on demand, never committed) gives nothing away and follows the
variant. The oracles are PyTorch, in the overlays' own test cells."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from cnnbook.grading.assignments import ASSIGNMENTS, source_notebook
from cnnbook.grading.pipeline import grade_assignment
from cnnbook.grading.release import _nbgrader_release, generate_release
from cnnbook.grading.variants import (
    VariantError,
    apply_overlay,
    available_variants,
    configured_variant,
    load_overlay,
    stage_source,
    variant_source,
)

ROOT = Path(__file__).resolve().parents[2]

# the helpers of the base assignments' grading test, imported rather than copied
_spec = importlib.util.spec_from_file_location(
    "_autograde_helpers", Path(__file__).with_name("test_autograde.py")
)
_autograde = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_autograde)
_submit, _with_mistake = _autograde._submit, _autograde._with_mistake

# (name, solution cell grade_id, text in that cell of the variant, its replacement, test cells
# that lose points), per (assignment, variant)
# fmt: off
MISTAKES: dict[tuple[str, int], list[tuple[str, str, str, str, list[str]]]] = {
    ("03-activations", 1): [
        ("ELU gradient 1 at zero", "leaky_relu",
         "np.where(x > 0, 1.0, alpha", "np.where(x >= 0, 1.0, alpha", ["test_leaky_relu"]),
        ("ELU gradient forgets exp(x)", "leaky_relu",
         "alpha * np.exp(np.minimum(x, 0))", "alpha", ["test_leaky_relu"]),
        ("ELU without the - 1", "leaky_relu",
         "alpha * np.expm1(np.minimum(x, 0))", "alpha * np.exp(np.minimum(x, 0))",
         ["test_leaky_relu"]),
        ("ELU overflows for large x", "leaky_relu",
         "alpha * np.expm1(np.minimum(x, 0))", "alpha * np.expm1(x)",
         ["test_leaky_relu_hidden"]),
        ("ELU ignores alpha in the forward pass", "leaky_relu",
         "negative = alpha * np.expm1", "negative = np.expm1", ["test_leaky_relu"]),
        ("temperature multiplies the logits", "softmax",
         "scaled = logits / np.asarray", "scaled = logits * np.asarray", ["test_softmax"]),
        ("temperature not checked", "softmax",
         "raise ValueError(f\"temperature", "pass  # (f\"temperature", ["test_softmax"]),
        ("temperature applied after the shift, unstable", "softmax",
         "shifted = scaled - scaled.max(axis=axis, keepdims=True)", "shifted = scaled",
         ["test_softmax"]),
    ],
    ("03-activations", 2): [
        ("clipped ReLU ignores max_value", "relu",
         "        out = np.minimum(out, max_value)\n", "        pass\n", ["test_relu"]),
        ("clipped ReLU gradient passes at the clip", "relu",
         "active &= x < max_value", "active &= x <= max_value", ["test_relu"]),
        ("ReLU gradient passes at zero", "relu", "active = x > 0", "active = x >= 0",
         ["test_relu"]),
        ("clip of 6 whatever max_value says", "relu",
         "out = np.minimum(out, max_value)", "out = np.minimum(out, 6.0)",
         ["test_relu_hidden"]),
        ("GELU derivative without the product rule", "leaky_relu",
         "slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du", "slope = 0.5 * (1 + t)",
         ["test_leaky_relu"]),
        ("GELU without the cubic term", "leaky_relu",
         "(x + 0.044715 * x**3)", "x", ["test_leaky_relu"]),
        ("GELU with sqrt(2 pi) for sqrt(2 / pi)", "leaky_relu",
         "t = np.tanh(np.sqrt(2 / np.pi)", "t = np.tanh(np.sqrt(2 * np.pi)", ["test_leaky_relu"]),
        ("GELU derivative of x^3 taken as x^2", "leaky_relu",
         "(1 + 3 * 0.044715 * x**2)", "(1 + 0.044715 * x**2)", ["test_leaky_relu"]),
    ],
    ("05-batchnorm", 1): [
        ("channels taken from axis 1 (NCHW habit)", "batchnorm2d_forward",
         "channels = x.shape[3]", "channels = x.shape[1]", ["test_batchnorm2d_forward"]),
        ("statistics per image", "batchnorm2d_forward",
         "mean = x.mean(axis=(0, 1, 2))", "mean = x.mean(axis=(1, 2))",
         ["test_batchnorm2d_forward"]),
        ("unbiased variance used to normalise", "batchnorm2d_forward",
         "var = x.var(axis=(0, 1, 2))", "var = x.var(axis=(0, 1, 2), ddof=1)",
         ["test_batchnorm2d_forward"]),
        ("m counted as for NCHW", "batchnorm2d_forward",
         "m = x.shape[0] * x.shape[1] * x.shape[2]", "m = x.shape[0] * x.shape[2] * x.shape[3]",
         ["test_batchnorm2d_forward"]),
        ("eval mode uses batch statistics", "batchnorm2d_forward",
         "mean, var = running_mean, running_var",
         "mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))",
         ["test_batchnorm2d_forward"]),
        ("momentum the wrong way round", "batchnorm2d_forward",
         "new_mean = (1 - momentum) * running_mean + momentum * mean",
         "new_mean = momentum * running_mean + (1 - momentum) * mean",
         ["test_batchnorm2d_forward"]),
        ("backward m counted as for NCHW", "batchnorm2d_backward",
         "m = dout.shape[0] * dout.shape[1] * dout.shape[2]",
         "m = dout.shape[0] * dout.shape[2] * dout.shape[3]", ["test_batchnorm2d_backward"]),
        ("backward forgets the mean term", "batchnorm2d_backward",
         "        - dxhat.sum(axis=(0, 1, 2))\n", "", ["test_batchnorm2d_backward"]),
        ("dgamma without xhat", "batchnorm2d_backward",
         "dgamma = (dout * xhat).sum(axis=(0, 1, 2))", "dgamma = dout.sum(axis=(0, 1, 2))",
         ["test_batchnorm2d_backward"]),
    ],
    ("05-batchnorm", 2): [
        ("statistics over the batch (batch norm)", "batchnorm2d_forward",
         "mean = x.mean(axis=(2, 3), keepdims=True)",
         "mean = x.mean(axis=(0, 2, 3), keepdims=True)",
         ["test_batchnorm2d_forward"]),
        ("biased variance in the running estimate", "batchnorm2d_forward",
         "unbiased = var * (m / (m - 1))", "unbiased = var", ["test_batchnorm2d_forward"]),
        ("unbiased correction with m = N H W", "batchnorm2d_forward",
         "unbiased = var * (m / (m - 1))",
         "unbiased = var * (m * x.shape[0] / (m * x.shape[0] - 1))", ["test_batchnorm2d_forward"]),
        ("running mean from the first image only", "batchnorm2d_forward",
         "momentum * mean.mean(axis=(0, 2, 3))", "momentum * mean[0].ravel()",
         ["test_batchnorm2d_forward"]),
        ("eval mode uses the instance statistics", "batchnorm2d_forward",
         "mean, var = running_mean.reshape(1, -1, 1, 1), running_var.reshape(1, -1, 1, 1)",
         "mean, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)",
         ["test_batchnorm2d_forward"]),
        ("backward with batch-norm sums", "batchnorm2d_backward",
         "- dxhat.sum(axis=(2, 3), keepdims=True)", "- dxhat.sum(axis=(0, 2, 3), keepdims=True)",
         ["test_batchnorm2d_backward"]),
        ("backward m = N H W", "batchnorm2d_backward",
         "m = dout.shape[2] * dout.shape[3]", "m = dout.shape[0] * dout.shape[2] * dout.shape[3]",
         ["test_batchnorm2d_backward"]),
        ("dbeta per image", "batchnorm2d_backward",
         "dbeta = dout.sum(axis=(0, 2, 3))", "dbeta = dout.sum(axis=(2, 3))",
         ["test_batchnorm2d_backward"]),
    ],
    ("04-pooling", 1): [
        ("max pooling pads with zeros", "max_pool2d",
         "x, kernel_size, stride, padding, -np.inf", "x, kernel_size, stride, padding, 0.0",
         ["test_max_pool2d"]),
        ("max-pool dx keeps the padding", "max_pool2d",
         "return dxp[:, :, ph : ph + h, pw : pw + w]", "return dxp", ["test_max_pool2d"]),
        ("max-pool dx cropped at the wrong offset", "max_pool2d",
         "return dxp[:, :, ph : ph + h, pw : pw + w]", "return dxp[:, :, :h, :w]",
         ["test_max_pool2d"]),
        ("padding on one side only", "max_pool2d",
         "((0, 0), (0, 0), (ph, ph), (pw, pw))", "((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw))",
         ["test_max_pool2d", "test_avg_pool2d"]),
        ("padding limit not checked", "max_pool2d",
         " or 2 * ph > kh or 2 * pw > kw", "", ["test_max_pool2d_hidden"]),
        ("average pooling ignores its padding", "avg_pool2d",
         "_pool_windows(x, kernel_size, stride, padding, 0.0)",
         "_pool_windows(x, kernel_size, stride, 0, 0.0)", ["test_avg_pool2d"]),
        ("average excludes the padding from the count", "avg_pool2d",
         "out = windows.mean(axis=(4, 5))",
         "ones = np.pad(np.ones(x.shape[2:]), ((ph, ph), (pw, pw)))\n"
         "    count = np.lib.stride_tricks.sliding_window_view(ones, (kh, kw))[::sh, ::sw]\n"
         "    out = windows.sum(axis=(4, 5)) / count.sum(axis=(2, 3))", ["test_avg_pool2d"]),
        ("average gradient not divided", "avg_pool2d",
         "share = dout / (kh * kw)", "share = dout", ["test_avg_pool2d"]),
    ],
    ("04-pooling", 2): [
        ("dilation ignored in the windows", "max_pool2d",
         "windows[:, :, ::sh, ::sw, ::dh, ::dw]", "windows[:, :, ::sh, ::sw, :kh, :kw]",
         ["test_max_pool2d"]),
        ("max-pool gradient routed without the dilation", "max_pool2d",
         "r, q = u * dh, v * dw", "r, q = u, v", ["test_max_pool2d"]),
        ("stride None taken as the span", "max_pool2d",
         "sh, sw = (kh, kw) if stride is None",
         "sh, sw = (dh * (kh - 1) + 1, dw * (kw - 1) + 1) if stride is None",
         ["test_max_pool2d_hidden"]),
        ("one dilation for both axes", "max_pool2d",
         'dh, dw = _pair(dilation, "dilation")', 'dh = dw = _pair(dilation, "dilation")[0]',
         ["test_max_pool2d"]),
        ("padding counted in the mean", "avg_pool2d",
         "out = (windows.sum(axis=(4, 5)) / count)", "out = windows.mean(axis=(4, 5))",
         ["test_avg_pool2d"]),
        ("average gradient divided by the kernel size", "avg_pool2d",
         "share = dout / count", "share = dout / (kh * kw)", ["test_avg_pool2d"]),
        ("average dx keeps the padding", "avg_pool2d",
         "return dxp[:, :, ph : ph + h, pw : pw + w]", "return dxp", ["test_avg_pool2d"]),
    ],
    ("02-convolution", 1): [
        ("circular padding reflects", "pad2d",
         '"circular": "wrap"', '"circular": "reflect"', ["test_pad2d"]),
        ("circular padding repeats the edge", "pad2d",
         '"circular": "wrap"', '"circular": "symmetric"', ["test_pad2d"]),
        ("circular padding may wrap more than once", "pad2d",
         'if mode == "circular" and (ph > x.shape[2] or pw > x.shape[3]):',
         "if False:", ["test_pad2d_hidden"]),
        ("dilation ignored in the window", "conv2d_forward_naive",
         "xp[i, :, r * sh : r * sh + eh : dh, s * sw : s * sw + ew : dw]",
         "xp[i, :, r * sh : r * sh + kh, s * sw : s * sw + kw]", ["test_conv2d_forward_naive"]),
        ("output size from the kernel, not its span", "conv2d_forward_naive",
         "((hp - eh) // sh + 1, (wp - ew) // sw + 1)", "((hp - kh) // sh + 1, (wp - kw) // sw + 1)",
         ["test_conv2d_forward_naive"]),
        ("dilation multiplies the stride", "conv2d_forward_naive",
         "xp[i, :, r * sh : r * sh + eh : dh, s * sw : s * sw + ew : dw]",
         "xp[i, :, r * sh * dh : r * sh * dh + eh : dh, s * sw * dw : s * sw * dw + ew : dw]",
         ["test_conv2d_forward_naive"]),
        ("one dilation for both axes", "conv2d_forward_naive",
         'dh, dw = _pair(dilation, "dilation")\n    xp',
         'dh = dw = _pair(dilation, "dilation")[0]\n    xp',
         ["test_conv2d_forward_naive"]),
        ("flipped dilated kernel", "conv2d_forward_naive",
         "np.sum(window * w[o])", "np.sum(window * w[o, :, ::-1, ::-1])",
         ["test_conv2d_forward_naive"]),
    ],
    ("02-convolution", 2): [
        ("every group reads the first group's channels", "conv2d_forward",
         "windows[:, k * cg : (k + 1) * cg], w[k * og", "windows[:, :cg], w[k * og",
         ["test_conv2d_forward"]),
        ("kernels sliced by the input group size", "conv2d_forward",
         "w[k * og : (k + 1) * og], axes", "w[k * cg : (k + 1) * cg], axes",
         ["test_conv2d_forward"]),
        ("groups=0 not rejected", "conv2d_forward",
         "or groups < 1:", ":", ["test_conv2d_forward_hidden"]),
        ("dw from the first group's inputs", "conv2d_backward",
         "                windows[:, k * cg : (k + 1) * cg],", "                windows[:, :cg],",
         ["test_conv2d_backward"]),
        ("dx of every group into the first group's channels", "conv2d_backward",
         "dxp[:, k * cg : (k + 1) * cg, rows, cols]", "dxp[:, :cg, rows, cols]",
         ["test_conv2d_backward"]),
        ("db averaged over the batch", "conv2d_backward",
         "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(0, 2, 3)) / dout.shape[0]",
         ["test_conv2d_backward"]),
    ],
}
# fmt: on

VARIANTS = sorted(MISTAKES)


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(nb, grade_id: str):
    (cell,) = [c for c in nb.cells if _grade_id(c) == grade_id]
    return cell


def test_every_offered_variant_is_tested() -> None:
    offered = {(a, k) for a in ASSIGNMENTS for k in available_variants(a, ROOT) if k}
    assert offered == set(VARIANTS), "a variant without its grading test, or a test without it"
    for assignment in ("02-convolution", "03-activations", "04-pooling", "05-batchnorm"):
        assert len(available_variants(assignment, ROOT)) >= 3, f"{assignment}: fewer than 3"


@pytest.mark.parametrize("key", VARIANTS, ids=[f"{a}-v{k}" for a, k in VARIANTS])
def test_overlay_changes_tasks_and_keeps_the_rest(key: tuple[str, int]) -> None:
    assignment, k = key
    base = nbformat.read(source_notebook(assignment, ROOT), as_version=4)
    overlay = load_overlay(assignment, k, ROOT)
    assert overlay.get("title")
    nb = variant_source(assignment, k, ROOT)
    assert [_grade_id(c) for c in nb.cells] == [_grade_id(c) for c in base.cells]
    changed = set(overlay["cells"])
    solutions = {g for g in changed if _cell(base, g).metadata["nbgrader"].get("solution")}
    assert solutions, "a variant changes at least one task"
    for grade_id in changed:
        assert _cell(nb, grade_id).source != _cell(base, grade_id).source, grade_id
    # each changed task changes its text, its solution, its visible and its hidden test together
    kinds = [_cell(base, g).metadata["nbgrader"] for g in changed]
    assert sum(m.get("solution", False) for m in kinds) == len(solutions)
    assert sum(m.get("grade", False) for m in kinds) == 2 * len(solutions)
    assert sum(_cell(base, g).cell_type == "markdown" for g in changed) >= len(solutions)
    for grade_id in overlay.get("edits") or {}:
        assert _cell(nb, grade_id).source != _cell(base, grade_id).source, grade_id
        changed.add(grade_id)
    for cell, before in zip(nb.cells, base.cells, strict=True):
        if _grade_id(cell) not in changed:
            assert cell == before


def test_variant_zero_is_the_source_notebook() -> None:
    for assignment in ASSIGNMENTS:
        base = nbformat.read(source_notebook(assignment, ROOT), as_version=4)
        assert variant_source(assignment, 0, ROOT) == base


def test_overlay_that_no_longer_fits_fails_loudly() -> None:
    assignment, k = VARIANTS[0]
    overlay = load_overlay(assignment, k, ROOT)
    base = nbformat.read(source_notebook(assignment, ROOT), as_version=4)
    gone = next(iter(overlay["cells"]))
    _cell(base, gone).metadata["nbgrader"]["grade_id"] = "renamed"
    with pytest.raises(VariantError, match=re.escape(repr(gone))):
        apply_overlay(base, overlay)
    solution = next(g for g in overlay["cells"] if "### BEGIN SOLUTION" in overlay["cells"][g])
    stripped = {**overlay, "cells": {solution: "def f():\n    pass\n"}}
    with pytest.raises(VariantError, match="BEGIN SOLUTION"):
        apply_overlay(nbformat.read(source_notebook(assignment, ROOT), as_version=4), stripped)
    with pytest.raises(VariantError, match="no variant 99"):
        load_overlay(assignment, 99, ROOT)


def test_course_configuration_chooses_the_variant(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    config = (ROOT / "nbgrader_config.py").read_text()
    assert "c.CnnBook.variant = 0" in config
    assignment, k = VARIANTS[0]
    for a in ASSIGNMENTS:
        assert configured_variant(a, ROOT) == 0
    (tmp_path / "nbgrader_config.py").write_text(f"{config}\nc.CnnBook.variant = {k}\n")
    assert configured_variant(assignment, tmp_path) == k
    assert configured_variant("01-mlp-to-cnn", tmp_path) == 0  # it has no variants
    (tmp_path / "nbgrader_config.py").write_text(
        f"{config}\nc.CnnBook.variant = {k}\nc.CnnBook.variants = {{{assignment!r}: 0}}\n"
    )
    assert configured_variant(assignment, tmp_path) == 0
    (tmp_path / "nbgrader_config.py").write_text(f"{config}\nc.CnnBook.variant = 99\n")
    with pytest.raises(VariantError, match="no variant 99"):
        configured_variant(assignment, tmp_path)
    with pytest.raises(VariantError, match="no variant 99"):
        generate_release(tmp_path / "out", root=tmp_path, assignment=assignment)


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """Every variant's release, generated on demand by one nbgrader run on a staged source."""
    staged = tmp_path_factory.mktemp("staged")
    out = tmp_path_factory.mktemp("release")
    for assignment, k in VARIANTS:
        stage_source(assignment, k, staged, ROOT, name=f"{assignment}-v{k}")
    _nbgrader_release(ROOT, out, "*", staged)
    return {(a, k): out / f"{a}-v{k}" / f"{a}.ipynb" for a, k in VARIANTS}


MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS")
REGION = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END[^\n]*", flags=re.S)


@pytest.mark.parametrize("key", VARIANTS, ids=[f"{a}-v{k}" for a, k in VARIANTS])
def test_variant_release_follows_the_variant_and_hides_its_answers(key, releases) -> None:
    assignment, k = key
    path = releases[key]
    assert [p.name for p in path.parent.iterdir()] == [path.name], "only the notebook is released"
    source = variant_source(assignment, k, ROOT)
    release = nbformat.read(path, as_version=4)
    hidden, public = set(), set()
    for cell in source.cells:
        for block in REGION.findall(cell.source):
            hidden |= {line.strip() for line in block.splitlines() if len(line.strip()) > 12}
        public |= {line.strip() for line in REGION.sub("", cell.source).splitlines()}
    hidden -= public
    overlay = load_overlay(assignment, k, ROOT)
    for cell in release.cells:
        assert not MARKERS.search(cell.source)
        leaked = [line for line in cell.source.splitlines() if line.strip() in hidden]
        assert not leaked, f"solution or hidden-test lines in the release: {leaked[:3]}"
        grade_id = _grade_id(cell)
        if grade_id not in overlay["cells"]:
            continue
        meta = cell.metadata["nbgrader"]
        if cell.cell_type == "markdown":  # the task's text is the variant's, word for word
            assert cell.source == _cell(source, grade_id).source
        elif meta.get("solution"):  # the variant's signatures, the body a stub
            assert "raise NotImplementedError()" in cell.source
            public = REGION.sub("", _cell(source, grade_id).source)
            for signature in re.findall(r"^def [^\n]*", public, re.M):
                assert signature in cell.source
        elif meta.get("grade"):  # the visible test is the variant's
            assert cell.source == REGION.sub("", _cell(source, grade_id).source).rstrip("\n") or (
                "### BEGIN HIDDEN TESTS" in _cell(source, grade_id).source
            )


def _trimmed_root(folder: Path, assignment: str, k: int) -> Path:
    """A course root whose base notebook keeps no autograded test after the variant's last changed
    cell: the mistakes break only the variant's tasks, and grading them skips the later tasks."""
    folder.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(source_notebook(assignment, ROOT).parent, folder / "solutions" / assignment)
    path = source_notebook(assignment, folder)
    base = nbformat.read(path, as_version=4)
    changed = set(load_overlay(assignment, k, ROOT)["cells"])
    last = max(i for i, c in enumerate(base.cells) if _grade_id(c) in changed)
    base.cells = [
        c for i, c in enumerate(base.cells)
        if i <= last or not (c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    ]  # fmt: skip
    nbformat.write(base, path)
    return folder


def _grade(assignment: str, k: int, root: Path, submitted: Path) -> dict:
    results = grade_assignment(
        assignment, root=root, submitted_dir=submitted, progress=False, jobs=2, variant=k
    )
    return {r.student: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("key", VARIANTS, ids=[f"{a}-v{k}" for a, k in VARIANTS])
def test_variant_solution_release_and_mistakes(key, releases, tmp_path: Path) -> None:
    assignment, k = key
    source = variant_source(assignment, k, ROOT)
    whole, trimmed = tmp_path / "whole", tmp_path / "trimmed"
    _submit(whole, "solution", assignment, source)
    _submit(whole, "release", assignment, nbformat.read(releases[key], as_version=4))
    _submit(whole, "variant0", assignment, nbformat.read(source_notebook(assignment, ROOT), 4))

    # the whole notebook: the solution scores full marks, the release zero
    results = _grade(assignment, k, ROOT, whole)
    full = results["solution"]
    assert full.status == "ok", full.message
    assert full.total == full.max_score > 0, f"solution scores {full.scores}"
    blank = results["release"]
    assert blank.status == "ok" and blank.total == 0, f"release scores {blank.scores}"
    # variant 0's answers (a previous offering's, or the package's) fail every changed task
    base = results["variant0"]
    changed = [g for g in load_overlay(assignment, k, ROOT)["cells"] if g in base.scores]
    hidden = [g for g in changed if "### BEGIN HIDDEN TESTS" in _cell(source, g).source]
    assert hidden and all(base.scores[g] == 0 for g in hidden), f"variant 0 scores {base.scores}"

    # each mistake loses the points of the test cells it breaks (graded up to the variant's tasks)
    root = _trimmed_root(tmp_path / "root", assignment, k)
    source = variant_source(assignment, k, root)
    mistakes = MISTAKES[key]
    assert len(mistakes) >= 6
    for i, (_, grade_id, old, new, _) in enumerate(mistakes):
        _submit(trimmed, f"mistake{i:02d}", assignment, _with_mistake(source, grade_id, old, new))
    results = _grade(assignment, k, root, trimmed)
    for i, (name, _, _, _, lost) in enumerate(mistakes):
        result = results[f"mistake{i:02d}"]
        assert result.status == "ok", result.message
        assert result.total < result.max_score, f"mistake '{name}' kept full marks"
        for grade_id in lost:
            assert result.scores[grade_id] == 0, (
                f"mistake '{name}' should fail {grade_id}; scores: {result.scores}"
            )
