"""The live ipywidgets explorers of cnnbook.widgets, driven in a real Jupyter kernel (issue 17).

A kernel is started (nbclient), every explorer is built, and each of its controls is moved to
another option. After each move the images and caption the live widget shows must be those of the
HTML twin's frame for the same choice of options (``Explorer.frames``, what the website embeds),
and they must differ from what it showed before whenever the twin's two frames differ.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

CODE = r"""
import base64, hashlib, itertools, json
import numpy as np
from cnnbook import widgets
from cnnbook.viz import figures

rng = np.random.default_rng(0)
explorers = {
    "param_count": widgets.param_count_explorer(
        sides=(28, 64), channels=(1, 3), hidden=(100, 1000)),
    "pixel_shuffle": widgets.pixel_shuffle_explorer(
        rng.random((3, 8, 8)), rng.permutation(64), labels=[0, 1, 2]),
    "sliding_window": widgets.sliding_window_explorer(
        rng.integers(0, 5, (5, 5)).astype(float), np.array([[1.0, 0.0, -1.0]] * 3)),
    "conv": widgets.conv_explorer(figures.sample_photo(32), filters=("blur", "edge"),
                                  kernel_sizes=(3, 5), strides=(1, 2), dilations=(1, 2)),
    "activation": widgets.activation_explorer(depth=8),
}

def digest(images, caption):
    return [hashlib.sha256(bytes(i)).hexdigest() for i in images], caption

report = {}
for name, ex in explorers.items():
    twin = ex.frames()  # the website's frames, keyed by option indices
    names = list(ex.controls)
    box = ex.widget()
    inputs, view, caption = box.children[1].children, box.children[2], box.children[3]
    moves = []
    for control, w in zip(names, inputs):
        before = digest([im.value for im in view.children], caption.value)
        options = ex.controls[control]
        new = options[-1] if w.value == options[0] else options[0]
        old_index = tuple(ex.controls[n].index(i.value) for n, i in zip(names, inputs))
        w.value = new  # what a front end's slider or drop-down does
        index = tuple(ex.controls[n].index(i.value) for n, i in zip(names, inputs))
        shown = digest([im.value for im in view.children], caption.value)
        frame = twin[index]
        moves.append({
            "control": control,
            "widget": type(w).__name__,
            "shown": shown,
            "twin": digest(frame.images, frame.caption),
            "before": before,
            "twin_before": digest(twin[old_index].images, twin[old_index].caption),
        })
    report[name] = moves
print("REPORT" + json.dumps(report))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE)])
    cwd = tmp_path_factory.mktemp("widgets")
    NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    return json.loads(text.split("REPORT", 1)[1])


EXPLORERS = ["param_count", "pixel_shuffle", "sliding_window", "conv", "activation"]


@pytest.mark.parametrize("name", EXPLORERS)
def test_every_control_shows_the_twins_frame(report, name):
    moves = report[name]
    assert moves, f"{name}: no control"
    for move in moves:
        assert move["widget"] in ("SelectionSlider", "Dropdown")
        assert move["before"] == move["twin_before"], f"{name}: wrong picture before moving"
        assert move["shown"] == move["twin"], f"{name}.{move['control']}: not the twin's frame"
        if move["twin"] != move["twin_before"]:
            assert move["shown"] != move["before"], f"{name}.{move['control']}: nothing changed"
    # At least one control of each explorer changes what it shows.
    assert any(m["shown"] != m["before"] for m in moves), f"{name}: no control changes the view"
