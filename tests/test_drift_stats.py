"""The drift statistics agree with scipy (or hand arithmetic) and behave at the edges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from nbmlops.monitoring import stats

# --------------------------------------------------------------------------- samples

KINDS = ["normal", "shifted", "integers", "constant", "identical", "resampled"]


def _pair(kind: str, n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unsorted samples of sizes n and m, of the given kind."""
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=n), rng.normal(size=m)
    if kind == "shifted":
        return rng.normal(size=n), rng.normal(0.3, 1.2, size=m)
    if kind == "integers":  # heavy ties inside and across the samples
        return rng.integers(0, 6, n).astype(float), rng.integers(0, 6, m).astype(float)
    if kind == "constant":  # one constant sample
        return np.full(n, 0.25), rng.normal(size=m)
    if kind == "identical":
        a = rng.normal(size=n)
        return a, rng.permutation(a) if n == m else a[rng.integers(0, n, m)]
    # current drawn from the reference's own values: many shared values
    a = rng.normal(size=n)
    return a, a[rng.integers(0, n, m)]


# --------------------------------------------------------------------------- KS

# Both at most 10,000 values: scipy's exact distribution (equal sizes: the closed form;
# unequal: the lattice-path count); above: the asymptotic kstwo.
KS_SIZES = [
    (1, 1),
    (1, 4),
    (7, 3),
    (10, 12),
    (50, 50),
    (64, 64),
    (65, 130),
    (300, 400),
    (1000, 1200),
    (5000, 7000),
    (10_000, 10_001),
    (20_000, 20_000),
    (3000, 40_000),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "m"), KS_SIZES)
def test_ks_2samp_equals_scipy(kind: str, n: int, m: int) -> None:
    a, b = _pair(kind, n, m, seed=n * 7919 + m)
    expected = scipy.stats.ks_2samp(a, b)
    statistic, p_value = stats.ks_2samp(np.sort(a), np.sort(b))
    assert statistic == pytest.approx(expected.statistic, abs=1e-9, rel=0)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-9, rel=0)
    # and symmetric, as scipy's two-sided test is
    assert stats.ks_2samp(np.sort(b), np.sort(a)) == pytest.approx((statistic, p_value), abs=1e-12)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful:RuntimeWarning")
@pytest.mark.parametrize(("n", "m"), [(2000, 2000), (5000, 4000), (30_000, 30_000)])
def test_ks_2samp_on_nearly_identical_samples(n: int, m: int) -> None:
    # F_a - F_b hugs 0 everywhere, so every block of the bounded search is searched in full.
    # At (2000, 2000) D is so small that scipy's exact formula exceeds 1 and scipy falls
    # back to the asymptotic p-value (with a warning); so must we.
    rng = np.random.default_rng(5)
    a = rng.normal(size=n)
    b = a[:m].copy()
    b[rng.integers(0, m, 5)] += 0.01
    expected = scipy.stats.ks_2samp(a, b)
    assert stats.ks_2samp(np.sort(a), np.sort(b)) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=1e-9, rel=0
    )


@pytest.mark.parametrize(("m", "n"), [(7, 3), (40, 60), (120, 77), (299, 300), (1000, 1500)])
def test_ks_exact_count_without_scipys_compiled_helper(
    monkeypatch: pytest.MonkeyPatch, m: int, n: int
) -> None:
    # The NumPy lattice-path count stands in if scipy ever moves its private helper.
    monkeypatch.setattr(stats, "_outer_prob_inside_method", lambda: stats._outer_prob_wavefront)
    for seed in range(3):
        a, b = _pair("shifted" if seed else "normal", m, n, seed)
        expected = scipy.stats.ks_2samp(a, b)
        assert stats.ks_2samp(np.sort(a), np.sort(b)) == pytest.approx(
            (expected.statistic, expected.pvalue), abs=1e-9, rel=0
        )


def test_ks_wavefront_matches_scipys_lattice_count() -> None:
    from scipy.stats._stats_pythran import _compute_outer_prob_inside_method as compiled

    rng = np.random.default_rng(11)
    for _ in range(200):
        m, n = (int(x) for x in rng.integers(1, 200, 2))
        g = math.gcd(m, n)
        h = int(rng.integers(1, (m // g) * n + 1))
        assert stats._outer_prob_wavefront(m, n, g, h) == pytest.approx(
            compiled(m, n, g, h), abs=1e-12
        )


@pytest.mark.parametrize("shift", [0.02, 0.03, 0.04, 0.06, 0.1])
def test_ks_asymptotic_p_values_of_moderate_drift(shift: float) -> None:
    # p-values from about 1e-2 to 1e-20: scipy sums 2 * smirnov(n, D) term by term here.
    rng = np.random.default_rng(int(shift * 100))
    a, b = rng.normal(size=30_000), rng.normal(shift, 1.0, size=25_000)
    expected = scipy.stats.ks_2samp(a, b)
    assert stats.ks_2samp(np.sort(a), np.sort(b)) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=1e-9, rel=0
    )


@pytest.mark.parametrize("n", [141, 1000, 20_000, 100_000])
@pytest.mark.parametrize("n_d2", [0.5, 2.2, 3.0, 5.0, 11.0, 50.0, 300.0, 400.0])
def test_kstwo_sf_equals_scipy(n: int, n_d2: float) -> None:
    d = math.sqrt(n_d2 / n)
    expected = float(scipy.stats.kstwo.sf(d, n))
    assert stats._kstwo_sf(d, float(n)) == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_ks_tail_bound_holds_for_exact_tails() -> None:
    # The bound lets strong drift skip the costly exact count; it must never undercut it.
    from scipy.stats._stats_pythran import _compute_outer_prob_inside_method as exact

    rng = np.random.default_rng(12)
    for _ in range(300):
        m, n = (int(x) for x in rng.integers(2, 400, 2))
        if m == n:
            continue
        g = math.gcd(m, n)
        lcm = (m // g) * n
        h = int(rng.integers(1, lcm + 1))
        assert exact(m, n, g, h) <= stats._tail_bound(h / lcm, m, n) * (1 + 1e-9)


def test_ks_false_positive_rate_is_near_alpha() -> None:
    # 400 tests of two samples of one distribution at alpha = 0.05: the rejection rate's
    # binomial sd is 1.1 points, so 2%-8% is a +-2.7 sd band (and the exact test is
    # slightly conservative, so the rate sits a little under 5%).
    rng = np.random.default_rng(2024)
    rejections = 0
    for _ in range(400):
        a, b = np.sort(rng.normal(size=500)), np.sort(rng.normal(size=500))
        rejections += stats.ks_2samp(a, b)[1] < 0.05
    assert 0.02 <= rejections / 400 <= 0.08


def test_drift_is_found_on_shifted_samples() -> None:
    rng = np.random.default_rng(3)
    a = np.sort(rng.normal(size=5000))
    b = np.sort(rng.normal(0.2, 1.0, size=5000))
    assert stats.ks_2samp(a, b)[1] < 1e-6
    c = np.sort(rng.normal(0.3, 1.0, size=5000))
    assert stats.wasserstein_normalised(a, c) > 0.1


def test_ks_constant_and_identical_samples() -> None:
    same = np.full(100, 3.0)
    assert stats.ks_2samp(same, same) == (0.0, 1.0)
    assert stats.ks_2samp(same, np.full(50, 3.0)) == (0.0, 1.0)
    big = np.sort(np.random.default_rng(0).normal(size=50_000))
    assert stats.ks_2samp(big, big.copy()) == (0.0, 1.0)
    statistic, p_value = stats.ks_2samp(same, np.full(80, 4.0))
    assert statistic == 1.0
    assert p_value == pytest.approx(scipy.stats.ks_2samp(same, np.full(80, 4.0)).pvalue, abs=1e-9)


# --------------------------------------------------------------------------- Wasserstein

W_SIZES = [(1, 1), (1, 7), (10, 12), (300, 400), (1000, 1000), (999, 1000), (33_000, 70_001)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "m"), W_SIZES)
def test_wasserstein_equals_scipy(kind: str, n: int, m: int) -> None:
    a, b = _pair(kind, n, m, seed=n + 31 * m)
    expected = scipy.stats.wasserstein_distance(a, b)
    assert stats.wasserstein(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert stats.wasserstein(np.sort(b), np.sort(a)) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("n", "m"), [(10, 12), (1000, 1200), (5000, 5000)])
def test_wasserstein_normalised_divides_by_the_reference_std(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.normal(10.0, 3.0, size=n), rng.normal(11.0, 2.0, size=m)
    expected = scipy.stats.wasserstein_distance(a, b) / np.std(a)
    assert stats.wasserstein_normalised(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-9)


def test_wasserstein_of_constant_samples() -> None:
    two = np.full(10, 2.0)
    assert stats.wasserstein(two, np.full(7, 5.0)) == pytest.approx(3.0)
    # a constant reference has std 0: same constant -> 0, anything else -> inf
    assert stats.wasserstein_normalised(two, np.full(3, 2.0)) == 0.0
    assert stats.wasserstein_normalised(two, np.array([2.0, 2.5])) == math.inf
    # a constant current against a spread reference is an ordinary, finite ratio
    a = np.sort(np.random.default_rng(1).normal(size=100))
    assert np.isfinite(stats.wasserstein_normalised(a, two))


# --------------------------------------------------------------------------- bins


def test_numeric_bins_at_reference_deciles() -> None:
    a = np.arange(100.0)
    edges = stats.numeric_bins(a)
    assert edges.tolist() == [-math.inf, 10, 20, 30, 40, 50, 60, 70, 80, 90, math.inf]
    assert stats.bin_counts(a, edges).tolist() == [10] * 10
    # current values beyond the reference's range land in the open-ended bins
    current = np.array([-1e9, -5.0, 0.0, 9.99, 10.0, 55.0, 99.0, 150.0, 1e9])
    assert stats.bin_counts(current, edges).tolist() == [4, 1, 0, 0, 0, 1, 0, 0, 0, 3]


def test_numeric_bins_on_discrete_and_constant_data() -> None:
    binary = np.sort(np.r_[np.zeros(700), np.ones(300)])
    edges = stats.numeric_bins(binary)
    assert edges.tolist() == [-math.inf, 0.0, 1.0, math.inf]  # each value its own bin
    assert stats.bin_counts(binary, edges).tolist() == [0, 700, 300]
    assert stats.bin_counts(np.array([-1.0, 0.0, 2.0]), edges).tolist() == [1, 1, 1]

    constant = np.full(50, 4.0)
    assert stats.numeric_bins(constant).tolist() == [-math.inf, 4.0, math.inf]
    assert stats.numeric_bins(np.array([1.0, 2.0]), n_bins=10).tolist() == [
        -math.inf,
        1.0,
        2.0,
        math.inf,
    ]
    assert stats.numeric_bins(np.arange(10.0), n_bins=1).tolist() == [-math.inf, math.inf]


def test_bin_counts_match_a_direct_count() -> None:
    rng = np.random.default_rng(8)
    a = np.sort(rng.integers(0, 40, 5000) / 4.0)
    b = np.sort(rng.normal(5.0, 4.0, 3000))
    edges = stats.numeric_bins(a, n_bins=7)
    lower = np.r_[-np.inf, edges[1:-1]]
    upper = np.r_[edges[1:-1], np.inf]
    for values in (a, b):
        direct = [
            int(((values >= lo) & (values < hi)).sum()) for lo, hi in zip(lower, upper, strict=True)
        ]
        direct[-1] += int((values == np.inf).sum())
        assert stats.bin_counts(values, edges).tolist() == direct


# --------------------------------------------------------------------------- PSI / JS


def test_psi_hand_computed() -> None:
    # proportions r = (.5, .3, .2), c = (.4, .3, .3):
    # (.4-.5)·ln(.4/.5) + (.3-.3)·ln(1) + (.3-.2)·ln(.3/.2) = .1·ln 1.25 + .1·ln 1.5
    expected = 0.1 * math.log(1.25) + 0.1 * math.log(1.5)
    assert stats.psi([50, 30, 20], [40, 30, 30]) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.0628608659, abs=1e-10)

    # an empty reference bin: r = (1, 0 -> eps), c = (.9, .1), eps = 1e-4:
    # (.9-1)·ln(.9/1) + (.1-1e-4)·ln(.1/1e-4) = .1·ln(1/.9) + .0999·ln(1000)
    expected = 0.1 * math.log(1 / 0.9) + 0.0999 * math.log(1000)
    assert stats.psi([100, 0], [90, 10]) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.7006218, abs=1e-6)
    # a larger eps tames the same empty bin: (.1-.01)·ln(.1/.01) + .1·ln(1/.9)
    assert stats.psi([100, 0], [90, 10], eps=0.01) == pytest.approx(
        0.09 * math.log(10) + 0.1 * math.log(1 / 0.9), rel=1e-12
    )


def test_psi_of_identical_distributions_is_zero() -> None:
    assert stats.psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("k", [2, 3, 10, 25])
def test_jensen_shannon_equals_scipy(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(5):
        ref = rng.integers(0, 50, k)
        cur = rng.integers(0, 50, k)
        ref[0] += 1
        cur[-1] += 1
        expected = jensenshannon(ref, cur, base=2)
        assert stats.jensen_shannon(ref, cur) == pytest.approx(expected, abs=1e-12)


def test_jensen_shannon_bounds() -> None:
    assert stats.jensen_shannon([5, 0, 5], [1, 0, 1]) == 0.0
    assert stats.jensen_shannon([5, 0], [0, 5]) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- chi-square


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([30, 70], [45, 55]),  # dof 1: Yates' correction
        ([10, 10], [10, 11]),  # dof 1, |observed - expected| < 0.5: correction capped
        ([0, 40], [12, 30]),  # dof 1 with a category absent from the reference
        ([20, 30, 50], [25, 25, 50]),
        ([5, 0, 9, 14, 2], [3, 6, 10, 1, 9]),  # a category absent from the reference
        (list(range(1, 11)), list(range(10, 0, -1))),
    ],
)
def test_chi_square_equals_scipy(ref: list[int], cur: list[int]) -> None:
    expected = chi2_contingency(np.vstack([ref, cur]))
    statistic, p_value, dof = stats.chi_square(ref, cur)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, abs=1e-12)
    assert dof == expected.dof


def test_chi_square_drops_categories_absent_from_both() -> None:
    expected = chi2_contingency(np.array([[20, 30, 50], [25, 25, 50]]))
    statistic, p_value, dof = stats.chi_square([20, 0, 30, 50, 0], [25, 0, 25, 50, 0])
    assert (statistic, p_value, dof) == pytest.approx(
        (expected.statistic, expected.pvalue, expected.dof), rel=1e-12
    )
    # one category left: nothing to test
    assert stats.chi_square([7, 0, 0], [3, 0, 0]) == (0.0, 1.0, 0)
    assert stats.chi_square([7], [3]) == (0.0, 1.0, 0)


# --------------------------------------------------------------------------- categories


def test_category_counts_aligns_reference_then_unseen() -> None:
    ref = pd.Series(["b", "a", "b", None, "c", "a", "a"])
    cur = ["z", "a", None, "z", "q", "z", float("nan")]
    categories, ref_counts, cur_counts = stats.category_counts(ref, cur)
    assert categories == ["a", "b", "c", "z", "q"]
    assert ref_counts.tolist() == [3, 2, 1, 0, 0]
    assert cur_counts.tolist() == [1, 0, 0, 3, 1]
    assert ref_counts.dtype == cur_counts.dtype == np.int64


def test_category_counts_with_category_dtype_and_numbers() -> None:
    ref = pd.Series(["x", "y", "y"], dtype="category").cat.add_categories(["never"])
    cur = pd.Series(["y", "w"], dtype="category")
    categories, ref_counts, cur_counts = stats.category_counts(ref, cur)
    assert categories == ["y", "x", "w"]  # unused declared categories are not counted
    assert ref_counts.tolist() == [2, 1, 0]
    assert cur_counts.tolist() == [1, 0, 1]

    categories, ref_counts, cur_counts = stats.category_counts(
        np.array([1, 2, 2, 3]), np.array([1.0, 2.0, np.nan, 7.5])
    )
    assert categories == [2, 1, 3, 7.5]
    assert ref_counts.tolist() == [2, 1, 1, 0]
    assert cur_counts.tolist() == [1, 1, 0, 1]


def test_category_counts_of_an_empty_side() -> None:
    categories, ref_counts, cur_counts = stats.category_counts([None, np.nan], ["z", "a"])
    assert categories == ["z", "a"]
    assert ref_counts.tolist() == [0, 0]
    assert cur_counts.tolist() == [1, 1]
    categories, ref_counts, cur_counts = stats.category_counts([], [])
    assert (categories, ref_counts.size, cur_counts.size) == ([], 0, 0)


def test_category_counts_feed_chi_square() -> None:
    rng = np.random.default_rng(4)
    ref = rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c", "d"], 1000, p=[0.4, 0.3, 0.2, 0.1])
    _, ref_counts, cur_counts = stats.category_counts(ref, cur)
    assert stats.chi_square(ref_counts, cur_counts)[1] < 1e-6


# --------------------------------------------------------------------------- bad input

SAMPLE_FUNCTIONS = [stats.ks_2samp, stats.wasserstein, stats.wasserstein_normalised]


@pytest.mark.parametrize("function", SAMPLE_FUNCTIONS)
def test_empty_samples_are_refused(function: object) -> None:
    assert callable(function)
    with pytest.raises(ValueError, match="a_sorted is empty"):
        function(np.array([]), np.array([1.0]))
    with pytest.raises(ValueError, match="b_sorted is empty"):
        function(np.array([1.0]), [])


@pytest.mark.parametrize("function", SAMPLE_FUNCTIONS)
def test_nan_and_unsorted_samples_are_refused(function: object) -> None:
    assert callable(function)
    with pytest.raises(ValueError, match="a_sorted contains NaN"):
        function(np.array([1.0, 2.0, np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="b_sorted contains NaN"):
        function(np.array([1.0]), np.array([np.nan]))
    with pytest.raises(ValueError, match="b_sorted is not sorted"):
        function(np.array([1.0]), np.array([1.0, 3.0, 2.0]))
    with pytest.raises(ValueError, match="must be 1-D"):
        function(np.ones((2, 2)), np.array([1.0]))


def test_infinite_values() -> None:
    a = np.array([0.0, 1.0, np.inf])
    b = np.array([-np.inf, 0.0, 2.0, 3.0])
    expected = scipy.stats.ks_2samp(a, b)
    assert stats.ks_2samp(a, b) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-9)
    assert stats.bin_counts(b, stats.numeric_bins(a)).tolist() == [1, 1, 2]
    with pytest.raises(ValueError, match="a_sorted contains ±inf"):
        stats.wasserstein(a, np.array([1.0]))
    with pytest.raises(ValueError, match="b_sorted contains ±inf"):
        stats.wasserstein_normalised(np.array([1.0]), b)


def test_bad_bins_are_refused() -> None:
    with pytest.raises(ValueError, match="a_sorted is empty"):
        stats.numeric_bins(np.array([]))
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        stats.numeric_bins(np.arange(5.0), n_bins=0)
    with pytest.raises(ValueError, match="sorted_values is empty"):
        stats.bin_counts(np.array([]), [-np.inf, 0.0, np.inf])
    with pytest.raises(ValueError, match="strictly increasing"):
        stats.bin_counts(np.arange(5.0), [-np.inf, 2.0, 2.0, np.inf])
    with pytest.raises(ValueError, match="at least two"):
        stats.bin_counts(np.arange(5.0), [0.0])


@pytest.mark.parametrize("function", [stats.psi, stats.jensen_shannon, stats.chi_square])
def test_bad_counts_are_refused(function: object) -> None:
    assert callable(function)
    with pytest.raises(ValueError, match="ref_counts is empty"):
        function([], [])
    with pytest.raises(ValueError, match="cur_counts sums to 0"):
        function([1, 2], [0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        function([1, -2], [1, 2])
    with pytest.raises(ValueError, match="same bins or categories"):
        function([1, 2], [1, 2, 3])


def test_bad_eps_is_refused() -> None:
    with pytest.raises(ValueError, match="eps must lie in"):
        stats.psi([1, 2], [2, 1], eps=0.0)


def test_familywise_significance_divides_the_p_value_thresholds() -> None:
    from nbmlops.monitoring.drift import check

    rng = np.random.default_rng(5)
    ref = pd.DataFrame(rng.normal(size=(500, 20)), columns=[f"x{i}" for i in range(20)])
    ref["plan"] = rng.choice(["a", "b"], 500)
    cur = pd.DataFrame(rng.normal(size=(400, 20)), columns=[f"x{i}" for i in range(20)])
    cur["plan"] = rng.choice(["a", "b"], 400)
    cur["x3"] += 1.0
    report = check(ref, cur, familywise=0.05, threshold={"x7": 0.2})
    by_name = {c.column: c for c in report.columns}
    assert by_name["x0"].threshold == pytest.approx(0.05 / 20)  # 20 p-value columns
    assert by_name["plan"].threshold == pytest.approx(0.05 / 20)  # chi2 too
    assert by_name["x7"].threshold == 0.2  # given: kept
    assert report.drifted == ["x3"]
    with pytest.raises(ValueError, match="familywise must be a significance in"):
        check(ref, cur, familywise=1.5)
