"""Speed of the NumPy reference layers against PyTorch on one CPU thread (forward + backward).

Run with ``make bench`` or ``python benchmarks/bench_numpy_ref.py [--repeats 7] [--no-write]``.
Prints a ratio table (NumPy time / PyTorch time; below 1 means NumPy is faster) and writes it as
markdown to its section of ``benchmarks/RESULTS.md``. A second table ("floors") times the work a
NumPy layer cannot avoid (its matrix products, or its passes over memory) against PyTorch's same
products and its whole layer: when that floor alone is above a target, NumPy cannot meet it.
Each timing is the best of ``--repeats`` runs (or more for fast ops), NumPy and PyTorch runs
interleaved so that a noisy shared machine penalises both alike.
Ratios use CPU time (``time.process_time``: user + system time of every thread of the process),
which preemption by other processes does not inflate; wall-clock ratios are printed beside them.
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy (OpenBLAS) and torch read these at import time.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnbook import numpy_ref as nr  # noqa: E402

torch.set_num_threads(1)
SECTION = "bench_numpy_ref"
DTYPE = np.float32


@dataclass
class Case:
    name: str
    shape: str
    numpy_fn: Callable[[], object]
    torch_fn: Callable[[], object]
    target: float | None  # the largest acceptable ratio, None for information only
    numpy_ms: float = 0.0  # best CPU time of one run
    torch_ms: float = 0.0
    numpy_wall_ms: float = 0.0  # best wall-clock time of one run
    torch_wall_ms: float = 0.0
    runs: int = 0

    @property
    def ratio(self) -> float:
        return self.numpy_ms / self.torch_ms

    @property
    def wall_ratio(self) -> float:
        return self.numpy_wall_ms / self.torch_wall_ms


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _tensors(*arrays: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]


def _torch_fwd_bwd(fn: Callable[..., torch.Tensor], leaves: list[torch.Tensor], dout: np.ndarray):
    dout_t = torch.from_numpy(dout)

    def run() -> None:
        for t in leaves:
            t.grad = None  # no accumulation into old gradients
        fn(*leaves).backward(dout_t)

    return run


def conv_case(c_in: int, c_out: int, side: int, n: int = 64, target: float = 2.0) -> Case:
    rng = _rng()
    x = rng.standard_normal((n, c_in, side, side), dtype=DTYPE)
    w = rng.standard_normal((c_out, c_in, 3, 3), dtype=DTYPE)
    b = rng.standard_normal(c_out, dtype=DTYPE)
    dout = rng.standard_normal((n, c_out, side, side), dtype=DTYPE)

    def numpy_fn() -> None:
        _, cache = nr.conv2d_forward(x, w, b, padding=1)
        nr.conv2d_backward(dout, cache)

    torch_fn = _torch_fwd_bwd(lambda *t: F.conv2d(*t, padding=1), _tensors(x, w, b), dout)
    shape = f"({n},{c_in},{side},{side}) {c_in}->{c_out} k3 p1"
    return Case(f"conv2d {c_in}->{c_out}", shape, numpy_fn, torch_fn, target)


def pool_case(kind: str) -> Case:
    rng = _rng()
    x = rng.standard_normal((64, 32, 28, 28), dtype=DTYPE)
    dout = rng.standard_normal((64, 32, 14, 14), dtype=DTYPE)
    forward, backward, reference = {
        "max": (nr.max_pool2d_forward, nr.max_pool2d_backward, F.max_pool2d),
        "avg": (nr.avg_pool2d_forward, nr.avg_pool2d_backward, F.avg_pool2d),
    }[kind]

    def numpy_fn() -> None:
        _, cache = forward(x, 2)
        backward(dout, cache)

    torch_fn = _torch_fwd_bwd(lambda t: reference(t, 2), _tensors(x), dout)
    return Case(f"{kind}_pool2d 2x2", "(64,32,28,28)", numpy_fn, torch_fn, 2.0)


def batchnorm_case() -> Case:
    rng = _rng()
    x = rng.standard_normal((64, 32, 28, 28), dtype=DTYPE)
    gamma, beta = rng.standard_normal(32, dtype=DTYPE), rng.standard_normal(32, dtype=DTYPE)
    mean, var = np.zeros(32, DTYPE), np.ones(32, DTYPE)
    dout = rng.standard_normal(x.shape, dtype=DTYPE)

    def numpy_fn() -> None:
        _, cache, _, _ = nr.batchnorm2d_forward(x, gamma, beta, mean, var, training=True)
        nr.batchnorm2d_backward(dout, cache)

    running = [torch.from_numpy(mean.copy()), torch.from_numpy(var.copy())]
    torch_fn = _torch_fwd_bwd(
        lambda xt, g, bt: F.batch_norm(xt, *running, g, bt, training=True),
        _tensors(x, gamma, beta),
        dout,
    )
    return Case("batchnorm2d (train)", "(64,32,28,28)", numpy_fn, torch_fn, 2.0)


def relu_case() -> Case:
    rng = _rng()
    x = rng.standard_normal((64, 32, 28, 28), dtype=DTYPE)
    dout = rng.standard_normal(x.shape, dtype=DTYPE)

    def numpy_fn() -> None:
        _, cache = nr.relu_forward(x)
        nr.relu_backward(dout, cache)

    return Case("relu", "(64,32,28,28)", numpy_fn, _torch_fwd_bwd(F.relu, _tensors(x), dout), 1.2)


def linear_case() -> Case:
    rng = _rng()
    x = rng.standard_normal((64, 3136), dtype=DTYPE)
    w = rng.standard_normal((128, 3136), dtype=DTYPE) * 0.02
    b = rng.standard_normal(128, dtype=DTYPE)
    dout = rng.standard_normal((64, 128), dtype=DTYPE)

    def numpy_fn() -> None:
        _, cache = nr.linear_forward(x, w, b)
        nr.linear_backward(dout, cache)

    torch_fn = _torch_fwd_bwd(F.linear, _tensors(x, w, b), dout)
    return Case("linear 3136->128", "(64,3136)", numpy_fn, torch_fn, 1.2)


def naive_conv_case(c_in: int, c_out: int, side: int, n: int) -> Case:
    """The loop convolution's forward pass only, on a small batch (it is very slow)."""
    rng = _rng()
    x = rng.standard_normal((n, c_in, side, side), dtype=DTYPE)
    w = rng.standard_normal((c_out, c_in, 3, 3), dtype=DTYPE)
    b = rng.standard_normal(c_out, dtype=DTYPE)
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))

    def torch_fn() -> None:
        with torch.no_grad():
            F.conv2d(xt, wt, bt, padding=1)

    shape = f"({n},{c_in},{side},{side}) {c_in}->{c_out}, forward only"
    return Case(
        f"conv2d_forward_naive {c_in}->{c_out}",
        shape,
        lambda: nr.conv2d_forward_naive(x, w, b, padding=1),
        torch_fn,
        None,
    )


def extrapolate_naive(case: Case, c_in: int, c_out: int, side: int, n_small: int) -> str:
    """The loop convolution's time grows linearly with N: scale it to N = 64 and compare with
    PyTorch's forward pass measured at N = 64."""
    rng = _rng()
    xt = torch.from_numpy(rng.standard_normal((64, c_in, side, side), dtype=DTYPE))
    wt = torch.from_numpy(rng.standard_normal((c_out, c_in, 3, 3), dtype=DTYPE))
    times = []
    with torch.no_grad():
        for _ in range(5):
            start = time.process_time()
            F.conv2d(xt, wt, padding=1)
            times.append(time.process_time() - start)
    torch_ms = 1e3 * min(times)
    naive_ms = case.numpy_ms * 64 / n_small
    return (
        f"{case.name}: extrapolated to N = 64, about {naive_ms / 1e3:.0f} s against PyTorch's "
        f"{torch_ms:.1f} ms, a ratio of about {naive_ms / torch_ms:,.0f}"
    )


def best_ms(case: Case, repeats: int, min_seconds: float) -> int:
    """Best of at least `repeats` runs of each side (after one warm-up), interleaved.

    Fast ops get more runs, up to about `min_seconds` per side (at most 300 runs): on a shared
    machine the minimum of many short runs is the stable statistic. Returns the number of runs.
    """
    start = time.perf_counter()
    case.numpy_fn()
    case.torch_fn()
    once = max(time.perf_counter() - start, 1e-6) / 2
    repeats = max(repeats, min(300, int(min_seconds / once)))
    cpu = {"numpy": [], "torch": []}
    wall = {"numpy": [], "torch": []}
    for _ in range(repeats):
        for side, fn in (("numpy", case.numpy_fn), ("torch", case.torch_fn)):
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[side].append(time.process_time() - start_cpu)
            wall[side].append(time.perf_counter() - start_wall)
    case.numpy_ms, case.torch_ms = 1e3 * min(cpu["numpy"]), 1e3 * min(cpu["torch"])
    case.numpy_wall_ms, case.torch_wall_ms = 1e3 * min(wall["numpy"]), 1e3 * min(wall["torch"])
    return repeats


def _best_of(fns: dict[str, Callable[[], object]], min_seconds: float) -> dict[str, float]:
    """Best CPU time (ms) of each function, runs interleaved, about min_seconds each."""
    for fn in fns.values():
        fn()
    start = time.process_time()
    for fn in fns.values():
        fn()
    once = max(time.process_time() - start, 1e-6) / len(fns)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(7, min(300, int(min_seconds / once)))):
        for k, fn in fns.items():
            t = time.process_time()
            fn()
            times[k].append(time.process_time() - t)
    return {k: 1e3 * min(v) for k, v in times.items()}


def conv_floor(c_in: int, c_out: int, side: int, n: int = 64) -> tuple[str, dict[str, float]]:
    """The three matrix products of conv2d_forward + conv2d_backward (stride 1, padding 1) on
    ready operands, in NumPy and in torch.matmul, and PyTorch's whole convolution."""
    rng = _rng()
    k, p, wp = c_in * 9, side * side, side + 2
    w_b = rng.standard_normal((c_out, k + 1), dtype=DTYPE)
    cols = rng.standard_normal((n, k + 1, p), dtype=DTYPE)
    dout = rng.standard_normal((n, c_out, p), dtype=DTYPE)
    w_t = np.ascontiguousarray(w_b[:, :k].T)
    wide = rng.standard_normal((n, c_out, side * wp), dtype=DTYPE)
    per_image = np.empty((n, k + 1, c_out), DTYPE)
    dcols = np.empty((n, k, side * wp), DTYPE)

    def numpy_gemms() -> None:
        np.matmul(w_b, cols)
        np.matmul(cols, dout.transpose(0, 2, 1), out=per_image)
        np.matmul(w_t, wide, out=dcols)

    t_w_b, t_cols, t_dout, t_w_t, t_wide = (
        torch.from_numpy(a) for a in (w_b, cols, dout, w_t, wide)
    )

    def torch_gemms() -> None:
        torch.matmul(t_w_b, t_cols)
        torch.matmul(t_cols, t_dout.transpose(1, 2))
        torch.matmul(t_w_t, t_wide)

    whole = conv_case(c_in, c_out, side, n)
    ms = _best_of({"numpy": numpy_gemms, "torch": torch_gemms, "layer": whole.torch_fn}, 1.0)
    return f"conv2d {c_in}->{c_out}: its 3 matrix products", ms


def linear_floor() -> tuple[str, dict[str, float]]:
    rng = _rng()
    x = rng.standard_normal((64, 3136), dtype=DTYPE)
    w = rng.standard_normal((128, 3136), dtype=DTYPE)
    dout = rng.standard_normal((64, 128), dtype=DTYPE)
    tx, tw, td = (torch.from_numpy(a) for a in (x, w, dout))

    def numpy_gemms() -> None:
        x @ w.T, dout @ w, dout.T @ x

    def torch_gemms() -> None:
        tx @ tw.T, td @ tw, td.T @ tx

    ms = _best_of(
        {"numpy": numpy_gemms, "torch": torch_gemms, "layer": linear_case().torch_fn}, 1.0
    )
    return "linear 3136->128: its 3 matrix products", ms


def relu_floor() -> tuple[str, dict[str, float]]:
    """The least a NumPy ReLU does: one maximum pass forward, one masked product backward (with
    the mask made beforehand), against the two PyTorch element-wise kernels alone."""
    rng = _rng()
    x = rng.standard_normal((64, 32, 28, 28), dtype=DTYPE)
    dout = rng.standard_normal(x.shape, dtype=DTYPE)
    mask = x > 0
    zero = DTYPE(0)
    tx, td = torch.from_numpy(x), torch.from_numpy(dout)
    t_out = torch.relu(tx)

    def numpy_passes() -> None:
        np.maximum(x, zero)
        dout * mask

    def torch_kernels() -> None:
        torch.relu(tx)
        torch.ops.aten.threshold_backward(td, t_out, 0)

    ms = _best_of(
        {"numpy": numpy_passes, "torch": torch_kernels, "layer": relu_case().torch_fn}, 1.0
    )
    return "relu: max pass + masked product (mask ready)", ms


def floors_markdown(rows: list[tuple[str, dict[str, float]]]) -> list[str]:
    lines = [
        "",
        "Floors: the work each NumPy layer cannot avoid, timed alone on ready operands (CPU time, "
        "best of interleaved runs), against the same work in PyTorch and against PyTorch's whole "
        "layer (forward + backward). 'floor ratio' = NumPy's unavoidable work / PyTorch's whole "
        "layer: a target below it cannot be met with NumPy alone.",
        "",
        "| unavoidable work | NumPy ms | PyTorch same work ms | NumPy / PyTorch same work | "
        "PyTorch whole layer ms | floor ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, ms in rows:
        lines.append(
            f"| {name} | {ms['numpy']:.2f} | {ms['torch']:.2f} | {ms['numpy'] / ms['torch']:.2f} "
            f"| {ms['layer']:.2f} | {ms['numpy'] / ms['layer']:.2f} |"
        )
    return lines


def verdict(case: Case) -> str:
    if case.target is None:
        return "(info)"
    return "met" if case.ratio <= case.target else "MISSED"


def markdown(
    cases: list[Case], repeats: int, notes: list[str], floors: list[str] | None = None
) -> str:
    cpu = _cpu_name()
    lines = [
        "## NumPy reference layers vs PyTorch (CPU, one thread)",
        "",
        "Written by `benchmarks/bench_numpy_ref.py` (`make bench`); do not edit by hand.",
        "Forward + backward (the naive loops: forward only), float32, N = 64 unless stated; "
        f"best of at least {repeats} interleaved runs per side (more for fast ops, see 'runs'); "
        "ratio = NumPy time / PyTorch time (below 1: NumPy is faster). Times are CPU time of the "
        "process (`time.process_time`, user + system, every thread), which a busy shared machine "
        "does not inflate by preempting the run; the wall-clock ratio is shown beside it.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu}, {platform.machine()}, Python {platform.python_version()}",
        f"- numpy {np.__version__} ({_blas()}), torch {torch.__version__} (MKL, oneDNN)",
        f"- load average when the run ended (the machine is shared): {_load()}",
        "",
        "| op | shape | NumPy ms | PyTorch ms | ratio | target | | wall-clock ratio | runs |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for c in cases:
        target = "-" if c.target is None else f"<= {c.target:g}"
        lines.append(
            f"| {c.name} | {c.shape} | {c.numpy_ms:.2f} | {c.torch_ms:.2f} | {c.ratio:.2f} | "
            f"{target} | {verdict(c)} | {c.wall_ratio:.2f} | {c.runs} |"
        )
    if notes:
        lines += ["", "The naive loop convolution (forward only, measured at N = 2):", ""]
        lines += [f"- {note}" for note in notes]
    if floors:
        lines += floors
    return "\n".join(lines) + "\n"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info  # installed with scikit-learn; optional
    except ImportError:
        return "BLAS: threadpoolctl not installed"
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            return f"{lib['internal_api']} {lib['version']}, {lib.get('architecture')} kernels"
    return "BLAS unknown"


def _load() -> str:
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="least runs per op and side")
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="time spent per op and side, at least"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--no-floors", action="store_true", help="skip the floors table")
    args = parser.parse_args()

    cases = [
        conv_case(1, 32, 28, target=1.2),
        conv_case(3, 32, 32, target=1.2),
        conv_case(16, 32, 28),
        conv_case(32, 64, 28),
        pool_case("max"),
        pool_case("avg"),
        batchnorm_case(),
        relu_case(),
        linear_case(),
        naive_conv_case(3, 32, 32, n=2),
        naive_conv_case(32, 64, 28, n=2),
    ]
    naive_shapes = {cases[-2].name: (3, 32, 32), cases[-1].name: (32, 64, 28)}
    notes = []
    print(f"{'op (CPU time)':<32}{'NumPy ms':>10}{'torch ms':>10}{'ratio':>8}{'target':>8}")
    for case in cases:
        if case.target is None:  # the naive loops: a few runs are plenty
            case.runs = best_ms(case, 3, 0.0)
        else:
            case.runs = best_ms(case, args.repeats, args.min_seconds)
        target = "-" if case.target is None else f"{case.target:g}"
        print(
            f"{case.name:<32}{case.numpy_ms:>10.2f}{case.torch_ms:>10.2f}{case.ratio:>8.2f}"
            f"{target:>8}  {verdict(case):<7} wall-clock ratio {case.wall_ratio:.2f}",
            flush=True,
        )
        if case.name in naive_shapes:
            notes.append(extrapolate_naive(case, *naive_shapes[case.name], n_small=2))
            print(f"  {notes[-1]}")
    floors = None
    if not args.no_floors:
        rows = [conv_floor(16, 32, 28), conv_floor(32, 64, 28), linear_floor(), relu_floor()]
        floors = floors_markdown(rows)
    table = markdown(cases, args.repeats, notes, floors)
    print()
    print(table)
    if not args.no_write:
        from _results import RESULTS, write_section

        write_section(SECTION, table)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
