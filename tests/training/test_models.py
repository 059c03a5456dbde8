"""Networks of cnnbook.models: parameter counts by hand formula, output shapes, the shape table."""

import pytest
import torch
from torch import nn

from cnnbook import models


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


# Every count below is written from the layer list of the syllabus, not read from the code.
EXPECTED = {
    "reference": conv(1, 32, 3) + conv(32, 64, 3) + dense(64 * 7 * 7, 128) + dense(128, 10),
    "reference_bn": conv(1, 32, 3, False)
    + 2 * 32
    + conv(32, 64, 3, False)
    + 2 * 64
    + dense(3136, 128)
    + dense(128, 10),
    "reference_bn_dense": conv(1, 32, 3, False)
    + 2 * 32
    + conv(32, 64, 3, False)
    + 2 * 64
    + dense(3136, 128)
    + 2 * 128
    + dense(128, 10),
    "small": conv(1, 32, 3) + dense(32 * 13 * 13, 10),
    "lenet5": conv(1, 6, 5) + conv(6, 16, 5) + dense(400, 120) + dense(120, 84) + dense(84, 10),
}
BUILDERS = {
    "reference": models.build_reference_cnn,
    "reference_bn": models.build_reference_cnn_bn,
    "reference_bn_dense": lambda: models.build_reference_cnn_bn(dense_bn=True),
    "small": models.build_small_cnn,
    "lenet5": models.build_lenet5,
}


def test_reference_cnn_has_the_syllabus_count():
    assert EXPECTED["reference"] == 421_642
    assert models.count_parameters(models.build_reference_cnn()) == 421_642


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_parameter_counts_and_output_shape(name):
    model = BUILDERS[name]()
    assert sum(p.numel() for p in model.parameters()) == EXPECTED[name]
    model.eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_reference_cnn_layers_follow_the_contract():
    model = models.build_reference_cnn()
    kinds = [type(m) for m in model]
    assert kinds == [
        nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.MaxPool2d,
        nn.Flatten, nn.Dropout, nn.Linear, nn.Linear,
    ]  # fmt: skip
    assert model[0].padding == (1, 1) and model[3].padding == (1, 1)
    assert model[7].p == 0.25
    assert not any(isinstance(m, nn.ReLU) for m in list(model)[8:])  # no ReLU between linears


def test_num_classes_changes_only_the_head():
    for build in (models.build_small_cnn, models.build_lenet5, models.build_reference_cnn_bn):
        ten, five = build(), build(num_classes=5)
        last_in = [m for m in ten.modules() if isinstance(m, nn.Linear)][-1].in_features
        diff = models.count_parameters(ten) - models.count_parameters(five)
        assert diff == dense(last_in, 10) - dense(last_in, 5)
        assert five.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 5)


@pytest.mark.parametrize("width,num_hidden", [(1, 1), (50, 1), (64, 2), (17, 3), (10, 0)])
def test_mlp_count_and_shape(width, num_hidden):
    model = models.build_mlp(width, num_hidden)
    if num_hidden == 0:
        expected = dense(784, 10)
    else:
        expected = dense(784, width) + (num_hidden - 1) * dense(width, width) + dense(width, 10)
    assert models.count_parameters(model) == expected
    assert models.mlp_num_params(width, num_hidden) == expected
    assert model(torch.rand(4, 1, 28, 28)).shape == (4, 10)


@pytest.mark.parametrize("target,num_hidden", [(421_642, 1), (421_642, 2), (54_410, 2), (9_000, 3)])
def test_mlp_width_for_params_is_the_closest(target, num_hidden):
    width = models.mlp_width_for_params(target, num_hidden)
    # brute force over every width as the oracle
    best = min(range(1, 2000), key=lambda w: abs(models.mlp_num_params(w, num_hidden) - target))
    assert abs(models.mlp_num_params(width, num_hidden) - target) == abs(
        models.mlp_num_params(best, num_hidden) - target
    )
    assert (
        abs(models.count_parameters(models.build_mlp(width, num_hidden)) - target) < 2 * width + 800
    )


def test_mlp_dropout_and_bad_arguments():
    assert any(isinstance(m, nn.Dropout) for m in models.build_mlp(8, 2, dropout=0.5))
    with pytest.raises(ValueError, match="width"):
        models.build_mlp(0)
    with pytest.raises(ValueError, match="dropout"):
        models.build_mlp(8, dropout=1.0)
    with pytest.raises(ValueError, match="num_params"):
        models.mlp_width_for_params(-3)
    with pytest.raises(ValueError, match="num_classes"):
        models.build_small_cnn(num_classes=0)


def test_shape_table_of_reference_cnn():
    table = models.shape_table(models.build_reference_cnn(), (1, 28, 28))
    shapes = [row.output_shape for row in table]
    assert shapes == [
        (32, 28, 28), (32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 14, 14), (64, 7, 7),
        (3136,), (3136,), (128,), (10,),
    ]  # fmt: skip
    assert [row.num_params for row in table] == [320, 0, 0, 18_496, 0, 0, 0, 0, 401_536, 1_290]
    assert table.total_params() == 421_642
    text, md = str(table), table.to_markdown()
    assert "3136" in text and "421,642" in text and "Conv2d" in text
    assert md.count("\n") == len(table) + 2 and md.startswith("| layer |")


def test_shape_table_handles_nesting_batchnorm_and_bad_input():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), nn.Flatten())
    model.train()
    table = models.shape_table(model, (3, 8, 8))
    assert [r.output_shape for r in table] == [(4, 6, 6), (4, 6, 6), (144,)]
    assert [r.name for r in table] == ["0.0", "0.1", "1"]
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="input_shape"):
        models.shape_table(model, (3, -1, 8))
    with pytest.raises(ValueError, match="model"):
        models.shape_table("not a model", (1, 28, 28))
