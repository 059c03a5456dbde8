"""A small trainer written with the book's own NumPy layers (:mod:`cnnbook.numpy_ref`).

Chapter 6 trains the one-convolution network twice, here and with PyTorch, and compares. Each
layer object wraps one forward/backward pair of ``numpy_ref`` and keeps what the pair needs
between the two passes (the cache) and the gradients of its parameters::

    model = small_cnn(seed=0)  # Conv(1->32, 3) -> ReLU -> MaxPool 2 -> Flatten -> Linear
    history = fit(model, X, y, epochs=2, lr=0.05, X_val=Xv, y_val=yv)

Parameters live in ``layer.params`` (a dict of arrays named as in PyTorch: ``weight``, ``bias``)
and gradients in ``layer.grads``; :meth:`Sequential.load_torch` copies weights from an equivalent
``torch.nn.Sequential`` so both frameworks can start from the same point.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from cnnbook import numpy_ref as nr

__all__ = [
    "Layer",
    "Conv2d",
    "ReLU",
    "MaxPool2d",
    "Flatten",
    "Linear",
    "Dropout",
    "Sequential",
    "SGD",
    "small_cnn",
    "fit",
    "evaluate",
    "predict",
]


class Layer:
    """Base class: ``forward(x) -> out`` remembers what ``backward(dout) -> dx`` needs.

    ``params`` and ``grads`` map names to arrays (empty for layers without parameters);
    ``training`` switches layers such as dropout between their two behaviours.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self._cache: object = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _need_cache(self) -> object:
        if self._cache is None:
            raise ValueError(f"{type(self).__name__}.backward: call forward first")
        return self._cache

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Conv2d(Layer):
    """Convolution through ``numpy_ref.conv2d_forward`` / ``conv2d_backward``.

    Initialised as ``torch.nn.Conv2d``: weights and biases uniform in
    ``+-1/sqrt(C_in*kH*kW)``.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)``, ``H_out = (H + 2P - K) // S + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a positive int")
        rng = np.random.default_rng() if rng is None else rng
        bound = 1 / np.sqrt(in_channels * kernel_size * kernel_size)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.params = {
            "weight": _uniform(rng, bound, shape, dtype),
            "bias": _uniform(rng, bound, (out_channels,), dtype),
        }
        self.stride, self.padding = stride, padding

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = nr.conv2d_forward(
            x, self.params["weight"], self.params["bias"], self.stride, self.padding
        )
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = nr.conv2d_backward(dout, self._need_cache())
        self.grads = {"weight": dw, "bias": db}
        return dx


class Linear(Layer):
    """Fully connected layer through ``numpy_ref.linear_forward`` / ``linear_backward``.

    Initialised as ``torch.nn.Linear``: uniform in ``+-1/sqrt(in_features)``.

    Shape:
        ``(N, in_features) -> (N, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a positive int")
        rng = np.random.default_rng() if rng is None else rng
        bound = 1 / np.sqrt(in_features)
        self.params = {
            "weight": _uniform(rng, bound, (out_features, in_features), dtype),
            "bias": _uniform(rng, bound, (out_features,), dtype),
        }

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = nr.linear_forward(x, self.params["weight"], self.params["bias"])
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = nr.linear_backward(dout, self._need_cache())
        self.grads = {"weight": dw, "bias": db}
        return dx


class ReLU(Layer):
    """``max(0, x)`` through ``numpy_ref.relu_forward`` / ``relu_backward``. Shape unchanged."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = nr.relu_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return nr.relu_backward(dout, self._need_cache())


class MaxPool2d(Layer):
    """Max pooling through ``numpy_ref.max_pool2d_forward`` / ``max_pool2d_backward``.

    Shape:
        ``(N, C, H, W) -> (N, C, (H - K) // S + 1, (W - K) // S + 1)``, ``S = K`` by default.
    """

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = nr.max_pool2d_forward(x, self.kernel_size, self.stride)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return nr.max_pool2d_backward(dout, self._need_cache())


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)`` through ``numpy_ref.flatten`` / ``flatten_backward``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._cache = x.shape
        return nr.flatten(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return nr.flatten_backward(dout, self._need_cache())


class Dropout(Layer):
    """Inverted dropout through ``numpy_ref.dropout_forward`` / ``dropout_backward``.

    Active only while ``training`` is True. The masks come from ``rng`` (NumPy's generator, so
    they differ from PyTorch's masks for the same seed).
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"p: got {p!r}, expected a probability in [0, 1]")
        self.p = float(p)
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = nr.dropout_forward(x, self.p, self.training, self.rng)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return nr.dropout_backward(dout, self._need_cache())


class Sequential(Layer):
    """Layers run in order; ``backward`` runs them in reverse and fills each layer's ``grads``."""

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}]: got {type(layer).__name__}, expected a Layer")
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self, mode: bool = True) -> Sequential:
        self.training = mode
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> Sequential:
        return self.train(False)

    def named_parameters(self) -> Iterator[tuple[str, Layer, str]]:
        """``(name, layer, key)`` per parameter; names as PyTorch's, e.g. ``"0.weight"``."""
        for i, layer in enumerate(self.layers):
            for key in layer.params:
                yield f"{i}.{key}", layer, key

    def parameters(self) -> list[np.ndarray]:
        return [layer.params[key] for _, layer, key in self.named_parameters()]

    def gradients(self) -> list[np.ndarray]:
        return [layer.grads[key] for _, layer, key in self.named_parameters()]

    def set_parameters(self, arrays: list[np.ndarray]) -> None:
        named = list(self.named_parameters())
        if len(arrays) != len(named):
            raise ValueError(f"arrays: got {len(arrays)} arrays, expected {len(named)}")
        for (_, layer, key), array in zip(named, arrays, strict=True):
            layer.params[key] = array

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's names (``"0.weight"``, ``"4.bias"``, ...)."""
        return {name: layer.params[key].copy() for name, layer, key in self.named_parameters()}

    def load_torch(self, module, dtype=None) -> Sequential:
        """Copy the parameters of a ``torch.nn.Sequential`` with the same layout into this model.

        Args:
            module: e.g. ``cnnbook.models.build_small_cnn()``; its ``state_dict`` names must be
                this model's names (layer index + ``weight``/``bias``).
            dtype: NumPy dtype of the copies (default: each parameter's current dtype).

        Returns:
            self.
        """
        state = module.state_dict()
        mine = dict((name, (layer, key)) for name, layer, key in self.named_parameters())
        if set(state) != set(mine):
            raise ValueError(
                f"module: parameter names {sorted(state)} do not match this model's {sorted(mine)}"
            )
        for name, (layer, key) in mine.items():
            array = state[name].detach().cpu().numpy()
            if array.shape != layer.params[key].shape:
                raise ValueError(
                    f"module: {name} has shape {array.shape}, expected {layer.params[key].shape}"
                )
            layer.params[key] = array.astype(dtype or layer.params[key].dtype, copy=True)
        return self

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


class SGD:
    """SGD with momentum and weight decay via ``numpy_ref.sgd_momentum_step`` (as torch.optim.SGD).

    Args:
        model: the :class:`Sequential` to update.
        lr, momentum, weight_decay: as in ``torch.optim.SGD`` (dampening 0, no Nesterov).
    """

    def __init__(
        self, model: Sequential, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        if not isinstance(model, Sequential):
            raise ValueError(f"model: got {type(model).__name__}, expected a Sequential")
        self.model, self.lr, self.momentum, self.weight_decay = model, lr, momentum, weight_decay
        self.velocities: list[np.ndarray] | None = None

    def step(self) -> None:
        """Apply one update with the gradients of the last backward pass."""
        params, self.velocities = nr.sgd_momentum_step(
            self.model.parameters(),
            self.model.gradients(),
            self.velocities,
            self.lr,
            self.momentum,
            self.weight_decay,
        )
        self.model.set_parameters(params)


def small_cnn(
    num_classes: int = 10, *, seed: int | None = 0, dtype=np.float32, dropout: float = 0.0
) -> Sequential:
    """The one-convolution network of chapter 6 in NumPy layers (same layout as
    :func:`cnnbook.models.build_small_cnn`, so :meth:`Sequential.load_torch` works on it).

    ``Conv(1->32, 3) -> ReLU -> MaxPool 2 -> Flatten (5408) -> Linear(5408->num_classes)``, with
    an optional dropout before the linear layer (which shifts the linear layer's index to 5).

    Shape:
        ``(N, 1, 28, 28) -> (N, num_classes)``.
    """
    rng = np.random.default_rng(seed)
    layers: list[Layer] = [
        Conv2d(1, 32, 3, rng=rng, dtype=dtype),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
    ]
    if dropout > 0:
        layers.append(Dropout(dropout, rng=rng))
    layers.append(Linear(32 * 13 * 13, num_classes, rng=rng, dtype=dtype))
    return Sequential(*layers)


def _check_data(X: object, y: object, model: Sequential) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(X, np.ndarray) or X.ndim != 4:
        raise ValueError(
            f"X: got {getattr(X, 'shape', type(X).__name__)}, expected a NumPy array (N, C, H, W)"
        )
    if not isinstance(y, np.ndarray) or y.shape != (X.shape[0],):
        raise ValueError(
            f"y: got {getattr(y, 'shape', type(y).__name__)}, expected an integer array "
            f"({X.shape[0]},)"
        )
    dtype = model.parameters()[0].dtype
    return X.astype(dtype, copy=False), y.astype(np.int64, copy=False)


def predict(model: Sequential, X: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Predicted labels ``(N,)`` (eval mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    dtype = model.parameters()[0].dtype
    try:
        out = [
            model.forward(X[i : i + batch_size].astype(dtype, copy=False)).argmax(axis=1)
            for i in range(0, len(X), batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def evaluate(model: Sequential, X: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Accuracy in ``[0, 1]`` of ``model`` on ``(X, y)``."""
    X, y = _check_data(X, y, model)
    return float((predict(model, X, batch_size) == y).mean())


def fit(
    model: Sequential,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Mini-batch SGD with momentum on softmax cross-entropy, all in NumPy.

    Args:
        model: a :class:`Sequential`, e.g. :func:`small_cnn`.
        X, y: training images ``(N, C, H, W)`` and integer labels ``(N,)``.
        epochs: passes over the data, reshuffled each time with a generator seeded by ``seed``.
        lr, momentum, weight_decay: of :class:`SGD`.
        batch_size: examples per update (the last batch may be smaller).
        X_val, y_val: optional validation data, evaluated after every epoch.
        progress: show a ``tqdm`` bar over the batches.

    Returns:
        ``{"train_loss", "train_acc", "val_acc", "epoch_time"}``, one value per epoch
        (``val_acc`` is empty without validation data; ``epoch_time`` counts training only).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: got {epochs!r}, expected a positive int")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: got {batch_size!r}, expected a positive int")
    X, y = _check_data(X, y, model)
    optimizer = SGD(model, lr, momentum, weight_decay)
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {
        "train_loss": [],
        "train_acc": [],
        "val_acc": [],
        "epoch_time": [],
    }
    n_batches = -(-len(y) // batch_size)
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        order = rng.permutation(len(y))
        loss_sum, correct = 0.0, 0
        for i in tqdm(
            range(n_batches), desc=f"epoch {epoch + 1}", disable=not progress, leave=False
        ):
            idx = order[i * batch_size : (i + 1) * batch_size]
            logits = model.forward(X[idx])
            loss, dlogits = nr.softmax_cross_entropy(logits, y[idx])
            model.backward(dlogits)
            optimizer.step()
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
        history["epoch_time"].append(time.perf_counter() - start)
        history["train_loss"].append(loss_sum / len(y))
        history["train_acc"].append(correct / len(y))
        if X_val is not None and y_val is not None:
            history["val_acc"].append(evaluate(model, X_val, y_val))
    return history
