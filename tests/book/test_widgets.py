"""cnnbook.widgets and cnnbook.viz.figures, against hand-worked values and torch oracles."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from cnnbook import widgets
from cnnbook.viz import figures


def embedded_payload(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" class="cnnbook-data">(.*?)</script>', html, re.S
    )
    assert found, "the explorer's HTML carries no data"
    return json.loads(found.group(1).replace("<\\/", "</"))


def png_size(b64: str) -> tuple[int, int]:
    import base64

    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(raw[20:24], "big"), int.from_bytes(raw[16:20], "big")  # (H, W)


# -- the generic explorer --------------------------------------------------------------------
def test_explorer_embeds_one_frame_per_combination_and_deduplicates_images():
    calls = []

    def render(n, word):
        calls.append((n, word))
        same = widgets.png_bytes(np.zeros((2, 2)))
        varying = widgets.png_bytes(np.array([[0.0, n / 3.0]]), vmin=0.0, vmax=1.0)
        return widgets.Frame([same, varying], f"{word}{n * n}")

    ex = widgets.Explorer("t", {"n": [1, 2, 3], "word": ["a", "b"]}, render)
    payload = embedded_payload(ex.to_html())
    assert sorted(payload["frames"]) == [f"{i}|{j}" for i in range(3) for j in range(2)]
    assert payload["frames"]["2|1"][1] == "b9"
    # the all-zero panel is shared by every frame; 3 distinct second panels
    assert len(payload["images"]) == 1 + 3
    assert len(calls) == 6


def test_explorer_html_has_controls_for_numbers_and_strings():
    ex = widgets.Explorer(
        "t", {"n": [1, 2], "s": ["x", "y"]}, lambda n, s: widgets.Frame(caption=s)
    )
    html = ex.to_html()
    assert 'type="range"' in html and 'data-control="n"' in html
    assert "<select" in html and 'data-control="s"' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from a network


def test_explorer_bundle_has_live_widget_and_static_html():
    ex = widgets.Explorer("t", {"n": [1, 2]}, lambda n: widgets.Frame(caption=str(n)))
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith('<div class="cnnbook-explorer"')


def test_live_widget_updates_when_a_control_changes():
    ex = widgets.Explorer(
        "t", {"n": [1, 2, 3]}, lambda n: widgets.Frame(caption=f"<b>{n * 10}</b>")
    )
    box = ex.widget()
    slider = box.children[1].children[0]
    caption = box.children[3]
    assert caption.value == "<b>10</b>"
    slider.value = 3
    assert caption.value == "<b>30</b>"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"controls": {}}, "controls"),
        ({"controls": {"n": []}}, "controls"),
        ({"controls": {"n": list(range(1000))}}, "at most"),
        ({"controls": {"n": [1]}, "initial": {"n": 5}}, "initial"),
        ({"controls": {"n": [1]}, "scale": 0}, "scale"),
    ],
)
def test_explorer_rejects_bad_arguments(kwargs, message):
    args = {"title": "t", "render": lambda **k: widgets.Frame()} | kwargs
    with pytest.raises(ValueError, match=message):
        widgets.Explorer(**args)


def test_render_must_return_a_frame():
    ex = widgets.Explorer("t", {"n": [1]}, lambda n: "not a frame")
    with pytest.raises(ValueError, match="render"):
        ex.to_html()


def test_png_bytes_keeps_the_shape_and_rejects_bad_arrays():
    import base64

    png = widgets.png_bytes(np.zeros((5, 7)))
    assert png_size(base64.b64encode(png).decode()) == (5, 7)
    with pytest.raises(ValueError, match="array"):
        widgets.png_bytes(np.zeros((2, 2, 5)))


# -- the chapter explorers --------------------------------------------------------------------
def test_conv_explorer_output_sizes_match_hand_computed_cases():
    image = np.random.default_rng(0).random((20, 20))
    ex = widgets.conv_explorer(
        image,
        filters=("blur",),
        kernel_sizes=(3, 5),
        strides=(1, 2),
        paddings=("0 (valid)", "same"),
        dilations=(1, 2),
    )
    payload = embedded_payload(ex.to_html())
    # Hand-worked: floor((20 + 2P - D(K-1) - 1) / S) + 1
    # keys: option indices of (filter, kernel size, stride, padding, dilation)
    cases = {
        (0, 0, 0, 0, 0): 18,  # K3 S1 P0 D1: 20 - 3 + 1
        (0, 1, 1, 0, 0): 8,  # K5 S2 P0 D1: floor(15 / 2) + 1
        (0, 1, 0, 1, 1): 20,  # K5 S1 "same" D2: P = 4, floor(19 / 1) + 1
        (0, 0, 1, 0, 1): 8,  # K3 S2 P0 D2: floor(15 / 2) + 1
    }
    for key, side in cases.items():
        ids, caption = payload["frames"]["|".join(map(str, key))]
        assert png_size(payload["images"][ids[1]]) == (side, side), key
        assert f"<b>{side}x{side}</b>" in caption and f"<b>{side}</b>" in caption


def test_sliding_window_explorer_steps_through_every_position():
    x = np.arange(25.0).reshape(5, 5)
    w = np.array([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]])
    payload = embedded_payload(widgets.sliding_window_explorer(x, w).to_html())
    assert len(payload["frames"]) == 9
    # x[i, j] = 5i + j: each window's left column minus its right column is -2 per row: -6
    assert all("= <b>-6</b>" in frame[1] for frame in payload["frames"].values())
    # the first window written out: x[0:3, 0:3] against the kernel, negatives in parentheses
    first = payload["frames"]["0"][1]
    assert "0&middot;1 + 1&middot;0 + 2&middot;(&minus;1) + 5&middot;1" in first


def test_pixel_shuffle_explorer_checks_the_permutation():
    images = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="permutation"):
        widgets.pixel_shuffle_explorer(images, np.zeros(16, dtype=int))
    payload = embedded_payload(widgets.pixel_shuffle_explorer(images, np.arange(16)).to_html())
    assert len(payload["frames"]) == 2


def test_param_count_explorer_numbers():
    payload = embedded_payload(
        widgets.param_count_explorer(sides=(224,), channels=(3,), hidden=(1000,)).to_html()
    )
    (caption,) = [f[1] for f in payload["frames"].values()]
    assert "150,528" in caption and "150,529,000" in caption  # 150,528 x 1,000 + 1,000
    assert "896" in caption  # 32 filters of 3x3x3 + 32 biases


# -- activations and gradient flow -------------------------------------------------------------
@pytest.mark.parametrize("name", widgets.ACTIVATIONS)
def test_activation_derivative_matches_finite_differences(name):
    x = np.linspace(-3, 3, 61)
    x = x[np.abs(x) > 1e-2]  # away from the kinks of ReLU and Leaky ReLU at 0
    _, dy = widgets.activation_curve(name, x)
    h = 1e-6
    y_plus, _ = widgets.activation_curve(name, x + h)
    y_minus, _ = widgets.activation_curve(name, x - h)
    np.testing.assert_allclose(dy, (y_plus - y_minus) / (2 * h), rtol=1e-5, atol=1e-7)


def test_gradient_flow_matches_nn_sequential_autograd():
    depth, width = 4, 8
    norms = widgets.gradient_flow("tanh", depth=depth, width=width, batch=5, init="xavier")
    # the same computation written with torch.nn modules
    gen = torch.Generator().manual_seed(0)
    std = (1.0 / width) ** 0.5
    layers = []
    for _ in range(depth):
        lin = torch.nn.Linear(width, width, bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, width, generator=gen, dtype=torch.float64) * std)
        layers += [lin, torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers)
    x = torch.randn(5, width, generator=gen, dtype=torch.float64)
    upstream = torch.randn(5, width, generator=gen, dtype=torch.float64) / 5
    net(x).backward(upstream)
    expected = [layers[2 * i].weight.grad.norm().item() for i in range(depth)]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)


def test_gradient_vanishes_through_sigmoid_but_not_relu():
    relu = widgets.gradient_flow("relu", depth=20)
    sigmoid = widgets.gradient_flow("sigmoid", depth=20)
    assert relu[0] / relu[-1] > 0.1
    assert sigmoid[0] / sigmoid[-1] < 1e-6


def test_gradient_flow_and_activation_reject_bad_names():
    with pytest.raises(ValueError, match="name"):
        widgets.torch_activation("softsign")
    with pytest.raises(ValueError, match="init"):
        widgets.gradient_flow("relu", init="orthogonal")
    with pytest.raises(ValueError, match="depth"):
        widgets.gradient_flow("relu", depth=0)


# -- figures ------------------------------------------------------------------------------------
def test_classic_kernels_against_textbook_values():
    np.testing.assert_array_equal(
        figures.classic_kernel("sobel_x", 3), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    )
    np.testing.assert_array_equal(
        figures.classic_kernel("sobel_y", 3), [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    )
    np.testing.assert_array_equal(figures.classic_kernel("sobel_x", 5)[2], [-6, -12, 0, 12, 6])
    for size in (3, 5, 7):
        assert figures.classic_kernel("blur", size).sum() == pytest.approx(1.0)
        assert figures.classic_kernel("edge", size).sum() == pytest.approx(0.0)
        assert figures.classic_kernel("sharpen", size).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="size"):
        figures.classic_kernel("blur", 4)
    with pytest.raises(ValueError, match="name"):
        figures.classic_kernel("emboss", 3)


def test_sample_photo_is_a_real_photograph_in_range():
    gray = figures.sample_photo(32)
    rgb = figures.sample_photo(32, gray=False)
    assert gray.shape == (32, 32) and rgb.shape == (32, 32, 3)
    assert 0.0 <= gray.min() and gray.max() <= 1.0 and gray.std() > 0.05
    np.testing.assert_allclose(gray, rgb @ [0.299, 0.587, 0.114], atol=1e-12)
    with pytest.raises(ValueError, match="size"):
        figures.sample_photo(4)


def test_conv_geometry_panel_marks_the_dilated_taps():
    panel = figures.conv_geometry_panel(
        np.zeros((10, 10)), kernel_size=3, stride=4, padding=1, dilation=2
    )
    assert panel.shape == (12, 12, 3)
    red = np.argwhere((panel == [1.0, 0.0, 0.0]).all(axis=2))
    assert sorted(map(tuple, red)) == [(r, c) for r in (0, 2, 4) for c in (0, 2, 4)]
    yellow = np.argwhere((panel == [1.0, 0.85, 0.0]).all(axis=2))
    # the next window (4 columns on) shares column 4 with the first, drawn red on top
    assert sorted({int(c) for _, c in yellow}) == [6, 8]


def test_figures_return_figures_and_validate():
    import matplotlib.pyplot as plt

    figs = [
        figures.image_grid([np.zeros((4, 4))] * 3, ["a", "b", "c"], ncols=2),
        figures.matrix_figure([np.eye(3)], ["I"]),
        figures.bar_figure(["a", "b"], [1, 10], log=True),
        figures.curves_figure({"x": [0.1, 0.2]}),
        figures.gradient_flow_figure({"relu": [1.0, 0.5]}),
        figures.overlay_figure(np.zeros((4, 4)), [np.ones((2, 2))], ["m"]),
    ]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")
    with pytest.raises(ValueError, match="titles"):
        figures.image_grid([np.zeros((2, 2))], ["a", "b"])
    with pytest.raises(ValueError, match="step"):
        figures.sliding_window_figure(np.zeros((4, 4)), np.zeros((3, 3)), np.zeros((2, 2)), 4)


class _Cells(HTMLParser):
    """The rows of the tables in an HTML fragment: [(tag, style, text), ...] per row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str, str]]] = []
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = [tag, dict(attrs).get("style", ""), ""]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(tuple(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data


def test_activation_explorer_table_has_one_padded_cell_per_value():
    # The page once showed "3.97e+001.70e+00": bare cells with no spacing between the columns.
    explorer = widgets.activation_explorer(depth=6, names=("sigmoid",))
    caption = explorer.render(activation="sigmoid").caption
    parser = _Cells()
    parser.feed(caption)
    header, *rows = parser.rows
    assert [text for _, _, text in header] == ["init", "layer 1", "layer 6"]
    assert [row[0][2] for row in rows] == ["he init", "xavier init", "small init"]
    expected = {
        init: widgets.gradient_flow("sigmoid", depth=6, init=init) for init in ("he", "xavier")
    }
    for row in rows:
        assert len(row) == 3 and all(tag == "td" for tag, _, _ in row)
        assert all(re.search(r"padding:\s*0\.\d+em \d", style) for _, style, _ in row)
        assert all("text-align:right" in style for _, style, _ in row[1:])
        init = row[0][2].split()[0]
        if init in expected:  # the numbers, as a reader reads them: 3 significant digits
            for (_, _, text), value in zip(row[1:], expected[init][[0, -1]], strict=True):
                assert _read_scientific(text) == pytest.approx(value, rel=6e-3)


def _read_scientific(text: str) -> float:
    text = text.replace("\N{MINUS SIGN}", "-")
    if "\N{MULTIPLICATION SIGN}" not in text:
        return float(text)
    mantissa, power = text.split("\N{MULTIPLICATION SIGN}")
    return float(mantissa) * 10.0 ** int(power.strip().removeprefix("10"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.9712, "3.97"),
        (0.0123456, "0.0123"),
        (1.7e-12, "1.70 &times; 10<sup>&minus;12</sup>"),
        (2.5e6, "2.50 &times; 10<sup>6</sup>"),
        (0.0, "0"),
    ],
)
def test_scientific_writes_powers_of_ten_for_readers(value, text):
    assert widgets._scientific(value) == text


# -- the static twin (print, PDF, a notebook without widgets) --------------------------------
def _grey(v: float) -> bytes:
    return widgets.png_bytes(np.full((4, 6), v), vmin=0.0, vmax=1.0)


def test_small_multiple_shows_each_state_with_its_frame_images():
    import matplotlib.pyplot as plt

    def render(n, word):
        return widgets.Frame([_grey(n / 4), _grey(1 - n / 4)], f"{word}{n}")

    ex = widgets.Explorer(
        "t", {"n": [0, 1, 2, 3], "word": ["a", "b"]}, render, initial={"word": "b"}
    )
    fig = ex.small_multiple([{"n": 1}, {"n": 3, "word": "a"}])
    try:
        # small images: one column per state, one row per image of a frame
        assert len(fig.axes) == 2 * 2
        titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
        assert titles == ["n 1", "n 3, word a"]
        shown = [ax.images[0].get_array() for ax in fig.axes]
        # row-major axes: (image 0 of state 0, image 0 of state 1, image 1 of state 0, ...)
        greys = [float(np.asarray(a)[..., 0].mean()) for a in shown]
        np.testing.assert_allclose(greys, [1 / 4, 3 / 4, 3 / 4, 1 / 4], atol=1 / 255)
    finally:
        plt.close(fig)


def test_small_multiple_lays_plots_out_one_row_per_state():
    import matplotlib.pyplot as plt

    wide = widgets.png_bytes(np.zeros((300, 900)))
    ex = widgets.Explorer("plots", {"k": [1, 2, 3]}, lambda k: widgets.Frame([wide], f"{k}"))
    fig = ex.small_multiple([{"k": 1}, {"k": 2}, {"k": 3}])
    try:
        assert len(fig.axes) == 3
        assert [ax.get_title(loc="left") for ax in fig.axes] == ["k 1", "k 2", "k 3"]
        assert fig.get_figheight() < fig.get_figwidth() * 1.5
    finally:
        plt.close(fig)


def test_small_multiple_of_html_only_explorers_uses_their_still():
    import matplotlib.pyplot as plt

    for ex, states in [
        (widgets.param_count_explorer(), [{"side": 28}, {"side": 224}]),
        (
            widgets.sliding_window_explorer(np.arange(16.0).reshape(4, 4), np.ones((2, 2))),
            [{"position": 0}, {"position": 8}],
        ),
    ]:
        assert ex.render(**ex.initial).images == []  # the website shows HTML tables only
        fig = ex.small_multiple(states)
        try:
            assert sum(len(ax.images) for ax in fig.axes) == len(states)
        finally:
            plt.close(fig)


def test_small_multiple_rejects_unknown_settings_and_imageless_frames():
    ex = widgets.Explorer("t", {"n": [1, 2]}, lambda n: widgets.Frame([_grey(0.5)], ""))
    with pytest.raises(ValueError, match="states: got none"):
        ex.small_multiple([])
    with pytest.raises(ValueError, match="n=5 is not an option"):
        ex.small_multiple([{"n": 5}])
    with pytest.raises(ValueError, match="m=1 is not an option"):
        ex.small_multiple([{"m": 1}])
    html_only = widgets.Explorer("h", {"n": [1, 2]}, lambda n: widgets.Frame([], "<b>x</b>"))
    with pytest.raises(ValueError, match="give the Explorer a still function"):
        html_only.small_multiple([{"n": 1}])
