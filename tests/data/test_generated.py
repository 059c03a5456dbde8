"""The generated datasets: deterministic, well-formed, balanced, learnable, split-disjoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnbook import data
from cnnbook.data import api, glyphs, synth

GENERATED = ["stroke-digits", "glyph-digits", "glyph-letters", "two-dots"]


@pytest.mark.parametrize("name", GENERATED)
def test_shapes_dtypes_range_and_balance(name):
    X, y = data.load(name, "train", n=203, seed=1)
    classes = len(data.class_names(name))
    assert X.shape == (203, 1, 28, 28) and X.dtype == np.float32
    assert y.shape == (203,) and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    counts = np.bincount(y, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1
    # Every image has something drawn on it.
    assert (X.reshape(len(X), -1).max(axis=1) > 0.3).all()


@pytest.mark.parametrize("name", GENERATED)
def test_deterministic_by_seed(name):
    X1, y1 = data.load(name, "test", n=64, seed=7)
    api._generated.cache_clear()  # regenerate rather than hit the memory cache
    X2, y2 = data.load(name, "test", n=64, seed=7)
    X3, _ = data.load(name, "test", n=64, seed=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", GENERATED)
def test_train_and_test_splits_differ(name):
    X_train, _ = data.load(name, "train", n=300)
    X_test, _ = data.load(name, "test", n=300)
    flat_train = X_train.reshape(len(X_train), -1)
    flat_test = X_test.reshape(len(X_test), -1)
    # No test image equals (or nearly equals) a training image.
    distances = (
        (flat_test**2).sum(1)[:, None] + (flat_train**2).sum(1)[None] - 2 * flat_test @ flat_train.T
    )
    assert distances.min() > 1e-3


def test_test_split_uses_held_out_fonts():
    assert not set(glyphs.HELD_OUT_FONTS) & set(glyphs.TRAIN_FONTS)
    for font in glyphs.TRAIN_FONTS + glyphs.HELD_OUT_FONTS:
        assert glyphs.font_path(font).is_file()


def test_load_returns_copies_and_tensors():
    X, y = data.load("glyph-digits", "test", n=32)
    X[:] = 0
    y[:] = -1
    X2, y2 = data.load("glyph-digits", "test", n=32)
    assert X2.max() > 0 and y2.min() >= 0
    Xt, yt = data.load("glyph-digits", "test", n=32, as_tensor=True)
    assert isinstance(Xt, torch.Tensor) and Xt.dtype == torch.float32 and yt.dtype == torch.int64
    np.testing.assert_array_equal(Xt.numpy(), X2)


def test_disk_cache_is_used_and_written_atomically(tmp_path, monkeypatch):
    X, y = data.load("glyph-letters", "train", n=50, seed=3, root=tmp_path, disk_cache=True)
    stored = sorted(p.name for p in (tmp_path / "generated").iterdir())
    assert len(stored) == 1 and stored[0].endswith(".npz")  # no temporary file left behind
    api._generated.cache_clear()

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although a disk cache exists")

    monkeypatch.setattr(api, "make_glyph_dataset", fail)
    X2, y2 = data.load("glyph-letters", "train", n=50, seed=3, root=tmp_path, disk_cache=True)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_labels_match_images_for_an_independent_classifier():
    """A plain linear classifier (scikit-learn's ridge) learns the classes far above chance, so
    the labels really describe the images; a CNN does much better (see the benchmark)."""
    from sklearn.linear_model import RidgeClassifier

    X, y = data.load("glyph-digits", "train", n=2000)
    Xt, yt = data.load("glyph-digits", "test", n=500)
    model = RidgeClassifier(alpha=10.0).fit(X.reshape(len(X), -1), y)
    assert model.score(Xt.reshape(len(Xt), -1), yt) > 0.4  # chance is 0.1


def test_glyph_rendering_agrees_with_matplotlib_agg():
    """Our even-odd rasteriser against matplotlib's own renderer (Agg) on the same outline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath

    size, fill = 64, 0.72
    for char, font in [("8", "DejaVuSans.ttf"), ("A", "DejaVuSerif-Bold.ttf"), ("0", "cmr10.ttf")]:
        ours = glyphs.render_glyph(char, font, size=size, fill=fill)
        path = TextPath(
            (0, 0), char, size=1, prop=FontProperties(fname=str(glyphs.font_path(font)))
        )
        box = path.get_extents()
        half = max(box.width, box.height) / fill / 2
        cx, cy = box.x0 + box.width / 2, box.y0 + box.height / 2
        fig = plt.figure(figsize=(1, 1), dpi=size)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy - half, cy + half)
        ax.axis("off")
        ax.add_patch(PathPatch(path, facecolor="white", edgecolor="none"))
        fig.set_facecolor("black")
        fig.canvas.draw()
        agg = np.asarray(fig.canvas.buffer_rgba())[..., 0] / 255.0
        plt.close(fig)
        ink_ours, ink_agg = ours > 0.5, agg > 0.5
        iou = (ink_ours & ink_agg).sum() / (ink_ours | ink_agg).sum()
        assert iou > 0.9, (char, font, iou)


def test_holes_of_glyphs_stay_open():
    zero = glyphs.render_glyph("0", "DejaVuSans.ttf", size=64)
    assert zero[32, 32] == 0.0  # the counter of the 0
    assert zero[32].max() == 1.0  # its strokes on the same row


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="name"):
        data.load("glyph-digitz")
    with pytest.raises(ValueError, match="split"):
        data.load("glyph-digits", "validation")
    with pytest.raises(ValueError, match="n"):
        data.load("glyph-digits", n=0)
    with pytest.raises(ValueError, match="name"):
        data.class_names("imagenet")
    with pytest.raises(ValueError, match="char"):
        glyphs.render_glyph("ab", "DejaVuSans.ttf")
    with pytest.raises(ValueError, match="filename"):
        glyphs.font_path("Helvetica.ttf")
    with pytest.raises(ValueError, match="size"):
        synth.make_glyph_dataset("glyph-digits", size=4)


def test_bad_style_raises_value_error():
    with pytest.raises(ValueError, match="stroke_probs"):
        synth.GlyphStyle(stroke_probs=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="scale"):
        synth.GlyphStyle(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="clutter"):
        synth.GlyphStyle(clutter=1.5)
    with pytest.raises(ValueError, match="shift"):
        synth.GlyphStyle(shift=-1.0)


def test_style_from_overrides_replaces_only_the_named_fields():
    style = synth.style_from_overrides(["shift=5.0", " scale = (0.75, 1.0)", "clutter=0"])
    assert (style.shift, style.scale, style.clutter) == (5.0, (0.75, 1.0), 0)
    assert style.rotation == synth.DEFAULT_STYLE.rotation == 10.0
    assert synth.style_from_overrides([]) == synth.DEFAULT_STYLE
    base = synth.GlyphStyle(noise=0.2)
    assert synth.style_from_overrides(["blur=1.0"], base) == synth.GlyphStyle(noise=0.2, blur=1.0)


@pytest.mark.parametrize(
    "item, message",
    [
        ("shift", "KEY=VALUE"),  # no '='
        ("colour=1", "colour=1"),  # not a field
        ("shift=five", "Python literal"),
        ("scale=(0.75,", "Python literal"),
        ("clutter=1.5", "clutter"),  # the style's own range check
    ],
)
def test_style_from_overrides_rejects_bad_items(item, message):
    with pytest.raises(ValueError, match=message):
        synth.style_from_overrides([item])


def test_class_names():
    assert data.class_names("glyph-digits") == [str(d) for d in range(10)]
    assert data.class_names("stroke-digits") == [str(d) for d in range(10)]
    assert data.class_names("glyph-letters") == list("ABCDEFGHIJ")
    assert data.class_names("two-dots") == ["one dot", "two dots"]
    assert data.class_names("fashion-mnist")[9] == "Ankle boot"
    assert data.class_names("cifar10")[0] == "airplane"
    for name in data.DATASETS:
        assert len(data.class_names(name)) in (2, 10)


def test_make_loader_is_deterministic_by_seed():
    X, y = data.load("two-dots", "test", n=100, as_tensor=True)

    def order(seed):
        return torch.cat([xb.flatten(1).sum(1) for xb, _ in data.make_loader(X, y, 16, True, seed)])

    assert torch.equal(order(0), order(0))
    assert not torch.equal(order(0), order(1))
    # One epoch visits every example exactly once.
    seen = torch.cat([yb for _, yb in data.make_loader(X, y, 16, True, 0)])
    assert torch.equal(seen.sort().values, y.sort().values)
    unshuffled = torch.cat([yb for _, yb in data.make_loader(X, y, 16, shuffle=False)])
    assert torch.equal(unshuffled, y)
    with pytest.raises(ValueError, match="batch_size"):
        data.make_loader(X, y, 0)
    with pytest.raises(ValueError, match="y"):
        data.make_loader(X, y[:-1])


def test_fingerprint_ignores_rounding_noise_and_catches_real_changes():
    from cnnbook.data.fingerprint import fingerprint, fingerprint_differences

    X, y = data.load("glyph-digits", "test", n=64, seed=3)
    record = fingerprint(X, y)
    # last-bit noise, as another processor's SIMD rounding gives: still the same data
    noisy = X * (1 + np.float32(2e-7) * np.sign(np.random.default_rng(0).standard_normal(X.shape)))
    assert not np.array_equal(noisy, X)
    assert fingerprint_differences(record, noisy.astype(np.float32), y) == []
    # a real change: another seed, one shifted image, one relabelled image
    X2, y2 = data.load("glyph-digits", "test", n=64, seed=4)
    assert fingerprint_differences(record, X2, y2)
    shifted = X.copy()
    shifted[0] = np.roll(X[0], 3, axis=-1) * 0.9
    assert any("first_image_means" in d for d in fingerprint_differences(record, shifted, y))
    relabelled = y.copy()
    relabelled[5] = (relabelled[5] + 1) % 10
    differences = fingerprint_differences(record, X, relabelled)
    assert len(differences) == 1 and differences[0].startswith("labels_sha256:"), differences
    with pytest.raises(ValueError, match="integers"):
        fingerprint(X, y.astype(float))
