"""cnnbook.torch_ref functions against torch.nn.functional: outputs, gradients, gradcheck."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from cnnbook import torch_ref as R

DTYPES = [torch.float32, torch.float64]
TORCH_PAD = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def _rand(*shape, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


def _conv_cases(count: int, seed: int):
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        dh, dw = rng.randint(1, 2), rng.randint(1, 2)
        ph, pw = rng.randint(0, 2), rng.randint(0, 2)
        h, w = rng.randint(3, 10), rng.randint(3, 10)
        mode = rng.choice(list(TORCH_PAD))
        if mode == "reflect" and (ph >= h or pw >= w):
            continue
        if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
            continue  # the kernel would not fit
        cases.append(
            dict(n=rng.randint(1, 3), c_in=rng.randint(1, 4), c_out=rng.randint(1, 4), h=h, w=w,
                 kernel=(kh, kw), stride=(rng.randint(1, 3), rng.randint(1, 3)), padding=(ph, pw),
                 dilation=(dh, dw), mode=mode, bias=rng.random() < 0.7)
        )  # fmt: skip
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _conv_cases(24, seed=1), ids=lambda c: f"{c['kernel']}{c['mode']}")
def test_conv2d_matches_torch(case, dtype, device, compare):
    x = _rand(case["n"], case["c_in"], case["h"], case["w"], dtype=dtype, device=device, seed=1)
    w = _rand(case["c_out"], case["c_in"], *case["kernel"], dtype=dtype, device=device, seed=2)
    b = _rand(case["c_out"], dtype=dtype, device=device, seed=3) if case["bias"] else None
    ph, pw = case["padding"]

    def reference(x, w, b):
        # What nn.Conv2d does for every padding mode: pad explicitly, then convolve unpadded.
        xp = F.pad(x, (pw, pw, ph, ph), mode=TORCH_PAD[case["mode"]])
        return F.conv2d(xp, w, b, case["stride"], 0, case["dilation"])

    def ours(x, w, b):
        return R.conv2d(x, w, b, case["stride"], case["padding"], case["dilation"], case["mode"])

    compare(ours, reference, [x, w, b])


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((2, 4), (2, 1)), ((1, 5), 1)])
def test_conv2d_string_padding(padding, kernel, dilation, device, compare):
    x = _rand(2, 3, 9, 10, device=device)
    w = _rand(4, 3, *kernel, device=device, seed=1)
    compare(
        lambda x, w: R.conv2d(x, w, padding=padding, dilation=dilation),
        lambda x, w: F.conv2d(x, w, padding=padding, dilation=dilation),
        [x, w],
    )


def test_conv2d_worked_example_by_hand():
    """A 3x3 input, a 2x2 kernel: each output is the sum of a window times the kernel (no flip)."""
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    w = torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    out = R.conv2d(x, w, torch.tensor([0.5]))
    torch.testing.assert_close(out, torch.full((1, 1, 2, 2), 1 - 5 + 0.5))


def _pool_cases(count: int, seed: int, dilation: bool):
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        k = (rng.randint(1, 4), rng.randint(1, 4))
        d = (rng.randint(1, 2), rng.randint(1, 2)) if dilation else (1, 1)
        spans = [di * (ki - 1) + 1 for di, ki in zip(d, k, strict=True)]
        p = (rng.randint(0, k[0] // 2), rng.randint(0, k[1] // 2))
        s = rng.choice([None, (rng.randint(1, 3), rng.randint(1, 3))])  # None: stride = kernel
        h, w = rng.randint(4, 11), rng.randint(4, 11)
        if spans[0] > h + 2 * p[0] or spans[1] > w + 2 * p[1]:
            continue
        cases.append(dict(shape=(rng.randint(1, 3), rng.randint(1, 3), h, w), k=k, s=s, p=p, d=d))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _pool_cases(20, seed=2, dilation=True), ids=lambda c: str(c["k"]))
def test_max_pool2d_matches_torch(case, dtype, device, compare):
    x = _rand(*case["shape"], dtype=dtype, device=device, seed=4)  # continuous: no ties
    compare(
        lambda x: R.max_pool2d(x, case["k"], case["s"], case["p"], case["d"]),
        lambda x: F.max_pool2d(x, case["k"], case["s"], case["p"], case["d"]),
        [x],
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _pool_cases(20, seed=3, dilation=False), ids=lambda c: str(c["k"]))
def test_avg_pool2d_matches_torch(case, dtype, device, compare):
    x = _rand(*case["shape"], dtype=dtype, device=device, seed=5)
    for include in (True, False):
        compare(
            lambda x, include=include: R.avg_pool2d(x, case["k"], case["s"], case["p"], include),
            lambda x, include=include: F.avg_pool2d(x, case["k"], case["s"], case["p"],
                                                    count_include_pad=include),
        [x])  # fmt: skip
    compare(
        lambda x: R.avg_pool2d(x, case["k"], case["s"], case["p"], divisor_override=3),
        lambda x: F.avg_pool2d(x, case["k"], case["s"], case["p"], divisor_override=3),
        [x],
    )


def test_max_pool2d_sends_the_gradient_to_the_argmax_only():
    x = torch.tensor([[[[1.0, 5.0], [2.0, 3.0]]]], requires_grad=True)
    R.max_pool2d(x, 2).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]]))


def test_global_avg_pool2d(device, compare):
    x = _rand(3, 4, 5, 6, device=device)
    compare(R.global_avg_pool2d, lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1), [x])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,momentum", [((4, 3, 5, 5), 0.1), ((2, 5, 3, 4), 0.3), ((8, 2, 1, 1), 0.1)]
)
def test_batch_norm2d_training_matches_torch(shape, momentum, dtype, device, compare):
    x = _rand(*shape, dtype=dtype, device=device) * 3 + 1
    gamma = _rand(shape[1], dtype=dtype, device=device, seed=1)
    beta = _rand(shape[1], dtype=dtype, device=device, seed=2)
    mean0 = _rand(shape[1], dtype=dtype, device=device, seed=3)
    var0 = _rand(shape[1], dtype=dtype, device=device, seed=4).abs() + 0.5
    buffers = {}

    def make(fn, key):
        def run(x, gamma, beta):
            buffers[key] = (mean0.clone(), var0.clone())
            return fn(x, *buffers[key], gamma, beta, True, momentum, 1e-5)

        return run

    compare(make(R.batch_norm2d, "ours"), make(F.batch_norm, "torch"), [x, gamma, beta])
    for ours, theirs in zip(buffers["ours"], buffers["torch"], strict=True):
        torch.testing.assert_close(ours, theirs)  # running mean and (unbiased) running variance
    assert not torch.equal(buffers["ours"][0], mean0)  # they were updated in place


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm2d_eval_matches_torch(dtype, device, compare):
    x = _rand(3, 4, 5, 5, dtype=dtype, device=device)
    mean = _rand(4, dtype=dtype, device=device, seed=1)
    var = _rand(4, dtype=dtype, device=device, seed=2).abs() + 0.1
    gamma, beta = _rand(4, dtype=dtype, device=device, seed=3), _rand(4, dtype=dtype, device=device)
    compare(
        lambda x, g, b: R.batch_norm2d(x, mean, var, g, b, training=False, eps=1e-3),
        lambda x, g, b: F.batch_norm(x, mean, var, g, b, training=False, eps=1e-3),
        [x, gamma, beta],
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_linear_softmax_cross_entropy(dtype, device, compare):
    x = _rand(6, 7, dtype=dtype, device=device)
    compare(R.relu, F.relu, [x])
    compare(lambda t: R.leaky_relu(t, 0.2), lambda t: F.leaky_relu(t, 0.2), [x])
    compare(lambda t: R.softmax(t, 0), lambda t: F.softmax(t, 0), [x])
    compare(lambda t: R.log_softmax(t, 1), lambda t: F.log_softmax(t, 1), [x])
    weight, bias = (
        _rand(3, 7, dtype=dtype, device=device, seed=1),
        _rand(3, dtype=dtype, device=device),
    )
    compare(R.linear, F.linear, [x, weight, bias])
    compare(R.linear, F.linear, [_rand(2, 5, 7, dtype=dtype, device=device), weight, bias])
    target = torch.tensor([0, 6, 3, 3, 1, 2], device=device)
    for reduction in ("mean", "sum", "none"):
        compare(
            lambda t, r=reduction: R.cross_entropy(t, target, r),
            lambda t, r=reduction: F.cross_entropy(t, target, reduction=r),
            [x],
        )


def test_softmax_and_cross_entropy_are_stable_for_large_logits():
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]])
    probs = R.softmax(logits)
    assert torch.isfinite(probs).all()
    torch.testing.assert_close(probs, F.softmax(logits, -1))
    loss = R.cross_entropy(logits, torch.tensor([2, 0]))
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.tensor([2, 0])))


def test_relu_gradient_is_zero_at_zero():
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    R.relu(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.0, 1.0]))


def test_dropout(device):
    x = torch.rand(200, 250, device=device) + 0.5
    assert R.dropout(x, 0.3, training=False) is x
    assert R.dropout(x, 0.0) is x
    assert torch.equal(R.dropout(x, 1.0), torch.zeros_like(x))
    xr = x.clone().requires_grad_(True)
    out = R.dropout(xr, 0.3)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.7)
    dropped = 1 - kept.float().mean().item()
    assert abs(dropped - 0.3) < 0.01  # 50,000 draws: the standard error is 0.002
    out.sum().backward()
    torch.testing.assert_close(xr.grad, kept.to(x.dtype) / 0.7)
    g1, g2 = torch.Generator(device).manual_seed(5), torch.Generator(device).manual_seed(5)
    assert torch.equal(R.dropout(x, 0.5, generator=g1), R.dropout(x, 0.5, generator=g2))


GRADCHECK_CASES = {
    "conv2d zeros": (lambda x, w, b: R.conv2d(x, w, b, 2, 1), [(2, 2, 5, 5), (3, 2, 3, 3), (3,)]),
    "conv2d reflect dilated": (
        lambda x, w, b: R.conv2d(x, w, b, 1, (1, 2), 2, "reflect"),
        [(1, 2, 5, 6), (2, 2, 2, 3), (2,)],
    ),
    "conv2d replicate": (
        lambda x, w: R.conv2d(x, w, None, 1, 1, 1, "replicate"),
        [(1, 1, 4, 4), (2, 1, 3, 3)],
    ),
    "conv2d circular": (
        lambda x, w: R.conv2d(x, w, None, 1, 2, 1, "circular"),
        [(1, 2, 4, 3), (1, 2, 3, 3)],
    ),
    "max_pool2d overlapping": (lambda x: R.max_pool2d(x, 3, 2, 1), [(2, 2, 6, 5)]),
    "avg_pool2d": (lambda x: R.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(1, 2, 5, 6)]),
    "batch_norm2d": (
        lambda x, g, b: R.batch_norm2d(x, None, None, g, b, training=True),
        [(3, 2, 3, 3), (2,), (2,)],
    ),
    "leaky_relu": (lambda x: R.leaky_relu(x, 0.1), [(4, 5)]),
    "softmax": (lambda x: R.softmax(x, 1), [(3, 4)]),
    # The target is made on x's device: a CPU target beside CUDA logits fails on a GPU machine.
    "cross_entropy": (
        lambda x: R.cross_entropy(x, torch.tensor([1, 0, 3], device=x.device)),
        [(3, 4)],
    ),
    "linear": (R.linear, [(3, 4), (2, 4), (2,)]),
    "global_avg_pool2d": (R.global_avg_pool2d, [(2, 3, 2, 2)]),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck_float64(name, device):
    fn, shapes = GRADCHECK_CASES[name]
    # Distinct values kept away from 0 (the kinks of relu / leaky_relu / max).
    inputs = []
    for i, shape in enumerate(shapes):
        t = _rand(*shape, device=device, seed=10 + i)
        inputs.append((t + 0.1 * t.sign()).requires_grad_(True))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_cases_make_their_tensors_on_the_inputs_device(name):
    """CPU inputs with "meta" (shapes, no data) as the default device: a tensor that a case or a
    layer makes without ``device=`` lands on meta, meets the CPU inputs and fails here, on any
    CPU machine, as a CPU tensor fails beside CUDA inputs on a GPU machine."""
    fn, shapes = GRADCHECK_CASES[name]
    inputs = [_rand(*shape, seed=10 + i) for i, shape in enumerate(shapes)]
    with torch.device("meta"):
        out = fn(*inputs)
    assert out.device.type == "cpu"


def test_bad_input_raises_value_error():
    x, w = torch.zeros(1, 2, 5, 5), torch.zeros(3, 2, 3, 3)
    with pytest.raises(ValueError, match="x: expected a 4-D"):
        R.conv2d(torch.zeros(2, 5, 5), w)
    with pytest.raises(ValueError, match="w: expected 2 input channels"):
        R.conv2d(x, torch.zeros(3, 4, 3, 3))
    with pytest.raises(ValueError, match="b: expected shape"):
        R.conv2d(x, w, torch.zeros(2))
    with pytest.raises(ValueError, match="stride"):
        R.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        R.conv2d(x, torch.zeros(3, 2, 7, 7))
    with pytest.raises(ValueError, match="padding_mode"):
        R.conv2d(x, w, padding=1, padding_mode="mirror")
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        R.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="reflect padding"):
        R.conv2d(x, w, padding=5, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding: expected at most half"):
        R.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        R.batch_norm2d(torch.zeros(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean"):
        R.batch_norm2d(x, None, None, training=False)
    with pytest.raises(ValueError, match="target"):
        R.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="p: expected"):
        R.dropout(x, 1.5)
    with pytest.raises(ValueError, match="x: expected last dimension"):
        R.linear(torch.zeros(2, 3), torch.zeros(4, 5))
