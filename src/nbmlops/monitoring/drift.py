"""Drift between a reference and current data, column by column, and a verdict.

Each column the two frames share (or the ones named) is tested with one statistical test:

==================  ====================================================  =========  ==========
test                what it measures                                      drifted    default
                                                                          when       threshold
==================  ====================================================  =========  ==========
``ks``              two-sample Kolmogorov–Smirnov (scipy's exact or      p < t      0.05
                    asymptotic p-value, as ``scipy.stats.ks_2samp``)
``wasserstein``     Wasserstein-1 distance over the reference's standard  d > t      0.1
                    deviation (population)
``psi``             population stability index over 10 bins at the      psi > t    0.2
                    reference's deciles (categories: per category)
``jensenshannon``   Jensen–Shannon distance, base 2 (numeric: the PSI     d > t      0.1
                    bins; categories: per category)
``chi2``            chi-square test of the 2 × k contingency table        p < t      0.05
                    (as ``scipy.stats.chi2_contingency``)
==================  ====================================================  =========  ==========

The automatic choice, per column: **numeric** columns (ints, floats, datetimes as their
instants; not bools) get ``ks`` when the reference has at most 1,000 values in the column,
else ``wasserstein`` (with many rows every tiny shift is "significant", so a distance with
a threshold of practical size is the useful question); **categorical** columns (bools,
text, categories, objects, mixed types) get ``chi2`` up to 1,000 reference values, else
``jensenshannon``. ``tests=`` overrides it for all columns (``"psi"``) or per column
(``{"age": "ks"}``); ``threshold=`` sets the threshold likewise.

Missing values (and infinities) are left out of the tests and reported as the change in
the missing rate. A categorical value the reference never had is counted as unseen. A
column with no values on one side only has drifted (``note`` says why); one with no values
on either side has not. The dataset has drifted when the share of drifted columns reaches
``share`` (0.5 by default). A ``prediction`` column (the model's output) is tested too but
reported on its own, as prediction drift, outside the share.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from nbmlops.monitoring import stats

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

Kind = Literal["numeric", "categorical"]
TESTS: dict[str, tuple[Kind, ...]] = {
    "ks": ("numeric",), "wasserstein": ("numeric",), "psi": ("numeric", "categorical"),
    "jensenshannon": ("numeric", "categorical"), "chi2": ("categorical",)}
THRESHOLDS: dict[str, float] = {"ks": 0.05, "chi2": 0.05, "wasserstein": 0.1, "psi": 0.2,
                                "jensenshannon": 0.1}
P_VALUE_TESTS = frozenset({"ks", "chi2"})
_STATISTIC_NAMES = {"ks": "D", "chi2": "χ²"}  # how each test's statistic is written
SMALL = 1000  # reference values up to which the tests with p-values are chosen
DEFAULT_SHARE = 0.5
PREDICTION = "prediction"
_PLOT_BINS = 30
_TOP_CATEGORIES = 20
_UNSEEN_SHOWN = 10


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test: its statistic, p-value (tests that have one), the threshold,
    the verdict, and how the missing values and categories changed."""

    column: str
    kind: Kind
    test: str
    statistic: float | None
    p_value: float | None
    threshold: float
    drifted: bool
    reference_count: int  # values tested (missing ones left out)
    current_count: int
    reference_missing: float | None  # share of rows; None for no rows
    current_missing: float | None
    unseen: tuple[str, ...] = ()  # current categories the reference never had (first few)
    unseen_count: int = 0
    unseen_share: float = 0.0  # share of the current values that are unseen
    note: str = ""
    # what the plots draw: for numeric columns "edges", "reference" and "current" shares;
    # for categorical ones "categories" and the two shares
    shape: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def score(self) -> float | None:
        """What is compared with the threshold: the p-value, or the distance."""
        return self.p_value if self.test in P_VALUE_TESTS else self.statistic

    @property
    def result(self) -> str:
        """The test's result with each number named: ``ks D=0.093, p=0.795`` for the tests
        with a p-value, ``psi=0.31`` for the distances."""
        if self.test in P_VALUE_TESTS:
            named = [f"{_STATISTIC_NAMES.get(self.test, 'statistic')}={_fmt(self.statistic)}"
                     if self.statistic is not None else "",
                     f"p={_fmt(self.p_value)}" if self.p_value is not None else ""]
            shown = ", ".join(n for n in named if n)
            return f"{self.test} {shown}" if shown else self.test
        return f"{self.test}={_fmt(self.statistic)}" if self.statistic is not None else self.test

    @property
    def missing_change(self) -> float | None:
        if self.reference_missing is None or self.current_missing is None:
            return None
        return self.current_missing - self.reference_missing

    @property
    def severity(self) -> float:
        """How far past (or short of) its threshold, comparable across tests: above 1
        means drifted."""
        score = self.score
        if score is None or math.isnan(score):
            return math.inf if self.drifted else 0.0
        if self.test in P_VALUE_TESTS:
            return self.threshold / score if score > 0 else math.inf
        return score / self.threshold if self.threshold > 0 else math.inf


@dataclass(frozen=True)
class DriftReport:
    """A drift check: per-column results, the dataset's verdict, prediction drift."""

    columns: tuple[ColumnDrift, ...]
    share_threshold: float
    reference: str  # what was compared, in words
    current: str
    reference_rows: int
    current_rows: int
    prediction: ColumnDrift | None = None
    seconds: float = 0.0
    run_id: str | None = None
    model: str | None = None  # churn/3, when the reference is a registered version
    deployment: str | None = None
    # figures drawn so far, by ``top`` (drawing is the slow part of showing a report, and
    # recording it then showing it inline draws the same one)
    _figures: dict[int, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def drifted(self) -> list[str]:
        """The drifted columns, most drifted first."""
        hit = [c for c in self.columns if c.drifted]
        return [c.column for c in sorted(hit, key=lambda c: -c.severity)]

    @property
    def share(self) -> float:
        return sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share >= self.share_threshold

    @property
    def prediction_drift(self) -> bool | None:
        return None if self.prediction is None else self.prediction.drifted

    def column(self, name: str) -> ColumnDrift:
        for c in (*self.columns, *([self.prediction] if self.prediction else [])):
            if c.column == name:
                return c
        raise KeyError(f"no column {name!r} in this report")

    def summary(self) -> str:
        n = len(self.columns)
        verdict = "DATASET DRIFT" if self.dataset_drift else "no dataset drift"
        text = (f"{verdict}: {sum(c.drifted for c in self.columns)} of {n} column"
                f"{'s' if n != 1 else ''} drifted ({self.share:.0%}; the threshold is "
                f"{self.share_threshold:.0%})")
        if self.drifted:
            shown = ", ".join(self.drifted[:5]) + (", …" if len(self.drifted) > 5 else "")
            text += f": {shown}"
        if self.prediction is not None:
            text += f" · prediction {'drifted' if self.prediction.drifted else 'stable'} " \
                    f"({self.prediction.result})"
        return text

    def table(self) -> pd.DataFrame:
        """One row per column (the prediction last), most drifted first."""
        import pandas as pd

        ordered = sorted(self.columns, key=lambda c: (not c.drifted, -c.severity, c.column))
        if self.prediction is not None:
            ordered.append(self.prediction)
        rows = [{"column": c.column, "kind": c.kind, "test": c.test,
                 "statistic": c.statistic, "p_value": c.p_value, "threshold": c.threshold,
                 "drifted": c.drifted, "missing_ref": c.reference_missing,
                 "missing_cur": c.current_missing, "missing_change": c.missing_change,
                 "unseen": c.unseen_count, "note": c.note} for c in ordered]
        return pd.DataFrame(rows, columns=["column", "kind", "test", "statistic", "p_value",
                                           "threshold", "drifted", "missing_ref",
                                           "missing_cur", "missing_change", "unseen", "note"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the verdict and each column (with its histogram shares)."""
        def column(c: ColumnDrift) -> dict[str, Any]:
            out = asdict(c)
            out["unseen"] = list(c.unseen)
            out["shape"] = _jsonable(dict(c.shape))
            return {k: _jsonable(v) for k, v in out.items()}

        return {"reference": self.reference, "current": self.current,
                "reference_rows": self.reference_rows, "current_rows": self.current_rows,
                "share": self.share, "share_threshold": self.share_threshold,
                "dataset_drift": self.dataset_drift, "drifted": self.drifted,
                "prediction_drift": self.prediction_drift, "model": self.model,
                "deployment": self.deployment, "run_id": self.run_id,
                "seconds": self.seconds, "columns": [column(c) for c in self.columns],
                "prediction": None if self.prediction is None else column(self.prediction)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, indent=1)

    def figure(self, top: int = 6) -> bytes:
        """PNG of the ``top`` most drifted columns (and the prediction): the two
        distributions overlaid. Empty bytes when there is nothing to draw."""
        from nbmlops.monitoring.plots import drift_figure

        if top not in self._figures:
            self._figures[top] = drift_figure(self._plotted(top))
        return self._figures[top]

    def _plotted(self, top: int) -> list[ColumnDrift]:
        ranked = sorted((c for c in self.columns if c.shape),
                        key=lambda c: (-c.severity, c.column))[:top]
        if self.prediction is not None and self.prediction.shape:
            ranked.append(self.prediction)
        return ranked

    @property
    def verdict(self) -> str:
        """``drift`` when the dataset or the prediction drifted, ``some`` when columns did
        but fewer than the share, ``none`` when nothing did."""
        if self.dataset_drift or self.prediction_drift:
            return "drift"
        return "some" if self.drifted else "none"

    @property
    def colour(self) -> str:
        """The headline's colour, from the verdict: red, amber, green."""
        return {"drift": "#cf222e", "some": "#9a6700", "none": "#1a7f37"}[self.verdict]

    def to_html(self, *, top: int = 6, figure: bool = True) -> str:
        """A self-contained HTML fragment: the verdict, the table with drifted columns
        highlighted, and the figure (small: one PNG, whatever the number of columns)."""
        esc = html.escape
        colour = self.colour
        parts = ['<div class="nbmlops-drift" style="font-size:13px;line-height:1.45">',
                 f'<div class="nbmlops-drift-verdict" data-verdict="{self.verdict}" '
                 f'style="font-weight:600;color:{colour}">{esc(self.summary())}</div>',
                 f'<div style="color:#57606a">reference: {esc(self.reference)} · current: '
                 f'{esc(self.current)} · {self.seconds:.2f} s'
                 + (f" · run {esc(self.run_id[:8])}" if self.run_id else "") + "</div>",
                 '<table style="border-collapse:collapse;margin-top:.4em">',
                 "<tr>" + "".join(f'<th style="text-align:left;padding:1px 8px">{h}</th>'
                                  for h in ("column", "test", "statistic", "p-value",
                                            "threshold", "drifted", "missing Δ", "unseen",
                                            "note")) + "</tr>"]
        for row in self.table().itertuples():
            style = ' style="background:#ffebe9"' if row.drifted else ""
            cells = (row.column, row.test, _fmt(row.statistic), _fmt(row.p_value),
                     _fmt(row.threshold), "yes" if row.drifted else "no",
                     _fmt_signed(row.missing_change), str(row.unseen or ""), row.note)
            parts.append(f"<tr{style}>" + "".join(
                f'<td style="padding:1px 8px">{esc(str(v))}</td>' for v in cells) + "</tr>")
        parts.append("</table>")
        if figure:
            png = self.figure(top)
            if png:
                data = base64.b64encode(png).decode("ascii")
                parts.append(f'<div><img alt="distributions of the most drifted columns" '
                             f'src="data:image/png;base64,{data}" style="max-width:100%">'
                             "</div>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"<DriftReport {self.summary()}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def text(self) -> str:
        """The verdict and the ten most drifted columns, as plain text."""
        lines = [self.summary(), f"  reference: {self.reference}",
                 f"  current:   {self.current}"]
        for c in sorted(self.columns, key=lambda c: (not c.drifted, -c.severity))[:10]:
            mark = "✗" if c.drifted else "✓"
            bound = "p <" if c.test in P_VALUE_TESTS else ">"
            lines.append(f"  {mark} {c.column}: {c.result} (drifted when {bound} "
                         f"{_fmt(c.threshold)})" + (f" {c.note}" if c.note else ""))
        if len(self.columns) > 10:
            lines.append(f"  … {len(self.columns) - 10} more (report.table())")
        return "\n".join(lines)


# -- computing ------------------------------------------------------------------------

def check(reference: pd.DataFrame, current: pd.DataFrame, *,
          columns: Sequence[str] | None = None,
          tests: str | Mapping[str, str] | None = None,
          threshold: float | Mapping[str, float] | None = None,
          share: float = DEFAULT_SHARE, prediction: str | None = None,
          reference_label: str = "reference", current_label: str = "current",
          model: str | None = None, deployment: str | None = None,
          familywise: float | None = None) -> DriftReport:
    """Test each column of ``current`` against ``reference`` (see the module).

    ``familywise``: a significance for the columns together (a monitor's, so that a window
    with no drift raises a false alarm at most that often, however many columns): each
    column tested with a p-value whose threshold was not given gets ``familywise / m``,
    ``m`` the number of such columns (Bonferroni); the prediction keeps ``familywise``."""
    import pandas as pd

    started = time.perf_counter()
    for what, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"the {what} must be a DataFrame, not a {type(frame).__name__}")
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], the share of drifted columns that "
                         f"makes the dataset drifted (got {share})")
    if len(reference) == 0:
        raise ValueError("the reference has no rows; drift needs data to compare with")
    if len(current) == 0:
        raise ValueError("the current data has no rows; nothing to compare (check the "
                         "window or the file)")
    ref_names = _names(reference, "reference")
    cur_names = _names(current, "current")
    if prediction is None and PREDICTION in ref_names and PREDICTION in cur_names:
        prediction = PREDICTION
    if columns is None:
        wanted = [c for c in ref_names if c != prediction]
        lacking = [c for c in wanted if c not in cur_names]
        if lacking:
            raise ValueError(
                f"the current data lacks column(s) {', '.join(map(repr, lacking))} that the "
                f"reference has; pass columns=[...] to compare the ones both have")
    else:
        wanted = [str(c) for c in columns]
        for what, names in (("reference", ref_names), ("current data", cur_names)):
            lacking = [c for c in wanted if c not in names]
            if lacking:
                raise ValueError(f"the {what} lacks column(s) {', '.join(map(repr, lacking))}"
                                 f"; it has {', '.join(list(names)[:20])}")
    if prediction is not None:
        for what, names in (("reference", ref_names), ("current data", cur_names)):
            if prediction not in names:
                raise ValueError(f"the {what} has no prediction column {prediction!r}")
    every = [*wanted, *([prediction] if prediction is not None else [])]
    plan = {name: _plan(name, reference[ref_names[name]], current[cur_names[name]], tests,
                        threshold) for name in every}
    if familywise is not None:
        if not 0.0 < familywise < 1.0:
            raise ValueError(f"familywise must be a significance in (0, 1) (got {familywise})")

        def given(name: str) -> bool:
            return threshold is not None and (not isinstance(threshold, Mapping)
                                              or name in threshold)

        corrected = [n for n in wanted if plan[n][2] in P_VALUE_TESTS and not given(n)]
        for name in corrected:
            plan[name] = (*plan[name][:3], familywise / len(corrected))
        if prediction is not None and plan[prediction][2] in P_VALUE_TESTS \
                and not given(prediction):
            plan[prediction] = (*plan[prediction][:3], familywise)
    mismatched = [f"{name!r} is {plan[name][0]} in the reference and {plan[name][1]} in "
                  "the current data" for name in every if plan[name][0] != plan[name][1]]
    if mismatched:
        raise ValueError("column types differ: " + "; ".join(mismatched[:10])
                         + " (convert them, or leave them out with columns=[...])")

    def one(name: str) -> ColumnDrift:
        kind, _, test, limit = plan[name]
        return _column(name, kind, test, limit, reference[ref_names[name]],
                       current[cur_names[name]])

    workers = min(len(every), os.cpu_count() or 1, 8)
    if workers > 1 and len(reference) + len(current) > 20_000:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbmlops-drift") as ex:
            results = list(ex.map(one, every))
    else:
        results = [one(name) for name in every]
    by_name = dict(zip(every, results, strict=True))
    return DriftReport(
        columns=tuple(by_name[n] for n in wanted), share_threshold=share,
        reference=reference_label, current=current_label, reference_rows=len(reference),
        current_rows=len(current),
        prediction=by_name[prediction] if prediction is not None else None,
        seconds=time.perf_counter() - started, model=model, deployment=deployment)


def _names(frame: pd.DataFrame, what: str) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for label in frame.columns:
        name = str(label)
        if name in names:
            raise ValueError(f"column {name!r} appears twice in the {what}; keep one")
        names[name] = label
    return names


def kind_of(series: pd.Series) -> Kind:
    """``numeric`` (numbers, datetimes, durations; not bools) or ``categorical``."""
    import pandas as pd

    types = pd.api.types
    dtype = series.dtype
    if types.is_bool_dtype(dtype):
        return "categorical"
    if types.is_datetime64_any_dtype(dtype) or types.is_timedelta64_dtype(dtype):
        return "numeric"
    if types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype):
        return "numeric"
    return "categorical"


def _plan(name: str, ref: pd.Series, cur: pd.Series,
          tests: str | Mapping[str, str] | None,
          threshold: float | Mapping[str, float] | None) -> tuple[str, str, str, float]:
    ref_kind, cur_kind = kind_of(ref), kind_of(cur)
    if ref_kind != cur_kind and (ref.isna().all() or cur.isna().all()):
        cur_kind = ref_kind = ref_kind if cur.isna().all() else cur_kind  # no values: no type
    kind = ref_kind
    chosen = tests.get(name) if isinstance(tests, Mapping) else tests
    if chosen is None:
        n_ref = int(ref.notna().sum())
        chosen = ("ks" if n_ref <= SMALL else "wasserstein") if kind == "numeric" else (
            "chi2" if n_ref <= SMALL else "jensenshannon")
    if chosen not in TESTS:
        raise ValueError(f"unknown test {chosen!r} for column {name!r}; use one of "
                         f"{', '.join(TESTS)}")
    if kind not in TESTS[chosen]:
        allowed = ", ".join(t for t, kinds in TESTS.items() if kind in kinds)
        raise ValueError(f"the {chosen} test does not apply to {kind} column {name!r}; use "
                         f"one of {allowed}")
    limit = threshold.get(name) if isinstance(threshold, Mapping) else threshold
    limit = THRESHOLDS[chosen] if limit is None else float(limit)
    if not limit >= 0 or math.isinf(limit):
        raise ValueError(f"the threshold for {name!r} must be a finite number >= 0 "
                         f"(got {limit})")
    return ref_kind, cur_kind, chosen, limit


def _missing_rate(missing: int, rows: int) -> float | None:
    return missing / rows if rows else None


def _numbers(series: pd.Series) -> npt.NDArray[np.float64]:
    """The finite values as float64, sorted (datetimes as nanoseconds). One sorted copy:
    NaN sorts last and the infinities to the ends, so the finite ones are a slice of it."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        present = series.dropna()
        if getattr(dtype, "tz", None) is not None:  # instants: compare in UTC
            present = present.dt.tz_convert("UTC").dt.tz_localize(None)
        # one unit for both sides (parquet gives ns, CSV parsing us): nanoseconds
        present = present.dt.as_unit("ns")
        values = present.to_numpy().view("int64").astype(np.float64) if len(present) else \
            np.empty(0)
        values.sort()
    else:
        values = np.sort(series.to_numpy(dtype=np.float64, na_value=np.nan))
    lo = int(np.searchsorted(values, -np.inf, side="right"))
    hi = int(np.searchsorted(values, np.inf, side="left"))
    return values[lo:hi]


def _column(name: str, kind: str, test: str, limit: float, ref: pd.Series, cur: pd.Series
            ) -> ColumnDrift:
    if kind == "numeric":
        a, b = _numbers(ref), _numbers(cur)
        base: dict[str, Any] = {"reference_count": len(a), "current_count": len(b),
                "reference_missing": _missing_rate(len(ref) - len(a), len(ref)),
                "current_missing": _missing_rate(len(cur) - len(b), len(cur))}
        empty = _empty_side(len(a), len(b))
        if empty is not None:
            drifted, note = empty
            return ColumnDrift(name, "numeric", test, None, None, limit, drifted, note=note,
                               **base)
        statistic, p_value = _numeric_test(test, a, b)
        return ColumnDrift(name, "numeric", test, statistic, p_value, limit,
                           _past(test, statistic, p_value, limit), shape=_numeric_shape(a, b),
                           note=_constant_note(a, b), **base)
    categories, ref_counts, cur_counts = stats.category_counts(ref, cur)
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    base = {"reference_count": n_ref, "current_count": n_cur,
            "reference_missing": _missing_rate(len(ref) - n_ref, len(ref)),
            "current_missing": _missing_rate(len(cur) - n_cur, len(cur))}
    unseen_mask = ref_counts == 0
    unseen = [str(c) for c, u in zip(categories, unseen_mask, strict=True) if u]
    unseen_values = int(cur_counts[unseen_mask].sum())
    extra: dict[str, Any] = {"unseen": tuple(unseen[:_UNSEEN_SHOWN]), "unseen_count": len(unseen),
             "unseen_share": unseen_values / n_cur if n_cur else 0.0}
    empty = _empty_side(n_ref, n_cur)
    if empty is not None:
        drifted, note = empty
        return ColumnDrift(name, "categorical", test, None, None, limit, drifted, note=note,
                           **base, **extra)
    if test == "chi2":
        statistic, p_value, _ = stats.chi_square(ref_counts, cur_counts)
        result: tuple[float, float | None] = (statistic, p_value)
    elif test == "psi":
        result = (stats.psi(ref_counts, cur_counts), None)
    else:
        result = (stats.jensen_shannon(ref_counts, cur_counts), None)
    note = f"{len(unseen)} unseen categor{'y' if len(unseen) == 1 else 'ies'}" if unseen else ""
    return ColumnDrift(name, "categorical", test, result[0], result[1], limit,
                       _past(test, result[0], result[1], limit), note=note,
                       shape=_categorical_shape(categories, ref_counts, cur_counts),
                       **base, **extra)


def _empty_side(n_ref: int, n_cur: int) -> tuple[bool, str] | None:
    if n_ref and n_cur:
        return None
    if not n_ref and not n_cur:
        return False, "no values in either"
    if not n_cur:
        return True, "no values in the current data"
    return True, "no values in the reference"


def _constant_note(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> str:
    if a[0] == a[-1]:
        return "constant in the reference" + (" and the current data" if b[0] == b[-1] else "")
    return ""


def _numeric_test(test: str, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
                  ) -> tuple[float, float | None]:
    if test == "ks":
        return stats.ks_2samp(a, b)
    if test == "wasserstein":
        return stats.wasserstein_normalised(a, b), None
    edges = stats.numeric_bins(a)
    ref_counts, cur_counts = stats.bin_counts(a, edges), stats.bin_counts(b, edges)
    if test == "psi":
        return stats.psi(ref_counts, cur_counts), None
    return stats.jensen_shannon(ref_counts, cur_counts), None


def _past(test: str, statistic: float | None, p_value: float | None, limit: float) -> bool:
    if test in P_VALUE_TESTS:
        return p_value is not None and p_value < limit
    return statistic is not None and (statistic > limit or math.isnan(statistic))


def _numeric_shape(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
                   ) -> dict[str, Any]:
    """Histogram shares of both sides over one range: the 1st to 99th percentiles of
    both (the tails fall in the end bins), so outliers do not flatten the picture."""
    lo = min(a[int(0.01 * (len(a) - 1))], b[int(0.01 * (len(b) - 1))])
    hi = max(a[int(0.99 * (len(a) - 1))], b[int(0.99 * (len(b) - 1))])
    if not hi > lo:
        lo, hi = min(a[0], b[0]), max(a[-1], b[-1])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, _PLOT_BINS + 1)
    inner = edges[1:-1]

    def shares(values: npt.NDArray[np.float64]) -> list[float]:
        cuts = np.searchsorted(values, inner, side="left")
        counts = np.diff(np.concatenate(([0], cuts, [len(values)])))
        return [float(x) for x in counts / len(values)]

    return {"edges": edges.tolist(), "reference": shares(a), "current": shares(b)}


def _categorical_shape(categories: Sequence[Any], ref_counts: npt.NDArray[np.int64],
                       cur_counts: npt.NDArray[np.int64]) -> dict[str, Any]:
    total_ref, total_cur = max(int(ref_counts.sum()), 1), max(int(cur_counts.sum()), 1)
    order = np.argsort(-(ref_counts / total_ref + cur_counts / total_cur), kind="stable")
    top = order[:_TOP_CATEGORIES]
    shown = [str(categories[i]) for i in top]
    ref_share = [float(ref_counts[i] / total_ref) for i in top]
    cur_share = [float(cur_counts[i] / total_cur) for i in top]
    if len(order) > _TOP_CATEGORIES:
        shown.append("(other)")
        ref_share.append(max(0.0, 1.0 - sum(ref_share)))
        cur_share.append(max(0.0, 1.0 - sum(cur_share)))
    return {"categories": shown, "reference": ref_share, "current": cur_share}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def _fmt_signed(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == 0:
        return ""
    return f"{value:+.1%}"


__all__ = ["PREDICTION", "TESTS", "THRESHOLDS", "ColumnDrift", "DriftReport",
           "check", "kind_of"]
