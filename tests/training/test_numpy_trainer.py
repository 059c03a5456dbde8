"""The NumPy trainer against PyTorch: same start, same batches -> same losses and weights."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnbook import numpy_trainer as nt
from cnnbook.models import build_small_cnn


def torch_steps(model, batches, lr, momentum, weight_decay):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    losses = []
    for X, y in batches:
        loss = nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("weight_decay", [0.0, 1e-3])
def test_steps_match_pytorch_in_float64(toy, weight_decay):
    X, y = toy
    X, y = X.double().numpy(), y.numpy()
    torch.manual_seed(0)
    reference = build_small_cnn(num_classes=3).double()
    model = nt.small_cnn(3, dtype=np.float64).load_torch(reference)
    for name, array in model.state_dict().items():  # the copy starts identical
        np.testing.assert_array_equal(array, reference.state_dict()[name].numpy())

    batches = [(X[i : i + 16], y[i : i + 16]) for i in (0, 16, 32, 48)]
    expected = torch_steps(reference, batches, lr=0.1, momentum=0.9, weight_decay=weight_decay)
    optimizer = nt.SGD(model, lr=0.1, momentum=0.9, weight_decay=weight_decay)
    losses = []
    for xb, yb in batches:
        logits = model.forward(xb)
        loss, dlogits = nt.nr.softmax_cross_entropy(logits, yb)
        model.backward(dlogits)
        optimizer.step()
        losses.append(float(loss))
    np.testing.assert_allclose(losses, expected, rtol=1e-10)
    for name, array in model.state_dict().items():
        np.testing.assert_allclose(
            array, reference.state_dict()[name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name
        )


def test_gradients_match_autograd(toy):
    X, y = toy
    X, y = X[:8].double(), y[:8]
    reference = build_small_cnn(num_classes=3).double()
    model = nt.small_cnn(3, dtype=np.float64).load_torch(reference)
    loss, dlogits = nt.nr.softmax_cross_entropy(model.forward(X.numpy()), y.numpy())
    dx = model.backward(dlogits)
    Xt = X.clone().requires_grad_(True)
    nn.functional.cross_entropy(reference(Xt), y).backward()
    np.testing.assert_allclose(dx, Xt.grad.numpy(), rtol=1e-9, atol=1e-14)
    for (name, p), g in zip(reference.named_parameters(), model.gradients(), strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-9, atol=1e-14, err_msg=name)


def test_fit_learns_a_small_subset(toy_images):
    X, y = toy_images(300, seed=4)
    X, y = X.numpy(), y.numpy()
    model = nt.small_cnn(3, seed=0, dropout=0.2)
    before = nt.evaluate(model, X[200:], y[200:])
    history = nt.fit(
        model, X[:200], y[:200], epochs=3, lr=0.02, batch_size=20, X_val=X[200:], y_val=y[200:],
        progress=False,
    )  # fmt: skip
    assert len(history["train_loss"]) == 3 and len(history["val_acc"]) == 3
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] > 0.9 > before + 0.3
    assert model.parameters()[0].dtype == np.float32 and model.training


def test_dropout_layer_follows_training_flag():
    layer = nt.Dropout(0.5, rng=np.random.default_rng(0))
    x = np.ones((4, 50))
    out = layer.forward(x)
    assert set(np.unique(out)) <= {0.0, 2.0} and 0 < (out == 0).mean() < 1
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)


def test_predict_and_bad_input(toy):
    X, y = toy
    reference = build_small_cnn(3).eval()
    model = nt.small_cnn(3).load_torch(reference)
    with torch.no_grad():
        logits = reference(X)
    got = nt.predict(model, X.numpy(), batch_size=50)
    # Two float32 libraries round differently (and differently on each processor): labels must
    # agree wherever the top two logits are clearly apart, and nearly everywhere.
    top2 = logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 1e-4).numpy()
    np.testing.assert_array_equal(got[clear], logits.argmax(1).numpy()[clear])
    assert clear.mean() > 0.9
    with pytest.raises(ValueError, match="X"):
        nt.fit(model, X.numpy()[0], y.numpy(), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        nt.fit(model, X.numpy(), y.numpy(), epochs=0)
    with pytest.raises(ValueError, match="module"):
        nt.small_cnn(3).load_torch(build_small_cnn(5))
    with pytest.raises(ValueError, match="backward"):
        nt.ReLU().backward(np.ones(3))
