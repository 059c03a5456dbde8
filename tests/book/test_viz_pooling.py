"""Tests of cnnbook.viz.pooling: the numbers behind chapter 4's figures, the figures, the explorer.

Oracles: hand-worked arrays, plain NumPy loops, and the exact geometry of circular shifts.
"""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnbook.viz import pooling as P
from cnnbook.viz.figures import sample_photo

X4 = np.array(
    [
        [1.0, 3.0, 2.0, 0.0],
        [4.0, 2.0, 1.0, 5.0],
        [0.0, 1.0, 7.0, 2.0],
        [2.0, 1.0, 3.0, 4.0],
    ]
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("max", [[4.0, 5.0], [2.0, 7.0]]),
        ("avg", [[2.5, 2.0], [1.0, 4.0]]),
        ("sum", [[10.0, 8.0], [4.0, 16.0]]),
        ("min", [[1.0, 0.0], [0.0, 2.0]]),
    ],
)
def test_pool2d_matches_hand_worked_2x2(mode, expected):
    np.testing.assert_allclose(P.pool2d(X4, 2, mode=mode), expected)


def test_pool2d_overlapping_3x3_stride_2_by_hand():
    # windows start at rows/cols 0 and... only 0 fits in 4 with k=3, s=2 -> 1x1
    assert P.pool2d(X4, 3, 2).tolist() == [[7.0]]
    x = np.arange(25.0).reshape(5, 5)
    # windows at 0 and 2: maxima are the bottom-right cells of each window
    np.testing.assert_array_equal(P.pool2d(x, 3, 2), [[12.0, 14.0], [22.0, 24.0]])


@pytest.mark.parametrize(("size", "k", "s"), [(13, 3, 2), (28, 2, 2), (55, 3, 2), (9, 4, 3)])
def test_pool2d_output_size_follows_the_conv_formula(size, k, s):
    img = np.random.default_rng(0).random((size, size))
    expected = (size - k) // s + 1
    for mode in P.POOL_MODES:
        assert P.pool2d(img, k, s, mode).shape == (expected, expected), mode


def test_maxblur_of_a_constant_is_constant_away_from_the_border():
    out = P.pool2d(np.full((16, 16), 3.0), 2, 2, mode="maxblur")
    np.testing.assert_allclose(out[1:-1, 1:-1], 3.0)


def test_maxblur_is_a_blurred_dense_max():
    rng = np.random.default_rng(1)
    x = rng.random((10, 10))
    dense = np.array([[x[i : i + 2, j : j + 2].max() for j in range(9)] for i in range(9)])
    padded = np.pad(dense, 1)
    blur = np.outer([1, 2, 1], [1, 2, 1]) / 16
    expected = np.array(
        [
            [(padded[i : i + 3, j : j + 3] * blur).sum() for j in range(0, 9, 2)]
            for i in range(0, 9, 2)
        ]
    )
    np.testing.assert_allclose(P.pool2d(x, 2, 2, "maxblur"), expected)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": 5}, "kernel_size"),
        ({"stride": 0}, "stride"),
        ({"mode": "median"}, "mode"),
    ],
)
def test_pool2d_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        P.pool2d(X4, **{"kernel_size": 2, **kwargs})


def test_pool2d_rejects_non_2d_input():
    with pytest.raises(ValueError, match="img"):
        P.pool2d(np.zeros((1, 4, 4)), 2)


def test_strided_conv_matches_a_loop():
    rng = np.random.default_rng(2)
    img, k = rng.random((9, 11)), rng.standard_normal((3, 3))
    out = P.strided_conv2d(img, k, stride=2, padding=1)
    padded = np.pad(img, 1)
    expected = np.array(
        [
            [(padded[i : i + 3, j : j + 3] * k).sum() for j in range(0, padded.shape[1] - 2, 2)]
            for i in range(0, padded.shape[0] - 2, 2)
        ]
    )
    np.testing.assert_allclose(out, expected)
    with pytest.raises(ValueError, match="padding"):
        P.strided_conv2d(img, k, padding=-1)


def test_edge_map_is_a_relu_of_horizontal_differences():
    step = np.zeros((6, 6))
    step[:, 3:] = 1.0  # dark -> bright from left to right
    e = P.edge_map(step)
    assert e.min() >= 0.0
    # the Sobel column weights sum to 4, so interior rows respond with 4 on both edge columns
    np.testing.assert_allclose(e[2:4, 2:4], 4.0)
    np.testing.assert_allclose(e[2:4, :2], 0.0)


def test_filter_bank_maps_are_relu_of_the_edge_map_and_its_mirror():
    img = sample_photo(32)
    maps, names = P.filter_bank_maps(img)
    assert maps.shape == (6, 32, 32) and len(names) == 6
    assert maps.min() >= 0.0
    np.testing.assert_allclose(maps[0], P.edge_map(img))
    # the two opposite x-edge maps are the positive and negative parts of one response
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(maps[0] - maps[1], P.strided_conv2d(img, sobel, 1, 1))


def test_repeated_pool_halves_each_time():
    maps = P.repeated_pool(np.ones((32, 32)), 3)
    assert [m.shape for m in maps] == [(32, 32), (16, 16), (8, 8), (4, 4)]


def test_count_blobs_by_hand():
    img = np.zeros((6, 6))
    assert P.count_blobs(img) == 0
    img[0, 0] = img[1, 1] = 1.0  # diagonal neighbours: one 8-connected blob
    assert P.count_blobs(img) == 1
    img[4, 4] = 1.0
    assert P.count_blobs(img) == 2
    img[4, 5] = 0.3  # below half the peak: not "on"
    assert P.count_blobs(img) == 2
    assert P.count_blobs(img, threshold=0.2) == 2
    with pytest.raises(ValueError, match="threshold"):
        P.count_blobs(img, threshold=0.0)


def test_near_dots_merge_and_far_dots_stay_apart():
    from cnnbook.data.dots import make_dots

    near = make_dots([(13, 12), (13, 17)], size=32)[0, 0]
    far = make_dots([(8, 6), (22, 25)], size=32)[0, 0]
    assert [P.count_blobs(m) for m in P.repeated_pool(near, 3)][-1] == 1
    assert [P.count_blobs(m) for m in P.repeated_pool(far, 3)] == [2, 2, 2, 2]


def test_window_coverage_by_hand():
    np.testing.assert_array_equal(P.window_coverage(9, 3, 2), [1, 1, 2, 1, 2, 1, 2, 1, 1])
    np.testing.assert_array_equal(P.window_coverage(8, 2, 2), np.ones(8))
    np.testing.assert_array_equal(P.window_coverage(7, 2, 3), [1, 1, 0, 1, 1, 0, 0])


@pytest.mark.parametrize("mode", ["max", "avg", "maxblur"])
def test_shift_by_the_total_stride_just_moves_the_pooled_map(mode):
    rng = np.random.default_rng(3)
    img = rng.random((16, 16))
    changes = P.shift_sensitivity(img, [0, 4], modes=[mode], levels=2)[mode]
    assert changes[0] == 0.0
    # rolling by 4 pixels = rolling the 4x4 pooled map by one cell
    pooled = P.shift_sensitivity(img, [0], modes=[mode], levels=2)  # noqa: F841 (checks API)
    if mode == "maxblur":
        ref = P._circular_maxblur(P._circular_maxblur(img))
    else:
        ref = P.repeated_pool(img, 2, 2, mode)[-1]
    expected = np.linalg.norm(np.roll(ref, 1, axis=1) - ref) / np.linalg.norm(ref)
    np.testing.assert_allclose(changes[1], expected, rtol=1e-12)


def test_equivariance_metric_is_zero_for_pixels_and_for_whole_cell_shifts():
    rng = np.random.default_rng(4)
    img = rng.random((16, 16))
    eq = P.shift_sensitivity(img, [0, 1, 2, 3, 4, 8], modes=["none", "max"], metric="equivariance")
    np.testing.assert_allclose(eq["none"], 0.0, atol=1e-12)
    np.testing.assert_allclose(eq["max"][[0, 4, 5]], 0.0, atol=1e-12)
    assert eq["max"][1] > 0.01  # a 1-pixel shift is no shift of the pooled grid: aliasing
    # never larger than the plain change, which compares with the unshifted copy only
    change = P.shift_sensitivity(img, [0, 1, 2, 3, 4, 8], modes=["max"])["max"]
    assert np.all(eq["max"] <= change + 1e-12)


def test_shift_sensitivity_of_raw_pixels_by_hand():
    img = np.zeros((4, 4))
    img[:, 0] = 1.0
    changes = P.shift_sensitivity(img, [0, 1], modes=["none"], levels=1)["none"]
    np.testing.assert_allclose(changes, [0.0, np.sqrt(2.0)])  # 4 pixels off, 4 pixels on


def test_shift_sensitivity_rejects_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        P.shift_sensitivity(np.ones((10, 10)), [1], levels=2)
    with pytest.raises(ValueError, match="shifts"):
        P.shift_sensitivity(np.ones((8, 8)), [-1])
    with pytest.raises(ValueError, match="modes"):
        P.shift_sensitivity(np.ones((8, 8)), [1], modes=["median"])
    with pytest.raises(ValueError, match="metric"):
        P.shift_sensitivity(np.ones((8, 8)), [1], metric="distance")


def test_figures_render_with_the_expected_panels():
    from cnnbook.data.dots import make_dots

    dots = make_dots([(4, 4), (4, 7)], size=16)[0, 0]
    fig = P.plot_dots_pooling({"near": dots, "copy": dots}, levels=2)
    assert len(fig.axes) == 2 * 3
    assert "blob" in fig.axes[0].get_title()
    img = sample_photo(32)
    assert len(P.plot_downsampling({"a": img, "b": P.pool2d(img, 2)}).axes) == 2
    assert len(P.plot_pool_windows(np.arange(25.0).reshape(5, 5), 3, 2).axes) == 2
    grads = {"max": np.zeros((4, 4)), "avg": np.ones((4, 4))}
    assert len(P.plot_pool_backward(X4, np.ones((2, 2)), grads).axes) == 4
    changes = P.shift_sensitivity(sample_photo(32), [0, 1, 2])
    assert len(P.plot_shift_sensitivity([0, 1, 2], changes).axes[0].lines) == 4
    assert len(P.plot_shift_sensitivity([0, 1, 2], changes, changes).axes) == 2
    fig = P.plot_global_avg_pool(np.random.default_rng(0).random((8, 5, 5)), max_channels=4)
    assert len(fig.axes) == 5
    for f in map(plt.figure, plt.get_fignums()):
        f.canvas.draw()  # every figure really renders


def test_figures_reject_bad_input():
    with pytest.raises(ValueError, match="x"):
        P.plot_pool_windows(np.zeros((20, 20)), 2, 2)
    with pytest.raises(ValueError, match="grads"):
        P.plot_pool_backward(X4, np.ones((2, 2)), {"max": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="fmaps"):
        P.plot_global_avg_pool(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="images"):
        P.plot_dots_pooling({})


def test_explorer_html_is_self_contained_and_has_every_frame():
    from cnnbook.data.dots import make_dots

    images = {
        "photo": sample_photo(32),
        "dots (near)": make_dots([(8, 8), (8, 14)], size=32)[0, 0],
    }
    ex = P.pooling_explorer(images, kernel_sizes=(2, 3), strides=(2,), modes=("max", "avg"))
    frames = ex.frames()
    assert len(frames) == 2 * 2 * 2 * 1
    some = next(iter(frames.values()))
    assert len(some.images) == 2 and all(png.startswith(b"\x89PNG") for png in some.images)
    html = ex.to_html()
    assert not re.search(r"https?://", html)
    assert "<script" in html and "data:image/png;base64," in html
    dots_frame = frames[(1, 0, 0, 0)]  # dots, max, 2x2, stride 2
    assert "blobs: 2" in dots_frame.caption and "75.0% dropped" in dots_frame.caption


def test_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="images"):
        P.pooling_explorer({})
    with pytest.raises(ValueError, match="modes"):
        P.pooling_explorer({"photo": sample_photo(16)}, modes=("median",))
    with pytest.raises(ValueError, match="images"):
        P.pooling_explorer({"photo": np.zeros((2, 8, 8))})


def test_explorer_live_widget_renders_and_follows_its_controls():
    ex = P.pooling_explorer({"photo": sample_photo(16)}, kernel_sizes=(2, 4), strides=(2,))
    box = ex.widget()
    title, controls, view, caption = box.children
    assert "16x16 &rarr; 8x8" in caption.value and len(view.children) == 2
    window = next(w for w in controls.children if w.description == "window")
    window.value = 4
    assert "16x16 &rarr; 7x7" in caption.value and "windows overlap" in caption.value
