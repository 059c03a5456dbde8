"""Every public function documents itself; the Examples in the docstrings run and are right."""

import doctest
import importlib
import inspect

import numpy as np
import pytest

from cnnbook import numpy_ref

MODULES = [
    "cnnbook.numpy_ref",
    "cnnbook.numpy_ref.counting",
    "cnnbook.numpy_ref.padding",
    "cnnbook.numpy_ref.conv",
    "cnnbook.numpy_ref.activations",
    "cnnbook.numpy_ref.pooling",
    "cnnbook.numpy_ref.batchnorm",
    "cnnbook.numpy_ref.linear",
    "cnnbook.numpy_ref.dropout",
    "cnnbook.numpy_ref.losses",
    "cnnbook.numpy_ref.optim",
    "cnnbook.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


SECTIONS = ("Args:", "Returns:", "Shape:", "Example:")
COUNTING = {"dense_params", "conv2d_params", "conv2d_output_size", "receptive_field"}


@pytest.mark.parametrize("name", numpy_ref.__all__)
def test_public_functions_document_args_returns_shape_example(name):
    func = getattr(numpy_ref, name)
    doc = inspect.getdoc(func) or ""
    # The counting helpers return plain ints: no Shape section there.
    sections = ("Args:", "Returns:", "Example:") if name in COUNTING else SECTIONS
    for section in sections:
        assert section in doc, f"{name}: the docstring has no {section} section"
    hints = inspect.get_annotations(func)
    assert "return" in hints, f"{name}: no return type hint"
