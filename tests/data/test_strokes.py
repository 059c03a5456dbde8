"""The stroke-digits generator: hand-worked pen stamps and splines, styles, framing, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnbook import data
from cnnbook.data import strokes

# Every random variation off: each image is its skeleton, centred, with a 2-pixel pen.
FROZEN = strokes.StrokeStyle(
    jitter=0.0, warp=0.0, rotation=0.0, slant=0.0, scale=(1.0, 1.0), aspect=0.0, shift=0.0,
    pen=(2.0, 2.0), ink=(1.0, 1.0), noise=0.0,
)  # fmt: skip


def test_stamp_of_one_pen_position_matches_hand_worked_coverage():
    # A pen of width 2 at pixel (x=5, y=4): coverage = clamp(1 + 0.5 - distance, 0, 1).
    centres = torch.tensor([[[5.0, 4.0]]])
    image = strokes._stamp(centres, torch.tensor([[True]]), np.array([2.0]), size=10, radius=2)[0]
    assert image[4, 5] == 1.0  # the centre
    assert image[4, 6] == image[3, 5] == pytest.approx(0.5)  # distance 1
    assert image[3, 6] == pytest.approx(1.5 - np.sqrt(2))  # distance sqrt(2)
    assert image[4, 7] == 0.0  # distance 2: outside the pen
    assert (image > 0).sum() == 9  # the centre, its 4 neighbours at 0.5, 4 diagonals at 0.09


def test_stamp_clips_at_the_border_and_ignores_padding():
    centres = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])
    image = strokes._stamp(
        centres, torch.tensor([[True, False]]), np.array([2.0]), size=8, radius=2
    )[0]
    assert image[0, 0] == 1.0 and image[0, 1] == pytest.approx(0.5)
    assert image[7].sum() == image[:, 7].sum() == 0  # nothing wrapped around to the far side
    assert image[5, 5] == 0.0  # the padded (invalid) centre draws nothing


def test_catmull_rom_passes_through_control_points_and_sums_to_one():
    points = np.array([[0.1, 0.1], [0.5, 0.3], [0.6, 0.8], [0.2, 0.9]])
    weights = strokes._catmull_rom_matrix(points)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    samples = weights @ points
    for point in points:  # every control point is one of the samples
        assert np.linalg.norm(samples - point, axis=1).min() < 1e-12
    np.testing.assert_allclose(samples[0], points[0])
    np.testing.assert_allclose(samples[-1], points[-1])
    gaps = np.linalg.norm(np.diff(samples, axis=0), axis=1)
    assert gaps.max() <= strokes._SAMPLE_STEP  # dense enough for a continuous stroke


def test_two_point_stroke_is_a_straight_segment_from_end_to_end():
    ends = np.array([[0.0, 0.0], [1.0, 0.5]])
    samples = strokes._catmull_rom_matrix(ends) @ ends
    np.testing.assert_allclose(samples[:, 1], samples[:, 0] / 2, atol=1e-12)  # on the line
    np.testing.assert_allclose(samples[[0, -1]], ends)
    assert (np.diff(samples[:, 0]) > 0).all()  # monotone: no back-tracking, no overshoot
    assert np.linalg.norm(np.diff(samples, axis=0), axis=1).max() <= strokes._SAMPLE_STEP


def test_without_variation_each_skeleton_gives_one_image():
    variants = sum(len(options) for options in strokes.DIGIT_SKELETONS.values())
    X, y = strokes.make_stroke_dataset("train", n=400, style=FROZEN)
    distinct = {(int(label), image.tobytes()) for image, label in zip(X, y, strict=True)}
    assert len(distinct) == variants
    assert {label for label, _ in distinct} == set(range(10))


def test_frozen_digits_are_centred_and_upright():
    X, y = strokes.make_stroke_dataset("test", n=50, style=FROZEN)
    coords = np.arange(28)
    for image, label in zip(X[:, 0], y, strict=True):
        mass = image.sum()
        row, col = (image.sum(1) @ coords) / mass, (image.sum(0) @ coords) / mass
        assert abs(col - 13.5) < 3 and abs(row - 13.5) < 3, label
    one = X[y == 1][0, 0]  # the plain "1" or one with a flag: tall and thin
    rows, cols = np.nonzero(one > 0.5)
    assert np.ptp(rows) > 2 * np.ptp(cols)


def test_shifts_spread_the_digits_but_never_push_them_out_of_the_frame():
    n = 300
    style = strokes.StrokeStyle(noise=0.0)
    X_still, _ = strokes.make_stroke_dataset(
        "train", n, style=strokes.StrokeStyle(noise=0.0, shift=0.0)
    )
    X_moved, _ = strokes.make_stroke_dataset("train", n, style=style)
    X_far, _ = strokes.make_stroke_dataset(
        "train", n, style=strokes.StrokeStyle(noise=0.0, shift=30.0)
    )
    # The same random stream apart from the shift: the ink of every digit is all still there
    # (only re-sampled at sub-pixel offsets), even when asked for shifts larger than the frame.
    ink_still = X_still.sum(axis=(1, 2, 3))
    for moved in (X_moved, X_far):
        np.testing.assert_allclose(moved.sum(axis=(1, 2, 3)), ink_still, rtol=0.08)

    def centres(X):
        image = X[:, 0]
        return (image.sum(1) @ np.arange(28)) / image.sum((1, 2))

    assert centres(X_still).std() < 1.0
    assert centres(X_moved).std() > 2.5  # uniform over +-8 px, clipped to the frame
    assert centres(X_far).std() > centres(X_moved).std()


def test_result_does_not_depend_on_the_chunk_size(monkeypatch):
    X, y = strokes.make_stroke_dataset("test", n=300, seed=5)
    monkeypatch.setattr(strokes, "_CHUNK", 64)
    X_small, y_small = strokes.make_stroke_dataset("test", n=300, seed=5)
    np.testing.assert_array_equal(X, X_small)
    np.testing.assert_array_equal(y, y_small)


def test_pen_width_and_size_scale_together():
    thin = strokes.StrokeStyle(pen=(1.0, 1.0), noise=0.0)
    thick = strokes.StrokeStyle(pen=(3.0, 3.0), noise=0.0)
    ink_thin = strokes.make_stroke_dataset("train", 100, style=thin)[0].sum()
    ink_thick = strokes.make_stroke_dataset("train", 100, style=thick)[0].sum()
    assert 2.0 < ink_thick / ink_thin < 4.0  # ink grows about with the width (3x, less overlap)
    X56, _ = strokes.make_stroke_dataset("train", 100, size=56, style=thin)
    X28, _ = strokes.make_stroke_dataset("train", 100, size=28, style=thin)
    assert X56.shape == (100, 1, 56, 56)
    assert 3.0 < X56.sum() / X28.sum() < 5.0  # twice the length and width: four times the ink


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"jitter": -0.1}, "jitter"),
        ({"shift": float("nan")}, "shift"),
        ({"scale": (1.0, 0.5)}, "scale"),
        ({"pen": (0.0, 1.0)}, "pen"),
        ({"ink": (0.5,)}, "ink"),
    ],
)
def test_bad_style_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        strokes.StrokeStyle(**kwargs)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="split"):
        strokes.make_stroke_dataset("validation")
    with pytest.raises(ValueError, match="n"):
        strokes.make_stroke_dataset("train", n=True)
    with pytest.raises(ValueError, match="size"):
        strokes.make_stroke_dataset("train", n=10, size=4)
    with pytest.raises(ValueError, match="StrokeStyle"):
        strokes.make_stroke_dataset("train", n=10, style=data.GlyphStyle())


def test_load_styled_applies_overrides_to_the_right_generator():
    X, y, style = data.load_styled("stroke-digits", "train", 50, ["noise=0.0", "shift=0.0"])
    assert isinstance(style, strokes.StrokeStyle) and style.noise == 0.0
    assert isinstance(X, torch.Tensor) and X.shape == (50, 1, 28, 28)
    assert (X[:, :, 0, :] == 0).all()  # no noise and no shift: the top row is empty
    _, _, glyph_style = data.load_styled("glyph-letters", "test", 10, ["clutter=0"])
    assert isinstance(glyph_style, data.GlyphStyle) and glyph_style.clutter == 0
    with pytest.raises(ValueError, match="warp"):  # the keys are those of StrokeStyle
        data.load_styled("stroke-digits", "train", 10, ["clutter=0"])
    with pytest.raises(ValueError, match="name"):
        data.load_styled("two-dots", "train", 10)


def test_position_is_what_defeats_a_linear_classifier():
    """scikit-learn's ridge classifier, an independent learner: on centred stroke digits it reads
    the labels well (so they describe the images), and moving the digits around the frame is what
    takes most of that away, the difficulty a CNN is built for."""
    from sklearn.linear_model import RidgeClassifier

    def ridge_accuracy(overrides):
        X, y, _ = data.load_styled("stroke-digits", "train", 2000, overrides)
        Xt, yt, _ = data.load_styled("stroke-digits", "test", 500, overrides)
        model = RidgeClassifier(alpha=10.0).fit(X.flatten(1).numpy(), y.numpy())
        return model.score(Xt.flatten(1).numpy(), yt.numpy())

    centred, moved = ridge_accuracy(["shift=0.0"]), ridge_accuracy([])
    assert centred > 0.75  # chance is 0.1
    assert moved < centred - 0.3
