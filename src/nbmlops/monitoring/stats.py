"""The statistics drift detection is built on: two-sample tests and distances.

Numeric columns are compared as *sorted* samples: drop the missing values of each column
of each frame, sort it once (``np.sort``), and hand the same arrays to every function
here. Categorical columns are compared as aligned counts (:func:`category_counts`).

* :func:`ks_2samp` -- Kolmogorov–Smirnov statistic and two-sided p-value, as
  ``scipy.stats.ks_2samp`` computes them.
* :func:`wasserstein` -- earth mover's distance, as ``scipy.stats.wasserstein_distance``;
  :func:`wasserstein_normalised` divides it by the reference's std (Evidently's
  "normed Wasserstein").
* :func:`psi` -- population stability index, and :func:`jensen_shannon` -- Jensen–Shannon
  distance (base 2, as ``scipy.spatial.distance.jensenshannon``), over counts per bin
  (:func:`numeric_bins` puts bins at the reference's quantiles, :func:`bin_counts` fills
  them) or per category.
* :func:`chi_square` -- chi-square test of homogeneity over counts per category, as
  ``scipy.stats.chi2_contingency``.

The functions are pure and hold no state, so several threads may call them at once; their
time goes into NumPy calls on large arrays, which release the GIL, and never into BLAS
(whose own threads would compete with the caller's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "bin_counts",
    "category_counts",
    "chi_square",
    "jensen_shannon",
    "ks_2samp",
    "numeric_bins",
    "psi",
    "wasserstein",
    "wasserstein_normalised",
]

FloatArray = npt.NDArray[np.float64]
CountArray = npt.NDArray[np.int64]

# scipy's ``method="auto"``: the exact distribution when both samples have at most this
# many values, the asymptotic one otherwise (``MAX_AUTO_N`` in ``scipy.stats.ks_2samp``).
_KS_EXACT_MAX_N: Final = 10_000

# scipy's ``smirnov`` sums its series exactly up to this n and approximates beyond it.
_SMIRNOV_MAX_N: Final = 1_000_000

# Exact KS tails provably below this are replaced by the (equally small) asymptotic ones.
_NEGLIGIBLE_P: Final = 1e-12

# Width of the blocks the KS statistic is bounded over (see :func:`_ks_statistic`).
_KS_BLOCK: Final = 64

# Values per step of the chunked loops: temporaries this size stay in cache.
_CHUNK: Final = 1 << 15


# --------------------------------------------------------------------------- inputs


def _sorted(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a 1-D float64 array, checked to be non-empty, NaN-free and sorted."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: a drift statistic needs at least one value")
    # One comparison pass catches both NaN (it compares false) and unsorted input.
    if np.isnan(array[0]) or not bool(np.all(array[:-1] <= array[1:])):
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN: drop the missing values before sorting")
        raise ValueError(f"{name} is not sorted ascending: pass np.sort(values)")
    return array


def _finite(values: npt.ArrayLike, name: str) -> FloatArray:
    """:func:`_sorted`, and free of ±inf (which would sit at the ends)."""
    array = _sorted(values, name)
    if not (math.isfinite(array[0]) and math.isfinite(array[-1])):
        raise ValueError(f"{name} contains ±inf: a distance needs finite values")
    return array


def _counts(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a 1-D float64 array of non-negative, finite counts with a positive total."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: there are no bins or categories to compare")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative counts")
    if array.sum() <= 0:
        raise ValueError(f"{name} sums to 0: the sample has no values to compare")
    return array


def _count_pair(
    ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    ref = _counts(ref_counts, "ref_counts")
    cur = _counts(cur_counts, "cur_counts")
    if ref.shape != cur.shape:
        raise ValueError(
            f"ref_counts has {ref.size} bins but cur_counts has {cur.size}: "
            "count both samples over the same bins or categories"
        )
    return ref, cur


# ------------------------------------------------------------------- Kolmogorov–Smirnov


def ks_2samp(a_sorted: npt.ArrayLike, b_sorted: npt.ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov test: ``(statistic, two-sided p-value)``.

    The statistic is ``D = max_x |F_a(x) - F_b(x)|`` over the two empirical CDFs,
    ties included (both CDFs right-continuous), exactly as ``scipy.stats.ks_2samp(a, b)``
    computes it. The p-value follows scipy's default ``method="auto"``:

    * both samples of at most 10,000 values: the exact null distribution of ``D``
      (scipy's lattice-path counts); as in scipy, ``D`` is then reported as the nearest
      multiple of ``1 / lcm(n_a, n_b)``, the lattice it lives on. For unequal sizes
      and a tail that Massart's inequality puts below 1e-12, the asymptotic value
      (below the same bound) is reported instead of a count that can take a second.
    * otherwise: ``kstwo.sf(D, round(n_a * n_b / (n_a + n_b)))``, except that where
      scipy sums a series term by term (O(n): 1-3 s at a million values) the same
      series is summed from a few hundred terms (:func:`_smirnov_sf`).

    Statistic and p-value agree with scipy's to 1e-9 (tested); two samples of
    1,000,000 values take about 10 ms. Edge cases: identical samples and two equal
    constants give ``(0.0, 1.0)``; two different constants give ``D = 1``. ±inf count
    as ordinary extreme values. Raises ``ValueError`` if either sample is empty, holds
    NaN, or is not sorted ascending.
    """
    a = _sorted(a_sorted, "a_sorted")
    b = _sorted(b_sorted, "b_sorted")
    return _ks_pvalue(_ks_statistic(a, b), a.size, b.size)


def _ks_statistic(a: FloatArray, b: FloatArray) -> float:
    """``max(D+, D-)`` from two sorted samples, searching only where the maximum can be.

    scipy evaluates ``F_a - F_b`` at every value of both samples (searchsorted of the
    concatenation into each sample: ~0.25 s for two samples of 1,000,000). The same
    maximum is found here with a few percent of those searches. With ``L_j`` / ``R_j``
    the number of values of ``a`` below / at or below ``b[j]``, and ``n``, ``m`` the
    sizes of ``a``, ``b``:

    * ``D+ = max_x F_a - F_b = max(0, max_j L_j/n - j/m)``: ``F_a - F_b`` peaks just
      left of a value of ``b`` (for tied values of ``b`` the first ``j`` wins);
    * ``D- = max_x F_b - F_a = max(0, max_j (j+1)/m - R_j/n)`` (the last ``j`` wins).

    These are the very differences scipy computes (the same integers through the same
    float operations), so the maximum is identical. ``b`` is cut into blocks of
    ``_KS_BLOCK`` values: ``L`` and ``R`` only grow with ``j``, so their values at a
    block's ends bound every term inside it, and only blocks whose bound beats the best
    exact term found are searched in full. Near the null hypothesis that is a few
    hundred blocks; two samples sharing almost all their values need every block (as
    costly as scipy's way, halved), except identical samples, which are recognised.
    """
    if a.size < b.size:  # search the shorter sample's values; D is symmetric
        a, b = b, a
    n, m = a.size, b.size
    first = np.arange(0, m, _KS_BLOCK)
    last = np.minimum(first + _KS_BLOCK - 1, m - 1)
    l_first, r_first = _ranks(a, b[first])
    l_last, r_last = _ranks(a, b[last])

    plus = max(0.0, _max_plus(l_first, first, n, m), _max_plus(l_last, last, n, m))
    plus_blocks = first[l_last / n - first / m > plus]
    minus = max(0.0, _max_minus(r_first, first, n, m), _max_minus(r_last, last, n, m))
    minus_blocks = first[(last + 1) / m - r_first / n > minus]

    if (plus_blocks.size + minus_blocks.size) * _KS_BLOCK > m // 4 and np.array_equal(a, b):
        return 0.0
    if plus_blocks.size:
        j = _block_members(plus_blocks, m)
        plus = max(plus, _max_plus(np.searchsorted(a, b[j], side="left"), j, n, m))
    if minus_blocks.size:
        j = _block_members(minus_blocks, m)
        minus = max(minus, _max_minus(np.searchsorted(a, b[j], side="right"), j, n, m))
    return max(plus, minus)


def _ranks(a: FloatArray, keys: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """``searchsorted(a, keys)`` on the left and on the right, searching twice only for ties."""
    below = np.searchsorted(a, keys, side="left")
    at_or_below = below.copy()
    inside = below < a.size
    tied = np.zeros(keys.size, dtype=bool)
    tied[inside] = a[below[inside]] == keys[inside]
    if tied.any():
        at_or_below[tied] = np.searchsorted(a, keys[tied], side="right")
    return below, at_or_below


def _block_members(block_starts: npt.NDArray[np.intp], m: int) -> npt.NDArray[np.intp]:
    """The indices of ``b`` in the given blocks."""
    j = (block_starts[:, None] + np.arange(_KS_BLOCK)).ravel()
    return j[j < m]


def _max_plus(below: npt.NDArray[np.intp], j: npt.NDArray[np.intp], n: int, m: int) -> float:
    return float(np.max(below / n - j / m))


def _max_minus(at_or_below: npt.NDArray[np.intp], j: npt.NDArray[np.intp], n: int, m: int) -> float:
    return float(np.max((j + 1) / m - at_or_below / n))


def _ks_pvalue(d: float, n1: int, n2: int) -> tuple[float, float]:
    """scipy's two-sided p-value for ``D = d`` (``method="auto"``), with the ``d`` it reports."""
    if max(n1, n2) <= _KS_EXACT_MAX_N:
        g = math.gcd(n1, n2)
        lcm = (n1 // g) * n2
        h = int(np.round(d * lcm))
        d = h / lcm
        if h == 0:
            return d, 1.0
        if n1 == n2:
            prob = _prob_outside_square(n1, h)
        elif _tail_bound(d, n1, n2) < _NEGLIGIBLE_P:
            # The lattice count costs O(n1 * n2 * d): up to a second for strong drift near
            # 10,000 values, to learn a p-value below 1e-12. The asymptotic one is below
            # the same bound, so reporting it changes the p-value by less than 1e-12.
            prob = math.nan
        else:
            prob = _outer_prob_inside_method()(n1, n2, g, h)
        if 0.0 <= prob <= 1.0:
            return d, prob
        # scipy falls back to the asymptotic distribution when the exact one fails
        # (keeping the lattice d); so do we, and for negligible tails.
    big, small = max(n1, n2), min(n1, n2)
    en = float(big) * float(small) / float(big + small)
    return d, min(max(_kstwo_sf(d, float(np.round(en))), 0.0), 1.0)


def _tail_bound(d: float, n1: int, n2: int) -> float:
    """An upper bound on ``P(D >= d)`` under the null hypothesis, for any sizes.

    ``D <= D1 + D2`` (each sample's distance to the common CDF), so with Massart's
    ``P(D_k >= e) <= 2 exp(-2 k e^2)`` and ``d`` split in proportion to
    ``sqrt(n2) : sqrt(n1)``: ``4 exp(-2 d^2 n1 n2 / (sqrt(n1) + sqrt(n2))^2)``.
    """
    scale = n1 * n2 / (math.sqrt(n1) + math.sqrt(n2)) ** 2
    return 4.0 * math.exp(-2.0 * d * d * scale)


def _kstwo_sf(d: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(d, n)``, without its O(n) case.

    For ``2.2 <= n d^2 < 370`` (p-values from about 0.02 down to 1e-160) scipy returns
    ``2 * scipy.special.smirnov(n, d)``, which sums ``n (1 - d)`` terms in double-double
    arithmetic: one to three seconds for n = 500,000 to 1,000,000. :func:`_smirnov_sf`
    gives the same value (to 1e-8 relative) in well under a millisecond. Every other
    case is cheap in scipy and left to it.
    """
    t = n * d
    if 140 < n <= _SMIRNOV_MAX_N and 1.0 < t < n - 1 and d < 0.5 and 2.2 <= t * d < 370.0:
        return min(2.0 * _smirnov_sf(int(n), d), 1.0)
    from scipy.stats import kstwo

    return float(kstwo.sf(d, n))


def _smirnov_sf(n: int, d: float) -> float:
    """``P(D+_n >= d)``, the one-sided one-sample KS tail, for ``n d^2 >= 2.2``.

    Birnbaum and Tingey's sum (the one scipy's ``smirnov`` adds up term by term)::

        d * sum_{j=0}^{ceil(n(1-d)) - 1} C(n, j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j)

    Its terms, as a function of ``j``, form one smooth bump about ``sqrt(n) / (4d)``
    wide and negligible (below ``exp(-n d)``) at both ends, so sampling every
    ``step``-th term (an eighth of that width) and multiplying by ``step`` is the
    trapezoidal rule on a smooth, decaying function: its error is far below rounding.
    Terms are taken in logs (so they neither overflow nor underflow); the result agrees
    with scipy's to about 1e-8 relative, from a few hundred terms instead of ``n``.
    """
    from scipy.special import gammaln

    last = n - math.floor(n * d) - 1
    step = max(1, int(math.sqrt(n) / (4.0 * d) / 8.0))
    j = np.arange(0, last + 1, step, dtype=np.float64)
    v = d + j / n
    logs = (
        gammaln(n + 1.0)
        - gammaln(j + 1.0)
        - gammaln(n - j + 1.0)
        + (j - 1.0) * np.log(v)
        + (n - j) * np.log1p(-v)
        + math.log(d)
    )
    top = float(logs.max())
    return step * math.exp(top) * float(np.exp(logs - top).sum())


def _prob_outside_square(n: int, h: int) -> float:
    """``P(D >= h/n)`` for two samples of ``n`` values (scipy's ``_compute_prob_outside_square``).

    ``2 * sum_k (-1)^(k+1) C(2n, n-kh) / C(2n, n)``, evaluated Horner-style on the
    ratios so it does not cancel. O(n) scalar steps.
    """
    total = 0.0
    k = n // h
    while k >= 0:
        term = 1.0
        for j in range(h):
            term = (n - k * h - j) * term / (n + k * h + j + 1)
        total = term * (1.0 - total)
        k -= 1
    return 2 * total


def _outer_prob_inside_method() -> Callable[[int, int, int, int], float]:
    """scipy's compiled lattice-path count for unequal sizes, or the NumPy one below.

    scipy ships ``_compute_outer_prob_inside_method`` compiled (Pythran) but private;
    it is ~5x faster than :func:`_outer_prob_wavefront` and is used when present.
    """
    try:
        from scipy.stats._stats_pythran import _compute_outer_prob_inside_method
    except ImportError:  # pragma: no cover - scipy moved it; ours gives the same numbers
        return _outer_prob_wavefront
    return _compute_outer_prob_inside_method  # type: ignore[no-any-return]


def _outer_prob_wavefront(m: int, n: int, g: int, h: int) -> float:
    """``P(D >= h / lcm(m, n))`` for samples of ``m`` and ``n`` values.

    Hodges' "inside method" as scipy computes it (with Viehmann's recursion for the
    complement): over the lattice ``0 <= i <= m``, ``0 <= j <= n``, a cell is in the
    band when ``|(n/g) i - (m/g) j| < h``; cells outside the band hold 1 (the path has
    left), ``A(0, 0) = 0``, and a band cell holds ``(i A(i-1, j) + j A(i, j-1)) / (i+j)``,
    the share of random paths into it that have already left. The answer is
    ``A(m, n)``. scipy sweeps column by column in compiled code; here each
    anti-diagonal ``i + j = s`` depends only on the previous one, so it is one
    vectorised step (the same arithmetic per cell, so the same numbers).
    """
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    width = mg + ng
    prev = np.zeros(1)  # diagonal s = 0: the single cell (0, 0)
    prev_lo = 0
    for s in range(1, m + n + 1):
        # band cells on this diagonal: mg*s - h < width*i < mg*s + h, inside the grid
        lo = max((mg * s - h) // width + 1, s - n, 0)
        hi = min(-(-(mg * s + h) // width) - 1, m, s)
        if hi < lo:
            return 1.0  # every path crosses this diagonal outside the band
        # previous diagonal at i = lo-1 .. hi; cells not held there are outside the band
        neighbours = np.ones(hi - lo + 2)
        start, stop = max(lo - 1, prev_lo), min(hi, prev_lo + prev.size - 1)
        if start <= stop:
            neighbours[start - lo + 1 : stop - lo + 2] = prev[start - prev_lo : stop - prev_lo + 1]
        i = np.arange(lo, hi + 1, dtype=np.float64)
        prev = (neighbours[:-1] * i + neighbours[1:] * (s - i)) / s
        prev_lo = lo
    return float(prev[m - prev_lo])


# --------------------------------------------------------------------------- Wasserstein


def wasserstein(a_sorted: npt.ArrayLike, b_sorted: npt.ArrayLike) -> float:
    """First Wasserstein (earth mover's) distance between two samples.

    ``W = integral |F_a(x) - F_b(x)| dx = integral_0^1 |Q_a(t) - Q_b(t)| dt``, in the
    data's units; equal to ``scipy.stats.wasserstein_distance(a, b)`` (tested to 1e-9
    relative). Computed on the quantile side: ``Q_a`` steps at ``i/n_a`` and ``Q_b`` at
    ``j/n_b``, so the pieces of ``[0, 1]`` on which both are constant follow from the
    sizes alone, with no search (equal sizes: ``mean |a - b|``).

    Identical samples give 0.0; two constant samples the difference of the constants.
    Raises ``ValueError`` if either sample is empty, holds NaN or ±inf, or is not
    sorted ascending.
    """
    return _wasserstein(_finite(a_sorted, "a_sorted"), _finite(b_sorted, "b_sorted"))


def _wasserstein(a: FloatArray, b: FloatArray) -> float:
    if a.size == b.size:
        return float(np.mean(np.abs(a - b)))
    if a.size < b.size:  # W is symmetric; let a be the finer grid
        a, b = b, a
    n1, n2 = a.size, b.size
    # In units of 1/(n1*n2), Q_a steps at i*n2 and Q_b at j*n1. Each step of the finer Q_a
    # closes an interval of length n2 that holds at most one step of Q_b: on the interval's
    # "tail" after that step (all of it when there is none) Q_b = b[step], with
    # step = ceil(i*n2/n1) - 1, and on its "head" before the step Q_b = b[step-1].
    # Chunks keep the temporaries in cache.
    total = 0.0
    for start in range(0, n1, _CHUNK):
        values = a[start : start + _CHUNK]
        ends = np.arange(start + 1, start + values.size + 1, dtype=np.int64) * n2
        step = (ends + (n1 - 1)) // n1 - 1
        tail = np.minimum(ends - step * n1, n2)
        total += _weighted_distance(tail, values, b[step])
        total += _weighted_distance(n2 - tail, values, b[np.maximum(step - 1, 0)])
    return total / (float(n1) * float(n2))


def _weighted_distance(weights: npt.NDArray[np.int64], x: FloatArray, y: FloatArray) -> float:
    """``sum(weights * |x - y|)``, without BLAS (its threads would fight the caller's)."""
    return float(np.einsum("i,i->", weights.astype(np.float64), np.abs(x - y)))


def wasserstein_normalised(a_sorted: npt.ArrayLike, b_sorted: npt.ArrayLike) -> float:
    """:func:`wasserstein` divided by the reference's (``a``) population std (ddof=0).

    The "normed Wasserstein" other drift tools report (Evidently:
    ``wasserstein_distance / np.std(reference)``): scale-free, so one threshold (0.1 is
    customary) serves every column. When the reference is constant (std 0) the ratio
    is 0.0 if the distance is 0 (current is the same constant) and ``inf`` otherwise.
    Raises ``ValueError`` as :func:`wasserstein` does.
    """
    a = _finite(a_sorted, "a_sorted")
    distance = _wasserstein(a, _finite(b_sorted, "b_sorted"))
    std = float(np.std(a))
    if std == 0.0:
        return 0.0 if distance == 0.0 else math.inf
    return distance / std


# ------------------------------------------------------------------------------ binning


def numeric_bins(a_sorted: npt.ArrayLike, *, n_bins: int = 10) -> FloatArray:
    """Bin edges at the reference's quantiles, for :func:`bin_counts`.

    The interior edges are the reference values at positions ``floor(k * n / n_bins)``
    for ``k = 1 .. n_bins-1`` (so each bin holds ``n / n_bins`` reference values when
    there are no ties), deduplicated, with ``-inf`` and ``+inf`` added at the ends:
    ``len(edges) - 1`` bins, the first and last open-ended so every current value
    falls in one. Bins are closed on the left (``[edges[k], edges[k+1])``, see
    :func:`bin_counts`).

    Every interior edge is an observed reference value, so on discrete data each
    frequent value starts its own bin and rare values share one; a constant reference
    gives ``[-inf, c, inf]`` (below ``c``, and ``c`` or above); a binary column at most
    three bins, the first empty in the reference. Fewer than ``n_bins`` bins result
    whenever quantiles coincide. Raises ``ValueError`` for an empty, unsorted or NaN
    sample, or ``n_bins < 1``.
    """
    a = _sorted(a_sorted, "a_sorted")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    positions = np.arange(1, n_bins, dtype=np.int64) * a.size // n_bins
    interior = a[positions]
    edges = np.concatenate(([-np.inf], interior, [np.inf]))
    return np.unique(edges)


def bin_counts(sorted_values: npt.ArrayLike, edges: npt.ArrayLike) -> CountArray:
    """Count sorted values into the bins ``edges`` describes; ``len(edges) - 1`` counts.

    Bin ``k`` is ``[edges[k], edges[k+1])``, except that the first bin takes every value
    below ``edges[1]`` and the last every value at or above ``edges[-2]`` (±inf
    included), whatever ``edges[0]`` and ``edges[-1]`` say: the counts always add up
    to ``len(sorted_values)``. O(bins · log n) via ``searchsorted``. Raises
    ``ValueError`` if the values are empty, unsorted or hold NaN, or the edges are not
    strictly increasing (at least two).
    """
    values = _sorted(sorted_values, "sorted_values")
    edge_array = np.asarray(edges, dtype=np.float64)
    if edge_array.ndim != 1 or edge_array.size < 2:
        raise ValueError("edges must be a 1-D array of at least two bin edges")
    if not bool(np.all(edge_array[:-1] < edge_array[1:])):
        raise ValueError("edges must be strictly increasing (as numeric_bins returns them)")
    cuts = np.searchsorted(values, edge_array[1:-1], side="left")
    bounds = np.concatenate(([0], cuts, [values.size]))
    return np.diff(bounds).astype(np.int64)


# ------------------------------------------------------------------- binned divergences


def psi(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike, *, eps: float = 1e-4) -> float:
    """Population stability index: ``sum_k (c_k - r_k) * ln(c_k / r_k)``.

    ``r`` and ``c`` are the reference and current proportions per bin (counts divided
    by their totals), each clipped below at ``eps`` so that an empty bin contributes a
    large but finite term; the clipped proportions are not renormalised (as in
    Evidently). 0 for identical distributions; customary reading: < 0.1 no drift,
    0.1-0.25 moderate, > 0.25 major. Raises ``ValueError`` for empty, negative or
    all-zero counts, mismatched lengths, or ``eps`` outside ``(0, 1)``.
    """
    ref, cur = _count_pair(ref_counts, cur_counts)
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    r = np.maximum(ref / ref.sum(), eps)
    c = np.maximum(cur / cur.sum(), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> float:
    """Jensen–Shannon *distance* (base 2) between the two count vectors, in ``[0, 1]``.

    With ``p``, ``q`` the counts normalised to proportions and ``M = (p + q) / 2``:
    ``sqrt((KL(p || M) + KL(q || M)) / 2)``, KL in bits. Equal to
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``; 0 for identical
    distributions, 1 for disjoint ones. Empty bins need no smoothing. Raises
    ``ValueError`` for empty, negative or all-zero counts, or mismatched lengths.
    """
    from scipy.special import rel_entr

    ref, cur = _count_pair(ref_counts, cur_counts)
    p = ref / ref.sum()
    q = cur / cur.sum()
    mid = (p + q) / 2.0
    divergence = (np.sum(rel_entr(p, mid)) + np.sum(rel_entr(q, mid))) / np.log(2.0)
    # Rounding can leave a hair below 0 (or above 1) for (nearly) equal or disjoint p, q.
    return min(math.sqrt(max(float(divergence) / 2.0, 0.0)), 1.0)


def chi_square(ref_counts: npt.ArrayLike, cur_counts: npt.ArrayLike) -> tuple[float, float, int]:
    """Chi-square test that both samples share one categorical distribution.

    Returns ``(statistic, p-value, dof)`` as ``scipy.stats.chi2_contingency`` returns
    them for the 2 x k table ``[ref_counts, cur_counts]`` with its defaults: expected
    counts ``row total * column total / grand total``, statistic
    ``sum (observed - expected)^2 / expected``, ``dof = k - 1``, p-value from the chi-square
    distribution, and Yates' continuity correction (each ``|observed - expected|``
    reduced by at most 0.5) when ``dof == 1``.

    Categories absent from both samples are dropped first (they carry no information,
    and scipy would refuse the zero expected count). When fewer than two categories
    remain there is nothing to test: ``(0.0, 1.0, 0)``. A category absent from only one
    sample is kept (that is drift). Raises ``ValueError`` for empty, negative or
    all-zero counts (either sample), or mismatched lengths.
    """
    from scipy.special import chdtrc

    ref, cur = _count_pair(ref_counts, cur_counts)
    present = (ref + cur) > 0
    observed = np.vstack([ref[present], cur[present]])
    k = observed.shape[1]
    if k < 2:
        return 0.0, 1.0, 0
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True)
    expected = expected / observed.sum()
    dof = k - 1
    if dof == 1:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, float(chdtrc(dof, statistic)), dof


# --------------------------------------------------------------------------- categories


def category_counts(
    ref_values: pd.Series | npt.ArrayLike, cur_values: pd.Series | npt.ArrayLike
) -> tuple[list[object], CountArray, CountArray]:
    """The categories of both samples and each sample's count of them, aligned.

    Returns ``(categories, ref_counts, cur_counts)``: the reference's categories first,
    most frequent first, then the categories seen only in current, most frequent first
    (ties keep pandas' order: first appearance, or category order for a ``category``
    dtype). Missing values (None, NaN, NaT, pd.NA) are not counted, nor are declared
    categories of a ``category`` dtype that never occur. Labels are Python objects as
    pandas gives them (``1`` and ``1.0`` are one category).

    A sample with no values (empty or all missing) counts 0 everywhere (both: no
    categories); :func:`chi_square`, :func:`psi` and :func:`jensen_shannon` refuse such
    counts, so check the totals first.
    """
    import pandas as pd

    ref = _value_counts(ref_values)
    cur = _value_counts(cur_values)
    unseen = cur[~cur.index.isin(ref.index)]
    labels: list[object] = ref.index.tolist() + unseen.index.tolist()
    ref_counts = np.concatenate([ref.to_numpy(), np.zeros(unseen.size, dtype=np.int64)])
    cur_counts = cur.reindex(pd.Index(labels, dtype=object), fill_value=0).to_numpy()
    return labels, ref_counts.astype(np.int64), cur_counts.astype(np.int64)


def _value_counts(values: pd.Series | npt.ArrayLike) -> Any:
    """Counts of the non-missing values, most frequent first (stable), on an object index."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    counts = series.value_counts(sort=False, dropna=True)
    counts = counts[counts.to_numpy() > 0]
    counts = counts.iloc[np.argsort(-counts.to_numpy(), kind="stable")]
    counts.index = pd.Index(counts.index, dtype=object)
    return counts
