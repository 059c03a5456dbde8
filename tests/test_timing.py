"""cnnbook.timing: interleaved rounds and the median/IQR summary."""

import statistics

import numpy as np
import pytest

from cnnbook.timing import interleaved_times, median_iqr


def test_interleaved_times_alternates_and_counts_calls():
    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    times = interleaved_times(fns, repeats=3, number=2)
    assert order == ["a", "a", "b", "b"] * 3  # the functions take turns, round after round
    assert set(times) == {"a", "b"} and all(
        t.shape == (3,) and (t >= 0).all() for t in times.values()
    )


def test_interleaved_times_measures_a_known_delay():
    import time

    times = interleaved_times({"sleep": lambda: time.sleep(0.01)}, repeats=3)
    assert np.all(times["sleep"] >= 0.0095) and np.all(times["sleep"] < 0.5)


def test_interleaved_times_reads_the_given_clock():
    ticks = iter(range(100))
    times = interleaved_times(
        {"a": lambda: None}, repeats=2, number=4, clock=lambda: 3.0 * next(ticks)
    )
    np.testing.assert_array_equal(times["a"], [0.75, 0.75])  # (3 - 0) / 4 per round


def test_median_iqr_matches_the_statistics_module():
    x = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 7.0]
    med, q1, q3 = median_iqr(x)
    assert med == statistics.median(x)
    expected_q1, _, expected_q3 = statistics.quantiles(x, n=4, method="inclusive")
    assert (q1, q3) == pytest.approx((expected_q1, expected_q3))


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [1.0, float("nan")]])
def test_median_iqr_rejects_bad_samples(bad):
    with pytest.raises(ValueError, match="values"):
        median_iqr(bad)


def test_interleaved_times_rejects_bad_input():
    with pytest.raises(ValueError, match="fns"):
        interleaved_times({})
    with pytest.raises(ValueError, match="repeats"):
        interleaved_times({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="number"):
        interleaved_times({"a": lambda: None}, number=True)
