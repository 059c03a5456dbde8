"""cnnbook.transfer: freezing (batch norm included), head replacement, parameter groups, the
shipped source network and its checksum."""

import copy
import hashlib
import json
import shutil

import pytest
import torch
from torch import nn

from cnnbook import transfer
from cnnbook.models import build_reference_cnn, build_reference_cnn_bn


def bn_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(4 * 6 * 6, 8), nn.BatchNorm1d(8), nn.Linear(8, 3),
    )  # fmt: skip


def test_freeze_stops_gradients_and_keeps_batchnorm_in_eval():
    torch.manual_seed(0)
    model = bn_net()
    with torch.no_grad():  # non-trivial running statistics
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    assert transfer.freeze(model) is model
    assert all(not p.requires_grad for p in model.parameters())
    model.train()  # what a training loop does every epoch
    assert model.training and model[4].training  # dropout follows train() as usual
    assert not model[1].training and not model[6].training
    assert transfer.is_frozen_batchnorm(model[1]) and not transfer.is_frozen_batchnorm(model[0])
    before = copy.deepcopy(model[1].state_dict())
    x = torch.randn(5, 1, 8, 8)
    out = model[1](model[0](x))
    # oracle: normalisation with the running estimates, computed by hand
    bn = model[1]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    expected = (model[0](x) - bn.running_mean[:, None, None]) * scale[:, None, None]
    torch.testing.assert_close(out, expected + bn.bias[:, None, None])
    for k, v in model[1].state_dict().items():  # running statistics untouched
        torch.testing.assert_close(v, before[k])


def test_freeze_part_of_a_model_and_unfreeze():
    model = bn_net()
    transfer.freeze(model[:-1])  # a slice shares its layers with the model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["7.weight", "7.bias"]
    model.train()
    assert not model[1].training
    transfer.unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert model[1].training and model[6].training
    model.eval()
    assert not model[1].training


def test_a_training_step_changes_only_the_unfrozen_head():
    torch.manual_seed(1)
    model = bn_net()
    transfer.freeze(model)
    transfer.replace_head(model, 5)
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.SGD(transfer.param_groups(model, head_lr=0.1, base_lr=0.1), lr=0.1)
    model.train()
    loss = nn.functional.cross_entropy(model(torch.randn(6, 1, 8, 8)), torch.arange(6) % 5)
    loss.backward()
    opt.step()
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed == {"7.weight", "7.bias"}


def test_replace_head_swaps_the_last_linear():
    model = build_reference_cnn()
    old_first_linear = model[8]
    assert transfer.replace_head(model, 26) is model
    assert model[8] is old_first_linear  # only the last Linear changes
    assert isinstance(model[9], nn.Linear) and (model[9].in_features, model[9].out_features) == (
        128,
        26,
    )
    assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 26)


def test_replace_head_in_a_nested_model_keeps_dtype_bias_and_trains():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Flatten(), nn.Linear(12, 6))
            self.classifier = nn.Sequential(nn.ReLU(), nn.Linear(6, 4, bias=False))

        def forward(self, x):
            return self.classifier(self.features(x))

    net = Net().double()
    transfer.freeze(net)
    transfer.replace_head(net, 7)
    head = net.classifier[1]
    assert head.out_features == 7 and head.bias is None and head.weight.dtype == torch.float64
    assert head.weight.requires_grad and not net.features[1].weight.requires_grad
    assert transfer.find_head(net) == ("classifier.1", head)
    with pytest.raises(ValueError, match="num_classes"):
        transfer.replace_head(net, 0)
    with pytest.raises(ValueError, match="nn.Linear"):
        transfer.replace_head(nn.Sequential(nn.Conv2d(1, 2, 3)), 3)


def test_param_groups_split_head_and_base():
    model = build_reference_cnn_bn()
    groups = transfer.param_groups(model, head_lr=1e-2, base_lr=1e-4)
    assert [g["name"] for g in groups] == ["head", "base"]
    assert [g["lr"] for g in groups] == [1e-2, 1e-4]
    head_ids = {id(model[11].weight), id(model[11].bias)}
    assert {id(p) for p in groups[0]["params"]} == head_ids
    all_ids = {id(p) for p in model.parameters()}
    assert {id(p) for p in groups[1]["params"]} == all_ids - head_ids
    # frozen parameters are left out; an empty base group is still a valid optimizer group
    transfer.freeze(model)
    transfer.replace_head(model, 10)
    groups = transfer.param_groups(model, 1e-2, 1e-4)
    assert len(groups[0]["params"]) == 2 and groups[1]["params"] == []
    torch.optim.Adam(groups)
    with pytest.raises(ValueError, match="base_lr"):
        transfer.param_groups(model, 1e-2, -1.0)


def test_param_groups_give_each_part_its_learning_rate():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    start = copy.deepcopy(model)
    opt = torch.optim.SGD(transfer.param_groups(model, head_lr=0.5, base_lr=0.01), lr=123.0)
    nn.functional.cross_entropy(model(torch.randn(5, 4)), torch.tensor([0, 1, 0, 1, 1])).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    opt.step()
    for p, p0, g, lr in zip(
        model.parameters(), start.parameters(), grads, [0.01, 0.01, 0.5, 0.5], strict=True
    ):
        torch.testing.assert_close(p, p0 - lr * g)


def test_shipped_network_matches_its_record():
    info = transfer.pretrained_info()
    path = transfer.PRETRAINED_DIR / info["file"]
    blob = path.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == info["sha256"]
    assert len(blob) < 2_000_000 and info["source_task"]["dataset"] == "glyph-digits"
    model = transfer.load_pretrained()
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) == info["num_parameters"]
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, info["num_classes"])


def test_a_corrupted_copy_is_refused(tmp_path):
    info = transfer.pretrained_info()
    copy_path = tmp_path / "copy.pt"
    shutil.copy(transfer.PRETRAINED_DIR / info["file"], copy_path)
    transfer.load_pretrained(copy_path)  # an intact copy loads
    blob = bytearray(copy_path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # flip one byte inside the tensor data
    copy_path.write_bytes(bytes(blob))
    with pytest.raises(transfer.ChecksumError, match="SHA-256"):
        transfer.load_pretrained(copy_path)
    with pytest.raises(ValueError, match="path"):
        transfer.load_pretrained(tmp_path / "missing.pt")


@pytest.mark.slow
def test_shipped_network_reaches_its_stated_source_accuracy():
    from cnnbook import data
    from cnnbook.data.fingerprint import fingerprint_differences
    from cnnbook.training import evaluate

    info = transfer.pretrained_info()
    test = info["source_task"]["test"]
    X, y = data.load("glyph-digits", "test", n=test["n"], seed=test["seed"], as_tensor=True)
    # compared with tolerances: float bytes differ between processors (NumPy's SIMD rounding)
    differences = fingerprint_differences(info["source_task"]["test_fingerprint"], X, y)
    assert not differences, (
        "the glyph-digits generator no longer makes the images the shipped network was tested "
        f"on ({'; '.join(differences)}): re-run scripts/pretrain_source.py"
    )
    batches = list(zip(X.split(1000), y.split(1000), strict=True))
    accuracy = evaluate(transfer.load_pretrained(), batches, "cpu")
    assert accuracy == pytest.approx(info["source_test_accuracy"], abs=0.003)
    json.dumps(info)  # the record stays plain JSON


def test_transfer_experiment_runs_one_small_cell():
    result = transfer.transfer_experiment(
        2, seed=0, min_steps=3, max_steps=3, n_test=100, pool_size=700
    )
    assert list(result) == list(transfer.STRATEGIES)
    assert all(0.0 <= acc <= 1.0 for acc in result.values())
    with pytest.raises(ValueError, match="strategies"):
        transfer.transfer_experiment(2, strategies=["linear_probe"])
    with pytest.raises(ValueError, match="n_per_class"):
        transfer.transfer_experiment(0)


def test_conv_base_is_the_conv_stack_and_the_head_holds_the_dense_layers():
    model = build_reference_cnn_bn()
    assert transfer.conv_base_end(model) == 8
    base, head = transfer.split_base_head(model)
    # oracle: the base outputs the 64 feature maps of 7x7, the head reads them
    x = torch.rand(2, 1, 28, 28)
    assert base.eval()(x).shape == (2, 64, 7, 7)
    assert not any(isinstance(m, nn.Linear) for m in base.modules())
    assert [type(m) for m in head] == [nn.Flatten, nn.Dropout, nn.Linear, nn.Linear]
    assert base[0] is model[0] and head[2] is model[10]  # slices share the model's layers
    n_conv = sum(p.numel() for m in model if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
                 for p in m.parameters())  # fmt: skip
    assert sum(p.numel() for p in base.parameters()) == n_conv
    transfer.freeze(base)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"10.weight", "10.bias", "11.weight", "11.bias"}
    with pytest.raises(ValueError, match="Flatten"):
        transfer.conv_base_end(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    with pytest.raises(ValueError, match="Sequential"):
        transfer.conv_base_end(nn.Linear(2, 2))


def test_new_dense_head_reinitialises_every_dense_layer_and_keeps_the_base():
    torch.manual_seed(0)
    model = transfer.load_pretrained()
    before = copy.deepcopy(model.state_dict())
    transfer.freeze(model)
    assert transfer.new_dense_head(model, 7) is model
    after = model.state_dict()
    for k in before:
        if int(k.split(".")[0]) < 8:  # the conv base: untouched
            assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after["10.weight"], before["10.weight"])  # Linear(3136 -> 128) is new
    assert model[11].out_features == 7 and model[10].in_features == 3136
    assert all(p.requires_grad for p in model[8:].parameters())
    # PyTorch's default init of a Linear layer: uniform in +-1/sqrt(fan_in)
    assert model[10].weight.abs().max() <= 1 / 3136**0.5
    assert before["10.weight"].abs().max() > 1 / 3136**0.5  # the trained weights were not
    with pytest.raises(ValueError, match="dense head"):
        transfer.new_dense_head(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), 3)


def test_param_groups_with_an_explicit_head():
    model = build_reference_cnn_bn()
    base, head = transfer.split_base_head(model)
    groups = transfer.param_groups(model, 1e-2, 1e-3, head=head)
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in head.parameters()}
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in base.parameters()}
    with pytest.raises(ValueError, match="head"):
        transfer.param_groups(model, 1e-2, 1e-3, head=nn.Linear(3, 3))


def test_training_the_head_on_precomputed_features_equals_training_the_whole_model():
    # what transfer_run does for feature extraction: the frozen base runs once
    torch.manual_seed(0)
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8) % 3
    models = [bn_net(), None]
    models[1] = copy.deepcopy(models[0])
    for m in models:
        transfer.freeze(transfer.split_base_head(m)[0])
    whole, split = models
    opt_whole = torch.optim.Adam([p for p in whole.parameters() if p.requires_grad], lr=0.01)
    base, head = transfer.split_base_head(split)
    opt_head = torch.optim.Adam(head.parameters(), lr=0.01)
    with torch.no_grad():
        features = base(x)
    whole.train()
    head.train()
    for step in range(3):
        for model, inputs, opt in ((whole, x, opt_whole), (head, features, opt_head)):
            torch.manual_seed(step)  # the same dropout mask for both
            loss = nn.functional.cross_entropy(model(inputs), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (k, a), b in zip(whole.state_dict().items(), split.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)


def test_transfer_run_trains_to_a_perfect_fit_and_rejects_bad_input():
    r = transfer.transfer_run(1, "feature_extraction", lr=1e-2, min_steps=30, max_steps=30,
                              n_test=100, pool_size=700)  # fmt: skip
    assert set(r) == {"test_acc", "val_acc", "train_acc", "train_loss", "steps"}
    assert r["steps"] == 30 and r["train_acc"] == 1.0  # ten images are learnt by heart
    assert 0.0 <= r["test_acc"] <= 1.0 and 0.0 <= r["val_acc"] <= 1.0
    with pytest.raises(ValueError, match="strategy"):
        transfer.transfer_run(2, "linear_probe")
    with pytest.raises(ValueError, match="lr"):
        transfer.transfer_run(2, "scratch", lr=0)
    with pytest.raises(ValueError, match="pool_size"):
        transfer.transfer_run(2, "scratch", pool_size=400)
    with pytest.raises(ValueError, match="lr"):
        transfer.transfer_experiment(2, lr={"scratch": 1e-3})
