"""Tests of cnnbook.diagrams: every diagram draws quickly, the numbers it draws are right, and every
diagram cell of the chapters has alt text and a caption whose name the prose refers to.

Oracles: torch.nn.functional and autograd for the convolution's numbers, plain loops for the rest.
The numbers are read back from the drawn text (each carries a gid), so the test checks what a
reader sees.
"""

import inspect
import json
import re
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from cnnbook import diagrams, models
from cnnbook.diagrams import activations, conv, normalization, pooling, sharing, training, transfer

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
MODULES = [getattr(diagrams, name) for name in diagrams.__all__]
FUNCTIONS = [
    (module.__name__.rsplit(".", 1)[-1], name, getattr(module, name))
    for module in MODULES
    for name in module.__all__
]


def texts(fig: Figure) -> dict[str, str]:
    """gid -> text of every text artist that has a gid."""
    return {t.get_gid(): t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_gid()}


def number(text: str) -> float:
    """The last number in a label (after '='), true minus signs read as '-'."""
    found = re.findall(r"-?\d+(?:\.\d+)?", text.replace("\u2212", "-"))
    return float(found[-1])


def grid_values(fig: Figure, gid: str, shape: tuple[int, int]) -> np.ndarray:
    t = texts(fig)
    return np.array(
        [[number(t[f"{gid}[{i},{j}]"]) for j in range(shape[1])] for i in range(shape[0])]
    )


@pytest.mark.parametrize(
    ("module", "name", "func"), FUNCTIONS, ids=[f"{m}.{n}" for m, n, _ in FUNCTIONS]
)
def test_every_diagram_draws_a_figure_quickly(module, name, func):
    start = time.perf_counter()
    fig = func()
    assert isinstance(fig, Figure)
    assert 2 < fig.get_figwidth() <= 9.6, "wider than the book's column allows at full size"
    assert len(fig.axes[0].patches) > 0
    assert time.perf_counter() - start < 10.0  # about 0.5 s on an idle laptop core


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def test_sliding_window_output_cells_are_torch_conv2d():
    x = np.random.default_rng(0).integers(-3, 4, size=(6, 5)).astype(float)
    k = np.random.default_rng(1).integers(-2, 3, size=(3, 2)).astype(float)
    fig = conv.sliding_window(x, k, positions=[(0, 1), (3, 2)])
    expected = F.conv2d(_t(x)[None, None], _t(k)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(grid_values(fig, "Y", expected.shape), expected)
    assert number(texts(fig)["sum"]) == expected[3, 2]
    assert texts(fig)["sum"].startswith("Y[3, 2] = ")


def test_padding_stride_sizes_are_pytorchs():
    cases = [(5, 3, 1, 0), (7, 3, 2, 1), (6, 3, 2, 0), (8, 5, 3, 2)]
    fig = conv.padding_stride(cases)
    for n, (size, k, s, p) in enumerate(cases):
        out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, k, k), stride=s, padding=p)
        assert number(texts(fig)[f"size{n}"]) == out.shape[-1]


def test_multichannel_value_and_partial_sums():
    fig = conv.multichannel(position=(2, 1))
    x = conv._ints((3, 5, 5), 0, 3, seed=1)
    w = conv._ints((4, 3, 3, 3), -1, 1, seed=2)
    b = np.arange(1.0, 5.0)
    y = F.conv2d(_t(x)[None], _t(w), _t(b))[0].numpy()
    t = texts(fig)
    assert number(t["value"]) == y[0, 2, 1]
    parts = [number(t[f"part{c}"]) for c in range(3)]
    per_channel = [
        F.conv2d(_t(x[c])[None, None], _t(w[0, c])[None, None])[0, 0, 2, 1] for c in range(3)
    ]
    np.testing.assert_allclose(parts, per_channel)
    assert t["shape_y"].startswith("Y: 4 \u00d7 3 \u00d7 3")


def test_one_by_one_is_conv2d_with_a_1x1_kernel():
    x = conv._ints((4, 4, 4), 0, 3, seed=3)
    w = conv._ints((2, 4), -1, 2, seed=4)
    fig = conv.one_by_one(x, w, pixel=(2, 1))
    expected = F.conv2d(_t(x)[None], _t(w)[:, :, None, None])[0, :, 2, 1].numpy()
    np.testing.assert_allclose(grid_values(fig, "out", (2, 1))[:, 0], expected)


def test_im2col_product_is_conv2d_and_columns_are_windows():
    x = np.arange(20.0).reshape(4, 5) % 7
    w = np.array([[[1, 2], [0, -1]], [[2, 0], [1, 1]], [[0, 0], [3, -2]]], float)
    fig = conv.im2col(x, w, columns=(0, 7))
    expected = F.conv2d(_t(x)[None, None], _t(w)[:, None])[0].numpy()  # (3, 3, 4)
    np.testing.assert_allclose(grid_values(fig, "Y", (3, 12)), expected.reshape(3, 12))
    cols = grid_values(fig, "cols", (4, 12))
    for p in range(12):
        r, c = divmod(p, 4)
        np.testing.assert_allclose(cols[:, p], x[r : r + 2, c : c + 2].ravel())


def test_conv_backward_values_are_autograds():
    x = conv._ints((5, 4), 0, 3, seed=10)
    k = conv._ints((3, 2), -1, 2, seed=11)
    dout = conv._ints((3, 3), -2, 2, seed=12)
    fig = conv.conv_backward(x, k, dout, dx_cell=(0, 0), dk_cell=(2, 1))
    xt, kt = _t(x)[None, None].requires_grad_(), _t(k)[None, None].requires_grad_()
    F.conv2d(xt, kt).backward(_t(dout)[None, None])
    np.testing.assert_allclose(grid_values(fig, "dX", x.shape), xt.grad[0, 0].numpy())
    np.testing.assert_allclose(grid_values(fig, "dK", k.shape), kt.grad[0, 0].numpy())


def _measured_rf(layers) -> int:
    """Input pixels with a non-zero gradient of one top unit (all-ones kernels, 1-D)."""
    x = torch.zeros(1, 1, 64, requires_grad=True)
    h = x
    for k, s in layers:
        h = F.conv1d(h, torch.ones(1, 1, k), stride=s)
    h[0, 0, h.shape[-1] // 2].backward()
    return int((x.grad != 0).sum())


def test_receptive_field_cone_matches_a_gradient_measurement():
    stacks = (("a", ((3, 1), (3, 1)), 9), ("b", ((5, 2), (3, 1), (3, 2)), 31))
    fig = conv.receptive_field(stacks)
    for n, (_, layers, _) in enumerate(stacks):
        drawn = [p for p in fig.axes[0].patches if p.get_gid() == f"rf{n}"]
        assert len(drawn) == _measured_rf(layers)
        assert number(texts(fig)[f"rf{n}_count"].split(" input")[0]) == len(drawn)


def test_pooling_routing_forward_and_backward_are_torchs():
    x = np.array(
        [[5, 1, 0, 2, 9, 3], [2, 8, 1, 1, 4, 4], [0, 0, 6, 2, 1, 1], [3, 7, 2, 2, 0, 5]], float
    )
    dout = np.array([[1.0, -2.0, 0.5], [3.0, -1.0, 2.0]])
    fig = pooling.pooling_routing(x, dout)
    for mode, pool in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        xt = _t(x)[None, None].requires_grad_()
        out = pool(xt, 2)
        out.backward(_t(dout)[None, None])
        np.testing.assert_allclose(grid_values(fig, mode, (2, 3)), out[0, 0].detach().numpy())
        np.testing.assert_allclose(grid_values(fig, f"dx_{mode}", x.shape), xt.grad[0, 0].numpy())


def test_batchnorm_axes_statistics_are_torchs():
    x = np.random.default_rng(3).normal(size=(3, 4, 2, 2)).round(1)
    fig = normalization.batchnorm_axes(x, channel=2, momentum=0.2)
    t = texts(fig)
    xt = _t(x)
    mean, var = xt.mean(dim=(0, 2, 3)), xt.var(dim=(0, 2, 3), unbiased=False)
    bn = torch.nn.BatchNorm2d(4, momentum=0.2).double().train()
    bn(xt)
    for c in range(4):
        assert number(t[f"mean[{c}]"]) == pytest.approx(float(mean[c]), abs=0.006)
        assert number(t[f"var[{c}]"]) == pytest.approx(float(var[c]), abs=0.006)
        # the independent route: 0.8 * initial + 0.2 * batch statistic, unbiased variance
        assert number(t[f"run_mean[{c}]"]) == pytest.approx(0.2 * float(mean[c]), abs=6e-4)
        unbiased = float(xt[:, c].var(unbiased=True))
        assert number(t[f"run_var[{c}]"]) == pytest.approx(0.8 + 0.2 * unbiased, abs=6e-4)
    assert "3\u00b72\u00b72 = 12 values" in t["count"]


def test_reference_network_shapes_come_from_a_forward_pass():
    fig = training.reference_network()
    t = texts(fig)
    # an independent walk through the layers with a real tensor
    x = torch.zeros(1, 1, 28, 28)
    shapes = [tuple(x.shape[1:])]
    for layer in models.build_reference_cnn().eval():
        y = layer(x)
        if tuple(y.shape[1:]) != shapes[-1]:
            shapes.append(tuple(y.shape[1:]))
        x = y
    drawn = [t[f"shape{k}"] for k in range(len(shapes))]
    assert drawn == ["\u00d7".join(map(str, s)) for s in shapes]
    assert f"shape{len(shapes)}" not in t
    assert t["total"].startswith("421,642 ")


def test_training_loop_logits_shape():
    fig = training.training_loop(batch_size=32)
    assert "32 \u00d7 10" in texts(fig)["logits"]


def test_dropout_masks_are_f_dropouts():
    p, seeds = 0.25, (4, 9)
    fig = training.dropout(p=p, sizes=(4, 8, 2), seeds=seeds)
    t = texts(fig)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        mask = F.dropout(torch.ones(8, dtype=torch.float64), p=p, training=True)
        dropped = [c for c in fig.axes[0].patches if c.get_gid() == f"dropped{k}"]
        assert len(dropped) == int((mask == 0).sum())
        assert t[f"scale{k}"].startswith(f"{len(dropped)} of 8 dropped")
        assert number(t[f"scale{k}"]) == pytest.approx(1 / (1 - p), abs=0.01)
    assert not [c for c in fig.axes[0].patches if c.get_gid() == "dropped2"]


def test_transfer_strategies_trainable_counts():
    fig = transfer.transfer_strategies()
    t = texts(fig)
    net = models.build_reference_cnn_bn()
    conv_like = sum(p.numel() for m in net[:8] for p in m.parameters())
    total = sum(p.numel() for p in net.parameters())
    assert number(t["trainable0"].split(" trainable")[0].replace(",", "")) == total - conv_like
    assert number(t["trainable1"].split(" trainable")[0].replace(",", "")) == total
    frozen = [p for p in fig.axes[0].patches if p.get_gid() == "frozen"]
    assert len(frozen) == 4  # two convolutions, two batch norms of the base


def test_weight_sharing_counts():
    t = texts(sharing.weight_sharing(n_in=9, kernel_size=4))
    assert "9 \u00d7 6 = 54 weights" in t["dense"]  # 9 - 4 + 1 = 6 positions
    assert t["conv"].startswith("convolution: 4 weights") and "all 6 positions" in t["conv"]


def test_conv_relu_pool_numbers():
    x = conv._ints((8, 8), -2, 3, seed=30)
    k = conv._ints((3, 3), -1, 1, seed=31)
    fig = activations.conv_relu_pool(x, k)
    fmap = F.conv2d(_t(x)[None, None], _t(k)[None, None])
    np.testing.assert_allclose(grid_values(fig, "conv", (6, 6)), fmap[0, 0].numpy())
    np.testing.assert_allclose(grid_values(fig, "relu", (6, 6)), fmap[0, 0].clamp(min=0).numpy())
    pooled = F.max_pool2d(fmap.clamp(min=0), 2)[0, 0].numpy()
    np.testing.assert_allclose(grid_values(fig, "pool", (3, 3)), pooled)


def test_two_convs_one_merged_kernel_computes_the_two_layers():
    k1, k2 = conv._ints((3, 3), -2, 2, seed=40), conv._ints((3, 3), -2, 2, seed=41)
    fig = activations.two_convs_one(k1, k2)
    merged = grid_values(fig, "merged", (5, 5))
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64)
    two = F.conv2d(F.conv2d(x, _t(k1)[None, None]), _t(k2)[None, None])
    one = F.conv2d(x, _t(merged)[None, None])
    torch.testing.assert_close(two, one)


# --- the chapters ------------------------------------------------------------------------------


def _diagram_cells():
    for path in CHAPTERS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        prose = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "diagrams." in source and "import" not in source:
                yield path.name, cell, source, prose


def test_chapters_place_diagrams():
    assert len(list(_diagram_cells())) >= 16


@pytest.mark.parametrize("chapter", [p.name for p in CHAPTERS])
def test_every_diagram_cell_has_alt_text_a_caption_and_a_reference(chapter):
    for name, cell, source, prose in _diagram_cells():
        if name != chapter:
            continue
        meta = cell["metadata"]
        assert "remove-input" in meta.get("tags", []), f"{chapter}: {source!r} shows its code"
        mystnb = meta.get("mystnb", {})
        alt = mystnb.get("image", {}).get("alt", "")
        assert len(alt) > 40, f"{chapter}: {source!r} has no alt text saying what it shows"
        figure = mystnb.get("figure", {})
        assert len(figure.get("caption", "")) > 20, f"{chapter}: {source!r} has no caption"
        label = figure.get("name", "")
        assert re.fullmatch(r"fig-[a-z0-9-]+", label), f"{chapter}: bad figure name {label!r}"
        assert "{numref}`" + label + "`" in prose, f"{chapter}: the prose never cites {label}"
        assert source.rstrip().endswith(";"), "one figure output per cell, no repr"


def test_figure_names_are_unique_across_the_book():
    names = [cell["metadata"]["mystnb"]["figure"]["name"] for _, cell, _, _ in _diagram_cells()]
    assert len(names) == len(set(names))


def test_every_diagram_function_is_documented():
    for _, name, func in FUNCTIONS:
        assert inspect.getdoc(func), name
