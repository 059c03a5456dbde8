"""The book's networks, all for 1x28x28 grey images and ten classes unless told otherwise.

build_reference_cnn   the 421,642-parameter network of chapter 6 (the assignment's contract)
build_small_cnn       one convolution, one pooling, one linear layer (trained in NumPy too)
build_lenet5          LeNet-5 (LeCun et al., 1998) adapted to 28x28 input
build_reference_cnn_bn  the reference network with batch normalisation after each convolution
build_mlp             a fully connected baseline; ``mlp_width_for_params`` matches a budget
count_parameters, shape_table  what a network holds and what each layer outputs
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "build_reference_cnn",
    "build_reference_cnn_bn",
    "build_small_cnn",
    "build_lenet5",
    "build_mlp",
    "mlp_width_for_params",
    "mlp_num_params",
    "count_parameters",
    "ShapeRow",
    "ShapeTable",
    "shape_table",
]


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: got {value!r}, expected a positive int")
    return value


def _check_probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name}: got {value!r}, expected a number in [0, 1)")
    return float(value)


def build_reference_cnn() -> nn.Sequential:
    """The reference CNN of chapter 6, layer for layer as the syllabus states it.

    ``Conv(1->32, 3, pad 1) -> ReLU -> MaxPool 2 -> Conv(32->64, 3, pad 1) -> ReLU -> MaxPool 2
    -> Flatten (64*7*7 = 3136) -> Dropout 0.25 -> Linear(3136->128) -> Linear(128->10)``.

    There is deliberately no nonlinearity between the two linear layers: that is the contract of
    the assignment (421,642 parameters, layer indices fixed). The two layers therefore compose to
    one linear map of rank at most 128 (a factorised linear classifier on the 3136 features); a
    ReLU between them would add no parameter but would shift the indices the assignment uses.

    Returns:
        an ``nn.Sequential`` with 421,642 trainable parameters.

    Shape:
        input ``(N, 1, 28, 28)``, output ``(N, 10)`` logits (no softmax).
    """
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 7 * 7, 128),
        nn.Linear(128, 10),
    )


def build_reference_cnn_bn(num_classes: int = 10, *, dense_bn: bool = False) -> nn.Sequential:
    """The reference CNN with ``BatchNorm2d`` between each convolution and its ReLU.

    The convolutions drop their bias, because the batch norm's beta plays that role (a bias added
    before the per-channel mean is subtracted would cancel out). Dropout stays after the
    convolutional part, after BN and activation, as chapter 5 recommends.

    Args:
        num_classes: size of the final linear layer.
        dense_bn: also put a ``BatchNorm1d(128)`` between the two linear layers. Without it the
            dense part stays unnormalised and can overshoot at high learning rates (chapter 5).

    Returns:
        an ``nn.Sequential`` with ``421,738`` parameters for ten classes (``421,994`` with
        ``dense_bn``).

    Shape:
        input ``(N, 1, 28, 28)``, output ``(N, num_classes)`` logits.
    """
    _check_positive_int("num_classes", num_classes)
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(64 * 7 * 7, 128),
        *([nn.BatchNorm1d(128)] if dense_bn else []),
        nn.Linear(128, num_classes),
    )


def build_small_cnn(num_classes: int = 10) -> nn.Sequential:
    """The one-convolution network of chapter 6, small enough to train with NumPy layers.

    ``Conv(1->32, 3, no padding) -> ReLU -> MaxPool 2 -> Flatten (32*13*13 = 5408) ->
    Linear(5408->num_classes)``: 54,410 parameters for ten classes.

    Shape:
        input ``(N, 1, 28, 28)``, output ``(N, num_classes)`` logits.
    """
    _check_positive_int("num_classes", num_classes)
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, num_classes),
    )


def build_lenet5(num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 (LeCun et al., 1998), adapted to 28x28 input and modernised.

    The original network reads 32x32 images. Here the first convolution pads by 2, so a 28x28
    image gives the same 28x28 C1 maps that the original's 32x32 input gave, and every later
    size matches the paper: C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120, F6 84.
    Three further changes, all common in modern re-implementations: ReLU instead of the scaled
    tanh, max pooling instead of the trainable sub-sampling, and C3 connected to all six S2 maps
    (the paper used a sparse connection table); the output is a plain linear layer instead of
    the Euclidean RBF units. C5 is written as a linear layer on the flattened 16x5x5 maps, which
    is the same as a 5x5 convolution over a 5x5 input. 61,706 parameters for ten classes.

    Shape:
        input ``(N, 1, 28, 28)``, output ``(N, num_classes)`` logits.
    """
    _check_positive_int("num_classes", num_classes)
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def build_mlp(
    width: int,
    num_hidden: int = 2,
    *,
    in_features: int = 28 * 28,
    num_classes: int = 10,
    dropout: float = 0.0,
) -> nn.Sequential:
    """A fully connected baseline: Flatten, ``num_hidden`` x (Linear -> ReLU [-> Dropout]), Linear.

    Args:
        width: neurons in each hidden layer.
        num_hidden: number of hidden layers (0 gives a linear classifier).
        in_features: length of the flattened input (784 for 1x28x28).
        num_classes: size of the output layer.
        dropout: dropout probability after each hidden ReLU (0 disables it).

    Returns:
        an ``nn.Sequential`` with :func:`mlp_num_params` parameters.

    Shape:
        input ``(N, *)`` with ``in_features`` values per example, output ``(N, num_classes)``.
    """
    _check_positive_int("width", width)
    if isinstance(num_hidden, bool) or not isinstance(num_hidden, int) or num_hidden < 0:
        raise ValueError(f"num_hidden: got {num_hidden!r}, expected an int >= 0")
    _check_positive_int("in_features", in_features)
    _check_positive_int("num_classes", num_classes)
    dropout = _check_probability("dropout", dropout)
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = in_features
    for _ in range(num_hidden):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)


def mlp_num_params(
    width: int, num_hidden: int = 2, *, in_features: int = 28 * 28, num_classes: int = 10
) -> int:
    """Parameters of :func:`build_mlp` with these arguments (weights and biases of every layer)."""
    if num_hidden == 0:
        return in_features * num_classes + num_classes
    first = in_features * width + width
    middle = (num_hidden - 1) * (width * width + width)
    last = width * num_classes + num_classes
    return first + middle + last


def mlp_width_for_params(
    num_params: int, num_hidden: int = 2, *, in_features: int = 28 * 28, num_classes: int = 10
) -> int:
    """The hidden width whose :func:`build_mlp` comes closest to ``num_params`` parameters.

    Args:
        num_params: the parameter budget to match, e.g. ``count_parameters(build_reference_cnn())``.
        num_hidden: number of hidden layers (at least 1: without one there is no width to pick).
        in_features, num_classes: as in :func:`build_mlp`.

    Returns:
        the width (>= 1) minimising ``|mlp_num_params(width, ...) - num_params|``.

    Example:
        >>> mlp_width_for_params(421_642, num_hidden=1)
        530
    """
    _check_positive_int("num_params", num_params)
    _check_positive_int("num_hidden", num_hidden)

    def size(w: int) -> int:
        return mlp_num_params(w, num_hidden, in_features=in_features, num_classes=num_classes)

    # The count grows monotonically with the width: solve the quadratic a*w^2 + b*w + c = n,
    # then look at the integers around the root.
    a = num_hidden - 1
    b = in_features + 1 + (num_hidden - 1) + num_classes
    c = num_classes - num_params
    root = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    candidates = [w for w in range(int(root) - 1, int(root) + 3) if w >= 1] or [1]
    return min(candidates, key=lambda w: (abs(size(w) - num_params), w))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters in ``model`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@dataclass(frozen=True)
class ShapeRow:
    """One line of a shape table: a leaf layer, its output shape (without N), its parameters."""

    name: str
    layer: str
    output_shape: tuple[int, ...]
    num_params: int


class ShapeTable(list):
    """A list of :class:`ShapeRow` that prints as an aligned text table.

    ``str(table)`` gives plain text, ``table.to_markdown()`` a Markdown table for the book.
    """

    def total_params(self) -> int:
        return sum(row.num_params for row in self)

    def _cells(self) -> list[tuple[str, str, str]]:
        return [
            (f"{r.name}: {r.layer}", " x ".join(map(str, r.output_shape)), f"{r.num_params:,}")
            for r in self
        ]

    def to_text(self) -> str:
        header = ("layer", "output shape", "parameters")
        rows = [header, *self._cells(), ("total", "", f"{self.total_params():,}")]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}".rstrip() for r in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = ["| layer | output shape | parameters |", "|---|---|---:|"]
        lines += [f"| `{a}` | {b} | {c} |" for a, b, c in self._cells()]
        lines.append(f"| **total** | | **{self.total_params():,}** |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def shape_table(model: nn.Module, input_shape: tuple[int, ...] = (1, 28, 28)) -> ShapeTable:
    """Run one dummy example through ``model`` and list each leaf layer's output shape.

    Args:
        model: any module; its leaf modules (those without children) become the rows, in the
            order they run.
        input_shape: shape of one example without the batch dimension, e.g. ``(1, 28, 28)``.

    Returns:
        a :class:`ShapeTable` (a list of :class:`ShapeRow`); ``print(table)`` shows it.

    Shape:
        ``output_shape`` of each row excludes the batch dimension.

    Example:
        >>> print(shape_table(build_small_cnn()))  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: got {type(model).__name__}, expected a torch.nn.Module")
    if not isinstance(input_shape, (tuple, list)) or not all(
        isinstance(s, int) and s >= 1 for s in input_shape
    ):
        raise ValueError(f"input_shape: got {input_shape!r}, expected a tuple of positive ints")
    rows = ShapeTable()
    hooks = []

    def record(name: str):
        def hook(module: nn.Module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                n_params = sum(p.numel() for p in module.parameters(recurse=False))
                shape = tuple(output.shape[1:])
                rows.append(ShapeRow(name, type(module).__name__, shape, n_params))

        return hook

    for name, module in model.named_modules():
        is_leaf = not any(True for _ in module.children())
        if is_leaf:  # the model itself is a leaf only when it has no children
            hooks.append(module.register_forward_hook(record(name or type(module).__name__)))
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()  # batch norm with a batch of one would fail in training mode
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows
