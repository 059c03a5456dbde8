"""Interactive explorers of the chapters, live in a kernel and self-contained on the website.

An :class:`Explorer` is a set of controls (each a short list of options) and a ``render`` function
that turns one choice of options into a :class:`Frame` (PNG images and an HTML caption). Displayed
in a notebook it sends one MIME bundle with two faces:

* ``application/vnd.jupyter.widget-view+json``: a live ipywidgets UI that calls ``render`` on
  every change (Jupyter, VS Code, Colab);
* ``text/html``: every frame precomputed and embedded as PNG, with a few lines of vanilla JavaScript
  that swap them when a slider moves. It needs no kernel and no network, so the website (built with
  myst-nb preferring ``text/html``) stays interactive offline.

The chapter-level explorers (:func:`conv_explorer`, :func:`sliding_window_explorer`,
:func:`pixel_shuffle_explorer`, :func:`param_count_explorer`, :func:`activation_explorer`) build on
it; their pictures come from :mod:`cnnbook.viz.figures`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import io
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Frame",
    "Explorer",
    "png_bytes",
    "conv_explorer",
    "sliding_window_explorer",
    "pixel_shuffle_explorer",
    "param_count_explorer",
    "activation_explorer",
]

# Frames beyond this make pages heavy and builds slow: fail loudly instead.
MAX_FRAMES = 400


@dataclass
class Frame:
    """What an explorer shows for one choice of its controls.

    Args:
        images: PNG files (bytes), shown side by side.
        caption: a short HTML fragment shown under the images.
    """

    images: list[bytes] = field(default_factory=list)
    caption: str = ""


def png_bytes(
    array: np.ndarray, *, vmin: float | None = None, vmax: float | None = None, cmap: str = "gray"
) -> bytes:
    """Encode a 2-D array (through a colormap) or an (H, W, 3|4) RGB(A) array in [0, 1] as PNG.

    Args:
        array: the picture; 2-D arrays are mapped through ``cmap`` between ``vmin`` and ``vmax``.
        vmin, vmax: colour limits of a 2-D array (default: its min and max).
        cmap: a matplotlib colormap name.

    Returns:
        the PNG file as bytes.
    """
    import matplotlib.image as mpimg

    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"array: got shape {array.shape}, expected (H, W) or (H, W, 3|4)")
    buffer = io.BytesIO()
    if array.ndim == 2:
        mpimg.imsave(
            buffer,
            array,
            vmin=vmin,
            vmax=vmax,
            cmap=cmap,
            format="png",
            metadata={"Software": None},
        )
    else:
        mpimg.imsave(buffer, np.clip(array, 0.0, 1.0), format="png", metadata={"Software": None})
    return buffer.getvalue()


def figure_png(fig: Any, dpi: int = 80) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so the notebook does not show it)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _png_width(png: bytes) -> int:
    # The IHDR chunk follows the 8-byte signature: width is the big-endian int at bytes 16-19.
    return int.from_bytes(png[16:20], "big")


class Explorer:
    """Controls plus a render function, shown live (ipywidgets) or as self-contained HTML.

    Args:
        title: a heading shown above the controls.
        controls: ordered mapping ``name -> options``; every option is a str, int or float.
            Numbers become sliders, strings drop-down menus.
        render: called as ``render(**choice)`` with one option per control; returns a Frame.
        labels: optional display labels of the controls (default: the names).
        initial: optional starting option per control (default: the first option).
        scale: display magnification of every image (pixel art stays sharp); 1 shows natural size.
        still: optional ``still(**choice) -> PNG bytes``, the picture of one choice that
            :meth:`small_multiple` uses instead of the frame's images (for an explorer whose
            frames are HTML only).

    Example:
        >>> ex = Explorer("square", {"n": [1, 2, 3]}, lambda n: Frame(caption=f"{n * n}"))
        >>> "9" in ex.to_html()
        True
    """

    def __init__(
        self,
        title: str,
        controls: dict[str, Sequence[str | int | float]],
        render: Callable[..., Frame],
        *,
        labels: dict[str, str] | None = None,
        initial: dict[str, str | int | float] | None = None,
        scale: float = 1.0,
        still: Callable[..., bytes] | None = None,
    ) -> None:
        if not isinstance(controls, dict) or not controls:
            raise ValueError(
                f"controls: got {controls!r}, expected a non-empty dict name -> options"
            )
        for name, options in controls.items():
            if isinstance(options, (str, bytes)) or len(options) == 0:
                raise ValueError(f"controls[{name!r}]: got {options!r}, expected a non-empty list")
        count = int(np.prod([len(o) for o in controls.values()]))
        if count > MAX_FRAMES:
            raise ValueError(
                f"controls: {count} combinations of options, expected at most {MAX_FRAMES} "
                "(each one is precomputed for the website)"
            )
        self.title = title
        self.controls = {name: list(options) for name, options in controls.items()}
        self.render = render
        self.labels = {name: name.replace("_", " ") for name in controls} | (labels or {})
        self.initial = {name: options[0] for name, options in self.controls.items()}
        for name, value in (initial or {}).items():
            if name not in self.controls or value not in self.controls[name]:
                raise ValueError(f"initial[{name!r}]: got {value!r}, expected one of its options")
            self.initial[name] = value
        if not isinstance(scale, (int, float)) or not 0 < scale <= 16:
            raise ValueError(f"scale: got {scale!r}, expected a number in (0, 16]")
        self.scale = float(scale)
        self.still = still

    # -- the website: every frame precomputed -------------------------------------------------
    def frames(self) -> dict[tuple[int, ...], Frame]:
        """Render every combination of options; keys are option indices, one per control."""
        names = list(self.controls)
        out = {}
        for index in itertools.product(*(range(len(self.controls[n])) for n in names)):
            choice = {n: self.controls[n][i] for n, i in zip(names, index, strict=True)}
            frame = self.render(**choice)
            if not isinstance(frame, Frame):
                raise ValueError(f"render: returned {type(frame).__name__}, expected a Frame")
            out[index] = frame
        return out

    def to_html(self) -> str:
        """A self-contained HTML fragment: controls, embedded PNG frames and vanilla JavaScript."""
        frames = self.frames()
        images: list[str] = []
        seen: dict[bytes, int] = {}
        table = {}
        for index, frame in frames.items():
            ids = []
            for png in frame.images:
                if png not in seen:  # identical panels (an unchanged input, say) are stored once
                    seen[png] = len(images)
                    images.append(base64.b64encode(png).decode("ascii"))
                ids.append(seen[png])
            table["|".join(map(str, index))] = [ids, frame.caption]
        payload = {"images": images, "frames": table}
        digest = hashlib.sha1((self.title + json.dumps(table)).encode()).hexdigest()[:10]
        uid = f"cnnbook-explorer-{digest}"
        rows = []
        for name, options in self.controls.items():
            start = options.index(self.initial[name])
            label = html.escape(self.labels[name])
            if all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options):
                values = html.escape(json.dumps([str(o) for o in options]))
                rows.append(
                    f'<label>{label} <input type="range" min="0" max="{len(options) - 1}" '
                    f'step="1" value="{start}" data-control="{html.escape(name)}" '
                    f'data-values="{values}" aria-label="{label}"> '
                    f"<output>{html.escape(str(options[start]))}</output></label>"
                )
            else:
                opts = "".join(
                    f'<option value="{i}"{" selected" if i == start else ""}>'
                    f"{html.escape(str(o))}</option>"
                    for i, o in enumerate(options)
                )
                rows.append(
                    f'<label>{label} <select data-control="{html.escape(name)}" '
                    f'aria-label="{label}">{opts}</select></label>'
                )
        # "</" would end the script element early: escape it inside the JSON.
        data = json.dumps(payload).replace("</", "<\\/")
        return f"""<div class="cnnbook-explorer" id="{uid}" data-title="{html.escape(self.title)}">
<style>
#{uid} {{border:1px solid #ccc;border-radius:6px;padding:0.6em;margin:0.5em 0;}}
#{uid} .cnnbook-controls {{display:flex;flex-wrap:wrap;gap:0.4em 1.4em;margin-bottom:0.5em;}}
#{uid} .cnnbook-controls output {{display:inline-block;min-width:2.5em;font-weight:bold;}}
#{uid} .cnnbook-view {{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0.8em;}}
#{uid} .cnnbook-view img {{image-rendering:pixelated;max-width:100%;}}
#{uid} .cnnbook-caption {{margin-top:0.4em;}}
</style>
<div class="cnnbook-title"><strong>{html.escape(self.title)}</strong></div>
<div class="cnnbook-controls">{"".join(rows)}</div>
<div class="cnnbook-view"></div>
<div class="cnnbook-caption"></div>
<script type="application/json" class="cnnbook-data">{data}</script>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector(".cnnbook-data").textContent);
  var inputs = root.querySelectorAll("[data-control]");
  function show() {{
    var key = [];
    inputs.forEach(function (el) {{
      key.push(el.value);
      if (el.type === "range") {{
        el.nextElementSibling.textContent = JSON.parse(el.dataset.values)[+el.value];
      }}
    }});
    var frame = data.frames[key.join("|")];
    var view = root.querySelector(".cnnbook-view");
    view.innerHTML = "";
    frame[0].forEach(function (id) {{
      var img = document.createElement("img");
      img.onload = function () {{ img.style.width = img.naturalWidth * {self.scale} + "px"; }};
      img.src = "data:image/png;base64," + data.images[id];
      img.alt = root.dataset.title;
      view.appendChild(img);
    }});
    root.querySelector(".cnnbook-caption").innerHTML = frame[1];
  }}
  inputs.forEach(function (el) {{ el.addEventListener("input", show); }});
  show();
}})();
</script>
</div>"""

    # -- print, PDF and a notebook without widgets: a static twin ------------------------------
    def small_multiple(self, states: Sequence[dict[str, str | int | float]]) -> Any:
        """The explorer's views at a few settings, side by side in one matplotlib figure.

        The explorer's static twin: what a printed page, a PDF or a notebook without a widget
        front end shows instead of the controls. Each panel is titled with the settings that
        ``states`` names; the other controls keep their initial value.

        Args:
            states: one dict per panel, ``control name -> option`` (2 to 6 panels read best).

        Returns:
            a figure: small images (up to 256 pixels a side) in one column per state, one row
            per image of a frame; larger ones (plots) in one row per state.
        """
        import matplotlib.image as mpimg
        import matplotlib.pyplot as plt

        if not states:
            raise ValueError("states: got none, expected at least one dict of control options")
        panels = []
        for state in states:
            for name, value in state.items():
                if name not in self.controls or value not in self.controls[name]:
                    raise ValueError(
                        f"states: {name}={value!r} is not an option of this explorer's controls "
                        f"{self.controls}"
                    )
            choice = self.initial | dict(state)
            pngs = [self.still(**choice)] if self.still else self.render(**choice).images
            if not pngs:
                raise ValueError(
                    f"{self.title}: its frames have no image; give the Explorer a still function"
                )
            label = ", ".join(f"{self.labels[n]} {state[n]}" for n in state) or "initial"
            panels.append((label, [mpimg.imread(io.BytesIO(png), format="png") for png in pngs]))
        per_frame = max(len(images) for _, images in panels)
        small = all(max(im.shape[:2]) <= 256 for _, images in panels for im in images)
        if small:  # pixel images: one column per state
            fig, axes = plt.subplots(
                per_frame,
                len(panels),
                figsize=(2.1 * len(panels), 2.1 * per_frame + 0.3),
                squeeze=False,
                layout="constrained",
            )
            for col, (label, images) in enumerate(panels):
                axes[0, col].set_title(label, fontsize=9)
                for row in range(per_frame):
                    ax = axes[row, col]
                    ax.set_axis_off()
                    if row < len(images):
                        ax.imshow(images[row], interpolation="nearest")
        else:  # plots: one row per state, at a common width
            aspect = max(im.shape[0] / im.shape[1] for _, images in panels for im in images)
            width = 9.0
            fig, axes = plt.subplots(
                len(panels),
                per_frame,
                figsize=(width, len(panels) * (width / per_frame * aspect + 0.3)),
                squeeze=False,
                layout="constrained",
            )
            for row, (label, images) in enumerate(panels):
                axes[row, 0].set_title(label, fontsize=9, loc="left")
                for col in range(per_frame):
                    ax = axes[row, col]
                    ax.set_axis_off()
                    if col < len(images):
                        ax.imshow(images[col], interpolation="antialiased")
        fig.suptitle(self.title, fontsize=10)
        return fig

    # -- a live kernel: ipywidgets ------------------------------------------------------------
    def widget(self) -> Any:
        """The live ipywidgets version: sliders / drop-downs, images and a caption."""
        import ipywidgets as ipw

        inputs = {}
        for name, options in self.controls.items():
            label = self.labels[name]
            if all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options):
                inputs[name] = ipw.SelectionSlider(
                    options=options,
                    value=self.initial[name],
                    description=label,
                    continuous_update=False,
                    style={"description_width": "initial"},
                )
            else:
                inputs[name] = ipw.Dropdown(
                    options=options,
                    value=self.initial[name],
                    description=label,
                    style={"description_width": "initial"},
                )
        view = ipw.HBox()
        caption = ipw.HTML()

        def update(_change: object = None) -> None:
            frame = self.render(**{name: w.value for name, w in inputs.items()})
            view.children = [
                ipw.Image(value=png, format="png", width=int(_png_width(png) * self.scale))
                for png in frame.images
            ]
            caption.value = frame.caption

        for w in inputs.values():
            w.observe(update, names="value")
        update()
        title = ipw.HTML(f"<strong>{html.escape(self.title)}</strong>")
        return ipw.VBox(
            [
                title,
                ipw.HBox(list(inputs.values()), layout={"flex_flow": "row wrap"}),
                view,
                caption,
            ]
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict:
        # Both faces in one output: a kernel-backed front end renders the widget, the static
        # website (and anything without widget support) renders the HTML.
        live = self.widget()
        if hasattr(live, "_repr_mimebundle_"):
            bundle = dict(live._repr_mimebundle_(include=include, exclude=exclude) or {})
        else:  # ipywidgets 7 (Colab's) has no _repr_mimebundle_: its widget-view bundle by hand
            view = {"version_major": 2, "version_minor": 0, "model_id": live.model_id}
            bundle = {"application/vnd.jupyter.widget-view+json": view}
        bundle["text/html"] = self.to_html()
        bundle["text/plain"] = f"<{self.title}: interactive explorer>"
        return bundle


# -- chapter 1 --------------------------------------------------------------------------------
def pixel_shuffle_explorer(
    images: np.ndarray, permutation: np.ndarray, labels: Sequence[object] | None = None
) -> Explorer:
    """Chapter 1: an image next to the same image with its pixels moved by a fixed permutation.

    Args:
        images: grey images ``(N, H, W)`` with N <= 12.
        permutation: a permutation of ``range(H * W)``, the same for every image.
        labels: optional class label of each image, shown in the caption.

    Returns:
        an :class:`Explorer` with one control: which example.
    """
    images = np.asarray(images, dtype=float)
    if images.ndim != 3 or not 1 <= len(images) <= 12:
        raise ValueError(f"images: got shape {images.shape}, expected (N, H, W) with 1 <= N <= 12")
    n, h, w = images.shape
    permutation = np.asarray(permutation)
    if sorted(permutation.tolist()) != list(range(h * w)):
        raise ValueError(f"permutation: expected a permutation of range({h * w})")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels: got {len(labels)}, expected one per image ({n})")

    def render(example: int) -> Frame:
        img = images[example]
        shuffled = img.reshape(-1)[permutation].reshape(h, w)
        label = f" (label {labels[example]})" if labels is not None else ""
        return Frame(
            [png_bytes(img, vmin=0, vmax=1), png_bytes(shuffled, vmin=0, vmax=1)],
            f"Example {example}{label}: left as drawn, right after the fixed pixel permutation. "
            "The MLP sees the same 784 numbers in both, only in another order.",
        )

    return Explorer("Pixel shuffle", {"example": list(range(n))}, render, scale=5)


def param_count_explorer(
    sides: Sequence[int] = (28, 64, 100, 224),
    channels: Sequence[int] = (1, 3),
    hidden: Sequence[int] = (100, 1000),
    conv_filters: int = 32,
    kernel_size: int = 3,
) -> Explorer:
    """Chapter 1: weights of a dense first layer vs a convolutional first layer, per input size.

    The counts come from :mod:`cnnbook.numpy_ref` (``dense_params``, ``conv2d_params``).
    """
    from cnnbook.numpy_ref import conv2d_params, dense_params

    def render(side: int, channels: int, hidden_units: int) -> Frame:
        inputs = side * side * channels
        dense = dense_params(inputs, hidden_units)
        conv = conv2d_params(channels, conv_filters, kernel_size)
        bars = _log_bars(
            [
                (f"dense layer, {hidden_units:,} units", dense, "#d62728"),
                (
                    f"conv layer, {conv_filters} filters {kernel_size}x{kernel_size}",
                    conv,
                    "#1f77b4",
                ),
            ],
            top=1e9,
        )
        caption = (
            f"{bars}Input {side}x{side}x{channels} = <b>{inputs:,}</b> numbers. A dense layer of "
            f"{hidden_units:,} neurons needs {inputs:,} x {hidden_units:,} weights + "
            f"{hidden_units:,} biases = <b>{dense:,}</b> parameters; {conv_filters} convolution "
            f"filters of {kernel_size}x{kernel_size}x{channels} need <b>{conv:,}</b>, whatever the "
            "image size."
        )
        return Frame([], caption)

    def still(side: int, channels: int, hidden_units: int) -> bytes:
        import matplotlib.pyplot as plt

        dense = dense_params(side * side * channels, hidden_units)
        conv = conv2d_params(channels, conv_filters, kernel_size)
        fig, ax = plt.subplots(figsize=(2.4, 2.4), layout="constrained")
        bars = ax.bar([0, 1], [dense, conv], width=0.6, color=["#d62728", "#1f77b4"])
        ax.bar_label(bars, labels=[f"{dense:,}", f"{conv:,}"], padding=2, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylim(1, 1e9)
        ax.set_xticks([0, 1], [f"dense\n{hidden_units:,} units", f"conv\n{conv_filters} filters"])
        ax.tick_params(labelsize=7)
        ax.set_title(f"{side}x{side}x{channels} input", fontsize=8)
        return _figure_png_fast(fig, dpi=100)

    return Explorer(
        "Parameters of the first layer",
        {"side": list(sides), "channels": list(channels), "hidden_units": list(hidden)},
        render,
        labels={"side": "image side", "hidden_units": "dense units"},
        still=still,
    )


# -- chapter 2 --------------------------------------------------------------------------------
def sliding_window_explorer(x: np.ndarray, w: np.ndarray, stride: int = 1) -> Explorer:
    """Chapter 2: step through the positions of a kernel sliding over a small input.

    The outputs are computed with ``torch.nn.functional.conv2d`` (cross-correlation).

    Args:
        x: 2-D input (at most 8x8 so the numbers stay readable).
        w: 2-D kernel.
        stride: the window's step.
    """
    import torch
    import torch.nn.functional as F

    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 2 or max(x.shape) > 8:
        raise ValueError(f"x: got shape {x.shape}, expected a 2-D array of at most 8x8")
    if w.ndim != 2 or w.shape[0] > x.shape[0] or w.shape[1] > x.shape[1]:
        raise ValueError(f"w: got shape {w.shape}, expected a 2-D kernel no larger than x")
    out = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None], stride=stride)[
        0, 0
    ].numpy()

    def render(position: int) -> Frame:
        i, j = divmod(position, out.shape[1])
        r, c = i * stride, j * stride
        kh, kw = w.shape
        in_window = np.zeros(x.shape, dtype=bool)
        in_window[r : r + kh, c : c + kw] = True
        done = np.arange(out.size).reshape(out.shape) <= position
        current = np.zeros(out.shape, dtype=bool)
        current[i, j] = True
        products = " + ".join(
            f"{_signed(a)}&middot;{_signed(b)}"
            for a, b in zip(x[r : r + kh, c : c + kw].flat, w.flat, strict=True)
        )
        tables = (
            '<div style="display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start">'
            + _number_table("input", x, in_window, "#f4a6a6")
            + _number_table("kernel", w, np.ones(w.shape, dtype=bool), "#fdd9a0")
            + _number_table("output", np.where(done, out, np.nan), current, "#a6dba0")
            + "</div>"
        )
        return Frame(
            [],
            f"{tables}<p>Position {position + 1} of {out.size}, output [{i}, {j}]: "
            f"{products} = <b>{out[i, j]:g}</b></p>",
        )

    def still(position: int) -> bytes:
        from cnnbook.viz.figures import sliding_window_figure

        return _figure_png_fast(sliding_window_figure(x, w, out, position, stride), dpi=60)

    return Explorer("Sliding window", {"position": list(range(out.size))}, render, still=still)


def conv_explorer(
    image: np.ndarray,
    filters: Sequence[str] = ("blur", "edge", "sharpen", "sobel_x"),
    kernel_sizes: Sequence[int] = (3, 5, 7),
    strides: Sequence[int] = (1, 2, 3),
    paddings: Sequence[str] = ("0 (valid)", "same"),
    dilations: Sequence[int] = (1, 2),
) -> Explorer:
    """Chapter 2: a filter on a grey photograph, with kernel size, stride, padding and dilation.

    The left picture is the padded input (padding in blue) with the taps of the first window in
    red and of the next one (one stride along the row) in yellow; the right one is the feature
    map computed by ``torch.nn.functional.conv2d``, drawn at the same scale, so shrinking by stride
    and by missing padding is visible. The caption checks the output-size formula against it.

    Args:
        image: 2-D grey image in [0, 1] (64x64 keeps the page light).
        filters: names accepted by :func:`cnnbook.viz.figures.classic_kernel`.
        kernel_sizes, strides, dilations: the options of each slider.
        paddings: options among "0 (valid)" and "same" (same = dilation * (K - 1) / 2).
    """
    import torch
    import torch.nn.functional as F

    from cnnbook.numpy_ref import conv2d_output_size
    from cnnbook.viz.figures import classic_kernel, conv_geometry_panel

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image: got shape {image.shape}, expected a 2-D grey image")
    for p in paddings:
        if p not in ("0 (valid)", "same"):
            raise ValueError(f"paddings: got {p!r}, expected '0 (valid)' or 'same'")
    t = torch.from_numpy(image)[None, None]

    def render(filter: str, kernel_size: int, stride: int, padding: str, dilation: int) -> Frame:
        pad = dilation * (kernel_size - 1) // 2 if padding == "same" else 0
        w = torch.from_numpy(classic_kernel(filter, kernel_size))[None, None]
        out = F.conv2d(t, w, stride=stride, padding=pad, dilation=dilation)[0, 0].numpy()
        if filter in ("blur", "sharpen", "identity"):
            picture = png_bytes(out, vmin=0.0, vmax=1.0)
        else:
            lim = float(np.abs(out).max()) or 1.0
            picture = png_bytes(out, vmin=-lim, vmax=lim, cmap="RdBu_r")
        panel = png_bytes(conv_geometry_panel(image, kernel_size, stride, pad, dilation))
        n = image.shape[0]
        formula = conv2d_output_size(n, kernel_size, stride, pad, dilation)
        caption = (
            f"{filter} kernel {kernel_size}x{kernel_size}, stride {stride}, padding {pad}, "
            f"dilation {dilation} (span {dilation * (kernel_size - 1) + 1} pixels): "
            f"&lfloor;({n} + 2&middot;{pad} &minus; {dilation}&middot;({kernel_size} &minus; 1) "
            f"&minus; 1) / {stride}&rfloor; + 1 = <b>{formula}</b>; "
            f"PyTorch's output is <b>{out.shape[0]}x{out.shape[1]}</b>."
        )
        return Frame([panel, picture], caption)

    return Explorer(
        "Convolution on a photograph",
        {
            "filter": list(filters),
            "kernel_size": list(kernel_sizes),
            "stride": list(strides),
            "padding": list(paddings),
            "dilation": list(dilations),
        },
        render,
        labels={"kernel_size": "kernel size"},
        # open on a case where stride and padding visibly matter
        initial={"filter": filters[-1], "kernel_size": kernel_sizes[-1], "stride": strides[1]}
        if len(strides) > 1
        else None,
        scale=3,
    )


# -- chapter 3 --------------------------------------------------------------------------------
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh")


def torch_activation(name: str) -> Callable[[Any], Any]:
    """The ``torch.nn.functional`` activation called ``name`` (one of ``ACTIVATIONS``)."""
    import torch
    import torch.nn.functional as F

    table = {
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "elu": F.elu,
        "gelu": F.gelu,
        "silu": F.silu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "identity": lambda z: z,
    }
    if name not in table:
        raise ValueError(f"name: got {name!r}, expected one of {sorted(table)}")
    return table[name]


def activation_curve(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(x)`` and ``f'(x)`` of an activation, the derivative taken by PyTorch's autograd."""
    import torch

    t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = torch_activation(name)(t)
    (dy,) = torch.autograd.grad(y.sum(), t)
    return y.detach().numpy(), dy.numpy()


def gradient_flow(
    name: str, depth: int = 30, width: int = 64, init: str = "he", batch: int = 128, seed: int = 0
) -> np.ndarray:
    """Norm of the loss gradient w.r.t. each layer's weights in a deep stack of dense layers.

    A stack ``depth x (Linear(width, width) -> activation)`` (no biases) gets a standard-normal
    batch, and the same random upstream gradient (standard normal, divided by the batch size)
    arrives at its output; layer 1 is next to the input.

    Args:
        name: an activation of ``ACTIVATIONS`` (or "identity").
        depth, width, batch: size of the stack and of the batch.
        init: "he" (std sqrt(2 / fan_in)), "xavier" (std sqrt(1 / fan_in)) or "small" (std 0.01).
        seed: seeds weights and data.

    Returns:
        array ``(depth,)`` of Frobenius norms of the weight gradients.
    """
    if init not in _INIT_GAIN:
        raise ValueError(f"init: got {init!r}, expected one of {sorted(_INIT_GAIN)}")
    for arg, value in (("depth", depth), ("width", width), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg}: got {value!r}, expected a positive int")
    torch_activation(name)  # validates the name
    return np.array(_gradient_flow(name, depth, width, init, batch, seed))


# Weight variance times fan-in for each initialisation; None means a fixed std of 0.01.
_INIT_GAIN = {"he": 2.0, "xavier": 1.0, "small": None}


@functools.lru_cache(maxsize=256)
def _gradient_flow(
    name: str, depth: int, width: int, init: str, batch: int, seed: int
) -> tuple[float, ...]:
    import torch

    # Tiny matrices: one thread is much faster than two threads that keep waiting for each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gain = _INIT_GAIN[init]
        std = 0.01 if gain is None else (gain / width) ** 0.5
        act = torch_activation(name)
        gen = torch.Generator().manual_seed(seed)
        weights = [
            (torch.randn(width, width, generator=gen, dtype=torch.float64) * std).requires_grad_()
            for _ in range(depth)
        ]
        h = torch.randn(batch, width, generator=gen, dtype=torch.float64)
        upstream = torch.randn(batch, width, generator=gen, dtype=torch.float64) / batch
        for weight in weights:
            h = act(h @ weight.T)
        grads = torch.autograd.grad(h, weights, grad_outputs=upstream)
        return tuple(float(g.norm()) for g in grads)
    finally:
        torch.set_num_threads(threads)


def activation_explorer(
    depth: int = 30,
    inits: Sequence[str] = ("he", "xavier", "small"),
    names: Sequence[str] = ACTIVATIONS,
) -> Explorer:
    """Chapter 3: an activation, its derivative, and the gradient it lets through ``depth`` layers.

    Each frame has the curve of ``f`` and ``f'`` (autograd) and, on a log scale, the gradient norm
    per layer from :func:`gradient_flow`, one line per initialisation.
    """

    def render(activation: str) -> Frame:
        import matplotlib.pyplot as plt

        x = np.linspace(-4, 4, 201)
        y, dy = activation_curve(activation, x)
        norms = {init: gradient_flow(activation, depth=depth, init=init) for init in inits}
        fig, (a, b) = plt.subplots(1, 2, figsize=(8, 2.8))
        a.axhline(0, color="0.8", lw=0.8)
        a.plot(x, y, label="f(x)")
        a.plot(x, dy, "--", label="f'(x)")
        a.set_ylim(-1.5, 3)
        a.set_title(activation)
        a.legend(fontsize=8)
        for init, values in norms.items():
            b.semilogy(
                np.arange(1, depth + 1),
                np.maximum(values, 1e-300),
                marker="o",
                ms=3,
                label=f"{init} init",
            )
        b.set_xlabel("layer (1 = input side)")
        b.set_title("gradient norm per layer")
        b.grid(True, which="both", alpha=0.3)
        b.legend(fontsize=8)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.9, wspace=0.25)
        table = _value_table(
            ["init", "layer 1", f"layer {depth}"],
            [[f"{init} init", _scientific(v[0]), _scientific(v[-1])] for init, v in norms.items()],
        )
        caption = (
            f"{activation}, {depth} layers of width 64. Gradient norm of the first and last layer:"
            f"{table}"
        )
        return Frame([_figure_png_fast(fig)], caption)

    return Explorer("Activations and gradient flow", {"activation": list(names)}, render)


def _figure_png_fast(fig: Any, dpi: int = 72) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _scientific(v: float) -> str:
    """A positive number for a reader: 3 significant digits, powers of ten written as such.

    ``3.97``, ``0.0123``, ``1.70 &times; 10<sup>&minus;12</sup>`` (HTML).
    """
    v = float(v)
    if not np.isfinite(v):
        return html.escape(str(v))
    if v == 0 or 1e-3 <= abs(v) < 1e4:
        return f"{v:.3g}".replace("-", "&minus;")
    mantissa, exponent = f"{v:.2e}".split("e")
    return f"{mantissa} &times; 10<sup>{int(exponent)}</sup>".replace("-", "&minus;")


def _value_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A small table of values in HTML with its own spacing (a page's styles may have none).

    The first column (a label) is left-aligned; the others are numbers, right-aligned in
    tabular figures. Cells are HTML already (``header`` is escaped).
    """
    pad = "padding:0.15em 0.9em"
    num = f"{pad};text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap"
    head = "".join(
        f'<th style="{pad};text-align:{"left" if k == 0 else "right"};'
        f'border-bottom:1px solid #999">{html.escape(h)}</th>'
        for k, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{pad if k == 0 else num}">{cell}</td>' for k, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return (
        '<table class="cnnbook-values" style="border-collapse:collapse;margin:0.3em 0">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _signed(v: float) -> str:
    """A number for a written-out product: negatives in parentheses, with a real minus sign."""
    return f"({v:g})".replace("-", "&minus;") if v < 0 else f"{v:g}"


def _log_bars(items: Sequence[tuple[str, int, str]], top: float) -> str:
    """Horizontal bars in HTML, lengths on a log10 scale from 1 to ``top``."""
    rows = []
    for label, value, colour in items:
        width = 100 * np.log10(max(value, 1)) / np.log10(top)
        rows.append(
            f'<div style="margin:0.2em 0"><div style="font-size:0.85em">{html.escape(label)}: '
            f'{value:,}</div><div style="background:{colour};height:1em;width:{width:.1f}%">'
            "</div></div>"
        )
    return '<div style="max-width:36em">' + "".join(rows) + "</div>"


def _number_table(title: str, a: np.ndarray, mark: np.ndarray, colour: str) -> str:
    """A small matrix as an HTML table; cells where ``mark`` holds get ``colour``."""
    cell = "border:1px solid #999;width:2.2em;height:2.2em;text-align:center;padding:0"
    rows = []
    for i in range(a.shape[0]):
        cells = []
        for j in range(a.shape[1]):
            v = a[i, j]
            bg = f"background:{colour};" if mark[i, j] else ""
            cells.append(f'<td style="{cell};{bg}">{"" if np.isnan(v) else f"{v:g}"}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table style="border-collapse:collapse;margin:0"><caption>{title}</caption>'
        + "".join(rows)
        + "</table>"
    )
