"""Softmax cross-entropy, the classification loss of the book (assignment 06)."""

from __future__ import annotations

import numpy as np

from ._validate import check_float_array

__all__ = ["softmax_cross_entropy"]


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer labels, and its gradient.

    Computed from log-probabilities ``z - max(z) - log(sum(exp(z - max(z))))`` (log-sum-exp), so
    large logits neither overflow nor give log(0). Same value as
    ``torch.nn.functional.cross_entropy(logits, y)``.

    Args:
        logits: (N, K) unnormalised scores, float32 or float64.
        y: (N,) integer class indices in [0, K).

    Returns:
        ``(loss, dlogits)``: the mean loss over the batch (a NumPy scalar of the logits' dtype)
        and ``(softmax(logits) - one_hot(y)) / N``.

    Shape:
        dlogits: (N, K).

    Example:
        >>> loss, d = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
        >>> round(float(loss), 4)  # log(4)
        1.3863
    """
    logits = check_float_array(logits, "logits", ndim=2)
    n, k = logits.shape
    if n == 0 or k == 0:
        raise ValueError(f"logits: expected a non-empty (N, K) array, got shape {logits.shape}")
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.integer):
        got = f"dtype {y.dtype}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ValueError(f"y: expected an integer array of class indices, got {got}")
    if y.shape != (n,):
        raise ValueError(f"y: expected shape ({n},), one label per row of logits, got {y.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(
            f"y: expected class indices in [0, {k - 1}] for {k} classes, got values in "
            f"[{y.min()}, {y.max()}]"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1
    dlogits /= n
    return logits.dtype.type(loss), dlogits
