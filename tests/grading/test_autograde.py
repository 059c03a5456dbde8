"""The real grading pipeline on the real notebooks: the solution scores full marks, the untouched
release scores zero, and realistic mistakes (one solution cell changed) lose points on the task
they break. Each assignment is graded in one parallel batch."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest

from cnnbook.grading.assignments import ASSIGNMENTS, release_notebook, source_notebook
from cnnbook.grading.pipeline import grade_assignment

ROOT = Path(__file__).resolve().parents[2]

# (name, solution cell grade_id, text in that cell, its replacement, test cells that lose points)
# fmt: off
MISTAKES: dict[str, list[tuple[str, str, str, str, list[str]]]] = {
    "01-mlp-to-cnn": [
        ("dense bias always counted", "dense_params",
         "(out_features if bias else 0)", "out_features", ["test_dense_params"]),
        ("conv params forget the input channels", "conv2d_params",
         "kh * kw * in_channels * out_channels", "kh * kw * out_channels", ["test_conv2d_params"]),
        ("rectangular kernel treated as square", "conv2d_params",
         "else tuple(kernel_size)", "else (kernel_size[0], kernel_size[0])",
         ["test_conv2d_params"]),
        ("output size without the + 1", "conv2d_output_size",
         "return (size + 2 * padding - span) // stride + 1",
         "return (size + 2 * padding - span) // stride", ["test_conv2d_output_size"]),
        ("padding counted on one side", "conv2d_output_size",
         "return (size + 2 * padding - span)", "return (size + padding - span)",
         ["test_conv2d_output_size"]),
        ("dilation ignored", "conv2d_output_size",
         "span = dilation * (kernel_size - 1) + 1", "span = kernel_size",
         ["test_conv2d_output_size"]),
        ("ceil instead of floor", "conv2d_output_size",
         "return (size + 2 * padding - span) // stride + 1",
         "return -(-(size + 2 * padding - span) // stride) + 1", ["test_conv2d_output_size"]),
        ("receptive field ignores strides", "receptive_field",
         "field += (kernel - 1) * jump", "field += kernel - 1", ["test_receptive_field"]),
    ],
    "02-convolution": [
        ("reflect padding repeats the edge", "pad2d",
         '"reflect": "reflect"', '"reflect": "symmetric"', ["test_pad2d"]),
        ("replicate padding pads zeros", "pad2d",
         '"replicate": "edge"', '"replicate": "constant"', ["test_pad2d"]),
        ("flipped kernel (true convolution)", "conv2d_forward_naive",
         "np.sum(window * w[o])", "np.sum(window * w[o, :, ::-1, ::-1])",
         ["test_conv2d_forward_naive"]),
        ("missing bias", "conv2d_forward_naive",
         "np.sum(window * w[o]) + b[o]", "np.sum(window * w[o])", ["test_conv2d_forward_naive"]),
        ("off-by-one output size", "conv2d_forward_naive",
         "((hp - kh) // sh + 1, (wp - kw) // sw + 1)", "((hp - kh) // sh, (wp - kw) // sw)",
         ["test_conv2d_forward_naive", "test_conv2d_forward"]),
        ("vectorised version loops over the batch", "conv2d_forward",
         "out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))",
         "out = np.stack([np.tensordot(windows[i], w, axes=([0, 3, 4], [1, 2, 3]))"
         " for i in range(x.shape[0])])", ["test_conv2d_forward"]),
        ("vectorised version ignores the stride", "conv2d_forward",
         "windows = windows[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]",
         "windows = windows[:, :, :ho, :wo]", ["test_conv2d_forward"]),
        ("db averaged over the batch", "conv2d_backward",
         "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(0, 2, 3)) / dout.shape[0]",
         ["test_conv2d_backward"]),
        ("dx keeps the padding", "conv2d_backward",
         "dx = dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]", "dx = dxp",
         ["test_conv2d_backward"]),
        ("dw from the first image only", "conv2d_backward",
         "dw = np.tensordot(dout, windows, axes=([0, 2, 3], [0, 2, 3]))",
         "dw = np.tensordot(dout[0], windows[0], axes=([1, 2], [1, 2]))",
         ["test_conv2d_backward"]),
        ("equivariance: input rolled along the wrong axes", "equivariance_error",
         "np.roll(x, (dy, dx), axis=(2, 3))", "np.roll(x, (dy, dx), axis=(3, 2))",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
        ("equivariance: output not shifted before comparing", "equivariance_error",
         "ys - np.roll(y, (dy, dx), axis=(2, 3))", "ys - y",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
        ("equivariance: output shifted the opposite way", "equivariance_error",
         "ys - np.roll(y, (dy, dx), axis=(2, 3))", "ys - np.roll(y, (-dy, -dx), axis=(2, 3))",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
        ("equivariance: normalised by the input's norm", "equivariance_error",
         "scale = np.linalg.norm(y)", "scale = np.linalg.norm(x)",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
        ("equivariance: padding ignored", "equivariance_error",
         "padding=padding)", "padding=0)",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
        ("equivariance: float shifts accepted", "equivariance_error",
         "isinstance(s, int | np.integer) and not isinstance(s, bool)",
         "isinstance(s, int | float | np.number) and not isinstance(s, bool)",
         ["test_equivariance_error", "test_equivariance_error_hidden"]),
    ],
    "03-activations": [
        ("ReLU gradient passes at zero", "relu",
         "np.where(x > 0, dout, 0)", "np.where(x >= 0, dout, 0)", ["test_relu"]),
        ("ReLU modifies its input", "relu",
         "return np.maximum(x, 0).astype(x.dtype, copy=False), x",
         "x[x < 0] = 0\n    return x, x", ["test_relu_hidden"]),
        ("leaky ReLU gradient forgets the slope", "leaky_relu",
         "np.where(x > 0, dout, negative_slope * dout)", "np.where(x > 0, dout, 0)",
         ["test_leaky_relu"]),
        ("sigmoid derivative without (1 - s)", "sigmoid_tanh",
         "return dout * s * (1 - s)", "return dout * s", ["test_sigmoid_tanh"]),
        ("sigmoid overflows", "sigmoid_tanh",
         "out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)",
         "out = 1 / (1 + np.exp(-x))", ["test_sigmoid_tanh_hidden"]),
        ("tanh derivative from x instead of tanh(x)", "sigmoid_tanh",
         "out = np.tanh(x)\n    return out, out", "out = np.tanh(x)\n    return out, x",
         ["test_sigmoid_tanh"]),
        ("unstable softmax", "softmax",
         "shifted = logits - logits.max(axis=axis, keepdims=True)", "shifted = logits",
         ["test_softmax"]),
        ("softmax normalised over the last axis", "softmax",
         "return e / e.sum(axis=axis, keepdims=True)", "return e / e.sum(axis=-1, keepdims=True)",
         ["test_softmax"]),
        ("dead units: a pre-activation of exactly 0 counted as alive", "dead_relu_fraction",
         "np.all(pre <= 0, axis=0)", "np.all(pre < 0, axis=0)",
         ["test_dead_relu_fraction", "test_dead_relu_fraction_hidden"]),
        ("dead units: the share of zero activations, not of units", "dead_relu_fraction",
         "np.mean(np.all(pre <= 0, axis=0))", "np.mean(pre <= 0)",
         ["test_dead_relu_fraction", "test_dead_relu_fraction_hidden"]),
        ("dead units: loss summed, not averaged, over the batch", "dead_relu_fraction",
         "dout = (out - y) / n", "dout = out - y", ["test_dead_relu_fraction_hidden"]),
        ("dead units: hidden biases never updated", "dead_relu_fraction",
         "b1 - lr * db1", "b1", ["test_dead_relu_fraction", "test_dead_relu_fraction_hidden"]),
        ("dead units: updates computed but never applied", "dead_relu_fraction",
         "w1, b1, w2, b2 = w1 - lr", "w1_, b1_, w2_, b2_ = w1 - lr",
         ["test_dead_relu_fraction", "test_dead_relu_fraction_hidden"]),
        ("dead units: W2's gradient from the pre-activation", "dead_relu_fraction",
         "dw2, db2 = dout.T @ h", "dw2, db2 = dout.T @ pre", ["test_dead_relu_fraction_hidden"]),
        ("dead units: gradient not multiplied by ReLU's derivative", "dead_relu_fraction",
         "dpre = relu_backward(dout @ w2, relu_cache)", "dpre = dout @ w2",
         ["test_dead_relu_fraction_hidden"]),
        ("dead units: one step too many", "dead_relu_fraction",
         "for _ in range(steps):", "for _ in range(steps + 1):",
         ["test_dead_relu_fraction_hidden"]),
        ("diagnosis: dead ReLUs blamed in a sigmoid network", "diagnose",
         '("B", "b")', '("C", "b")', ["test_diagnose_hidden"]),
        ("diagnosis: a lower learning rate as the remedy", "diagnose",
         '("B", "b")', '("B", "a")', ["test_diagnose_hidden"]),
    ],
    "04-pooling": [
        ("max-pool gradient sent to every window position", "max_pool2d",
         "routed = np.where(arg == u * kw + v, dout, 0)", "routed = dout", ["test_max_pool2d"]),
        ("overlapping windows overwrite instead of adding", "max_pool2d",
         "+= routed", "= routed", ["test_max_pool2d"]),
        ("stride None taken as 1", "max_pool2d",
         "sh, sw = (kh, kw) if stride is None", "sh, sw = (1, 1) if stride is None",
         ["test_max_pool2d_hidden", "test_avg_pool2d_hidden"]),
        ("average gradient not divided", "avg_pool2d",
         "share = dout / (kh * kw)", "share = dout", ["test_avg_pool2d"]),
        ("average gradient divided by kH squared", "avg_pool2d",
         "share = dout / (kh * kw)", "share = dout / (kh * kh)", ["test_avg_pool2d"]),
        ("global pooling over the wrong axes", "global_avg_pool2d",
         "x.mean(axis=(2, 3))", "x.mean(axis=(1, 2))", ["test_global_avg_pool2d"]),
        ("shift change: input never shifted", "pool_shift_change",
         "np.roll(x, (dy, dx), axis=(2, 3))", "x",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: rolled along the wrong axes", "pool_shift_change",
         "np.roll(x, (dy, dx), axis=(2, 3))", "np.roll(x, (dy, dx), axis=(3, 2))",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: normalised by the input's norm", "pool_shift_change",
         "scale = np.linalg.norm(p)", "scale = np.linalg.norm(x)",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: absolute, not relative", "pool_shift_change",
         "np.linalg.norm(ps - p) / scale", "np.linalg.norm(ps - p)",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: pooled with stride 1", "pool_shift_change",
         ", kernel_size)", ", kernel_size, 1)",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: average mode pools the maximum", "pool_shift_change",
         '"avg": avg_pool2d_forward}', '"avg": max_pool2d_forward}',
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: equivariance measured instead", "pool_shift_change",
         "np.linalg.norm(ps - p)", "np.linalg.norm(ps - np.roll(p, (dy, dx), axis=(2, 3)))",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: an unknown mode raises KeyError", "pool_shift_change",
         "if mode not in pools:", "if mode is None:",
         ["test_pool_shift_change", "test_pool_shift_change_hidden"]),
        ("shift change: an int shift moves rows only", "pool_shift_change",
         "pair = (shift, shift) if", "pair = (shift, 0) if", ["test_pool_shift_change_hidden"]),
    ],
    "05-batchnorm": [
        ("unbiased variance used to normalise", "batchnorm2d_forward",
         "var = x.var(axis=(0, 2, 3))", "var = x.var(axis=(0, 2, 3), ddof=1)",
         ["test_batchnorm2d_forward"]),
        ("biased variance in the running estimate", "batchnorm2d_forward",
         "momentum * var * (m / (m - 1))", "momentum * var", ["test_batchnorm2d_forward"]),
        ("momentum the wrong way round", "batchnorm2d_forward",
         "new_mean = (1 - momentum) * running_mean + momentum * mean",
         "new_mean = momentum * running_mean + (1 - momentum) * mean",
         ["test_batchnorm2d_forward"]),
        ("eval mode uses batch statistics", "batchnorm2d_forward",
         "mean, var = running_mean, running_var",
         "mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))",
         ["test_batchnorm2d_forward"]),
        ("eps outside the square root", "batchnorm2d_forward",
         "inv_std = 1.0 / np.sqrt(var + eps)", "inv_std = 1.0 / (np.sqrt(var) + eps)",
         ["test_batchnorm2d_forward_hidden"]),
        ("running mean updated in place", "batchnorm2d_forward",
         "new_mean = (1 - momentum) * running_mean + momentum * mean",
         "running_mean *= 1 - momentum\n        running_mean += momentum * mean\n"
         "        new_mean = running_mean", ["test_batchnorm2d_forward_hidden"]),
        ("backward forgets the mean term", "batchnorm2d_backward",
         "- dxhat.sum(axis=(0, 2, 3), keepdims=True)\n", "", ["test_batchnorm2d_backward"]),
        ("dgamma without xhat", "batchnorm2d_backward",
         "dgamma = (dout * xhat).sum(axis=(0, 2, 3))", "dgamma = dout.sum(axis=(0, 2, 3))",
         ["test_batchnorm2d_backward"]),
        ("dx not divided by m", "batchnorm2d_backward",
         "(inv_std / m)", "inv_std", ["test_batchnorm2d_backward"]),
        ("dx forgets gamma", "batchnorm2d_backward",
         "dxhat = dout * gamma.reshape(1, -1, 1, 1)", "dxhat = dout",
         ["test_batchnorm2d_backward"]),
    ],
    "06-training": [
        ("unstable cross-entropy", "softmax_cross_entropy",
         "shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits",
         ["test_softmax_cross_entropy_hidden"]),
        ("gradient not divided by the batch size", "softmax_cross_entropy",
         "(dlogits / n)", "dlogits", ["test_softmax_cross_entropy"]),
        ("momentum update in the wrong order", "sgd_momentum_step",
         "        v = momentum * v + g\n        new_params.append(p - lr * v)\n",
         "        new_params.append(p - lr * v)\n        v = momentum * v + g\n",
         ["test_sgd_momentum_step"]),
        ("decoupled weight decay", "sgd_momentum_step",
         "g = g + weight_decay * p", "p = p * (1 - lr * weight_decay)",
         ["test_sgd_momentum_step"]),
        ("ReLU between the linear layers", "build_reference_cnn",
         "nn.Linear(64 * 7 * 7, 128),", "nn.Linear(64 * 7 * 7, 128),\n        nn.ReLU(),",
         ["test_build_reference_cnn_hidden"]),
        ("no dropout", "build_reference_cnn",
         "nn.Dropout(0.25),", "", ["test_build_reference_cnn_hidden"]),
        ("no padding in the convolutions", "build_reference_cnn",
         "nn.Conv2d(1, 32, kernel_size=3, padding=1)", "nn.Conv2d(1, 32, kernel_size=3)",
         ["test_build_reference_cnn"]),
        ("gradients never cleared", "train_evaluate",
         "        optimizer.zero_grad()\n", "", ["test_train_evaluate"]),
        ("evaluation in training mode", "train_evaluate",
         "    model.eval()\n", "", ["test_train_evaluate"]),
        ("last batch loss returned", "train_evaluate",
         "return total / count", "return loss.item()", ["test_train_evaluate"]),
        ("only the learning rate checked for a negative value", "sgd_momentum_step",
         '(("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay))', '(("lr", lr),)',
         ["test_sgd_momentum_step_hidden"]),
        ("empty loader divides by zero", "train_evaluate",
         '    if count == 0:\n        raise ValueError("loader: it yielded no batch, expected at '
         'least one example")\n    return total / count', "    return total / count",
         ["test_train_evaluate_hidden"]),
        ("dropout without the 1 / (1 - p) scale", "dropout",
         "scale = keep.astype(x.dtype) / x.dtype.type(1.0 - p)", "scale = keep.astype(x.dtype)",
         ["test_dropout"]),
        ("dropout scaled by (1 - p)", "dropout",
         "scale = keep.astype(x.dtype) / x.dtype.type(1.0 - p)",
         "scale = keep.astype(x.dtype) * x.dtype.type(1.0 - p)", ["test_dropout"]),
        ("dropout keeps where u < p", "dropout", ">= p", "< p", ["test_dropout"]),
        ("dropout also in evaluation mode", "dropout",
         "if not training or p == 0.0:", "if p == 0.0:", ["test_dropout"]),
        ("dropout backward ignores the mask", "dropout",
         "return dout * scale", "return dout.copy()", ["test_dropout"]),
        ("float64 draws for a float32 mask", "dropout",
         ".random(x.shape, dtype=x.dtype)", ".random(x.shape)", ["test_dropout_hidden"]),
        ("dropout with p = 1 divides by zero", "dropout",
         "if p == 1.0:", "if p > 1.0:", ["test_dropout_hidden"]),
        ("early stopping: a tie counts as an improvement", "early_stopping",
         "if loss < best:", "if loss <= best:", ["test_early_stopping"]),
        ("early stopping: epochs counted from 0", "early_stopping",
         "enumerate(losses, start=1)", "enumerate(losses)", ["test_early_stopping"]),
        ("early stopping: patience off by one", "early_stopping",
         "if stale >= patience:", "if stale > patience:", ["test_early_stopping"]),
        ("early stopping: counter not reset by an improvement", "early_stopping",
         "best, best_epoch, stale = loss, epoch, 0", "best, best_epoch = loss, epoch",
         ["test_early_stopping_hidden"]),
        ("early stopping: best epoch over the whole history", "early_stopping",
         "return epoch, best_epoch", "return epoch, int(np.argmin(losses)) + 1",
         ["test_early_stopping"]),
        ("early stopping: stops past the end of the history", "early_stopping",
         "return len(losses), best_epoch", "return best_epoch + patience, best_epoch",
         ["test_early_stopping"]),
        ("early stopping: NaN accepted", "early_stopping",
         '    if not np.all(np.isfinite(losses)):\n'
         '        raise ValueError("val_losses: every loss must be finite")\n', "",
         ["test_early_stopping_hidden"]),
        ("run A: lower a weight decay it does not have", "diagnose",
         'return ("A", "Q")', 'return ("A", "R")', ["test_diagnose_a_hidden"]),
        ("run B taken for overfitting", "diagnose",
         'return ("B", "R")', 'return ("A", "Q")', ["test_diagnose_b_hidden"]),
        ("run B blamed on the learning rate", "diagnose",
         'return ("B", "R")', 'return ("C", "R")', ["test_diagnose_b_hidden"]),
    ],
    "07-transfer-learning": [
        ("batch norm left in training mode", "freeze",
         "            layer.train = types.MethodType(stay_in_eval, layer)\n"
         "            layer.training = False\n", "            pass\n", ["test_freeze"]),
        ("eval() once, undone by model.train()", "freeze",
         "            layer.train = types.MethodType(stay_in_eval, layer)\n", "",
         ["test_freeze"]),
        ("only weights frozen", "freeze",
         "    for p in module.parameters():\n        p.requires_grad_(False)\n",
         "    for name, p in module.named_parameters():\n"
         "        if name.endswith('weight'):\n            p.requires_grad_(False)\n",
         ["test_freeze"]),
        ("new head copies the frozen flag", "replace_head",
         "    parent_name, _, attr", "    new.requires_grad_(old.weight.requires_grad)\n"
         "    parent_name, _, attr", ["test_replace_head_hidden"]),
        ("head size hard-coded", "replace_head",
         "nn.Linear(old.in_features, num_classes", "nn.Linear(128, num_classes",
         ["test_replace_head"]),
        ("learning rates swapped", "param_groups",
         '"lr": head_lr},\n        {"params": base, "lr": base_lr}',
         '"lr": base_lr},\n        {"params": base, "lr": head_lr}', ["test_param_groups"]),
        ("head parameters in both groups", "param_groups",
         "if p.requires_grad and id(p) not in head_ids]", "if p.requires_grad]",
         ["test_param_groups"]),
        ("head never trained", "fine_tune",
         "for _ in range(300):", "for _ in range(0):", ["test_fine_tune"]),
        ("curve spread with ddof=0", "summarise_curve",
         "ddof=1", "ddof=0", ["test_summarise_curve"]),
        ("curve mean over the sizes", "summarise_curve",
         "means = accuracies.mean(axis=1)", "means = accuracies.mean(axis=0)",
         ["test_summarise_curve"]),
        ("curve: first size in the given order", "summarise_curve",
         "min(reaching)", "reaching[0]", ["test_summarise_curve_hidden"]),
        ("curve: a mean equal to the target does not reach it", "summarise_curve",
         "if m >= target]", "if m > target]", ["test_summarise_curve"]),
        ("curve: index instead of size", "summarise_curve",
         "[int(s) for s, m in zip(sizes, means, strict=True) if m >= target]",
         "[i for i, m in enumerate(means) if m >= target]", ["test_summarise_curve"]),
        ("curve: best seed instead of the mean", "summarise_curve",
         "zip(sizes, means, strict=True)", "zip(sizes, accuracies.max(axis=1), strict=True)",
         ["test_summarise_curve"]),
        ("curve: largest size when none reaches", "summarise_curve",
         "min(reaching) if reaching else None", "min(reaching) if reaching else int(sizes.max())",
         ["test_summarise_curve"]),
        ("curve: float32 summarised in float64", "summarise_curve",
         "accuracies = np.asarray(accuracies)",
         "accuracies = np.asarray(accuracies, dtype=np.float64)", ["test_summarise_curve_hidden"]),
        ("curve: one seed accepted", "summarise_curve",
         " or accuracies.shape[1] < 2", "", ["test_summarise_curve_hidden"]),
    ],
}
# fmt: on


def _with_mistake(source: nbformat.NotebookNode, grade_id: str, old: str, new: str):
    nb = copy.deepcopy(source)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert cell.metadata["nbgrader"]["solution"], f"{grade_id} is not a solution cell"
    assert old in cell.source, f"{old!r} is not in the solution cell {grade_id}"
    cell.source = cell.source.replace(old, new)
    return nb


def _submit(folder: Path, student: str, assignment: str, nb: nbformat.NotebookNode) -> None:
    path = folder / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_release_and_mistakes(assignment: str, tmp_path: Path) -> None:
    source = nbformat.read(source_notebook(assignment, ROOT), as_version=4)
    _submit(tmp_path, "solution", assignment, source)
    _submit(tmp_path, "release", assignment, nbformat.read(release_notebook(assignment, ROOT), 4))
    mistakes = MISTAKES[assignment]
    assert len(mistakes) >= 6
    for i, (_, grade_id, old, new, _) in enumerate(mistakes):
        _submit(tmp_path, f"mistake{i:02d}", assignment, _with_mistake(source, grade_id, old, new))

    results = {
        r.student: r
        for r in grade_assignment(assignment, root=ROOT, submitted_dir=tmp_path, progress=False)
    }

    full = results["solution"]
    assert full.status == "ok", full.message
    assert full.total == full.max_score > 0, f"solution scores {full.scores}"
    # Written answers (markdown cells that are both solution and grade cells) are graded by hand
    # in formgrader: the autograder gives them no column and leaves their points out of max_score.
    manual = {
        c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
        for c in source.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    }
    assert not set(manual) & set(full.scores), "a written answer was autograded"
    autograded = sum(
        c.metadata["nbgrader"]["points"]
        for c in source.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    )
    assert full.max_score == autograded, "max_score counts only the autograded cells"
    blank = results["release"]
    assert blank.status == "ok" and blank.total == 0, f"release scores {blank.scores}"
    for i, (name, _, _, _, lost) in enumerate(mistakes):
        result = results[f"mistake{i:02d}"]
        assert result.total < result.max_score, f"mistake '{name}' kept full marks"
        for grade_id in lost:
            assert grade_id in result.scores
            assert result.scores[grade_id] == 0, (
                f"mistake '{name}' should fail {grade_id}; scores: {result.scores}"
            )
