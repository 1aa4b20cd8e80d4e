"""``nbmlops.drift``: column tests chosen and overridden, edge cases, the verdict, records,
a registered model's sample as the reference, ``%drift`` and ``nbmlops drift``."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import LogisticRegression

import nbmlops
from nbmlops.errors import DriftDetected
from tests.shell import one_line_error, run
from tests.test_cli import NBMLOPS

RNG = np.random.default_rng(11)


def frames(n_ref: int, n_cur: int, shift: float = 0.0, seed: int = 0
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def make(n: int, moved: float) -> pd.DataFrame:
        return pd.DataFrame({
            "age": rng.normal(40 + 10 * moved, 10, n),
            "spend": rng.gamma(2.0, 30.0, n),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
        })

    return make(n_ref, 0.0), make(n_cur, shift)


def test_a_shifted_column_drifts_and_the_others_do_not() -> None:
    ref, cur = frames(5000, 4000, shift=0.5)
    report = nbmlops.drift(ref, cur, record=False)
    assert report.drifted == ["age"]
    assert [c.test for c in report.columns] == ["wasserstein", "wasserstein", "jensenshannon"]
    assert report.column("age").statistic > 0.4
    assert report.share == pytest.approx(1 / 3)
    assert report.dataset_drift is False
    assert report.summary().startswith("no dataset drift: 1 of 3 columns drifted (33%")
    table = report.table()
    assert table["column"].tolist()[0] == "age"
    assert table.loc[0, "drifted"]
    # a small reference gets the tests with p-values, agreeing with scipy
    small_ref, small_cur = frames(300, 250, shift=0.5, seed=1)
    small = nbmlops.drift(small_ref, small_cur, record=False)
    assert [c.test for c in small.columns] == ["ks", "ks", "chi2"]
    expected = sps.ks_2samp(small_ref["age"], small_cur["age"])
    assert small.column("age").statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert small.column("age").p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)
    table2 = pd.crosstab(pd.concat([small_ref.plan, small_cur.plan]),
                         np.r_[np.zeros(300), np.ones(250)]).to_numpy().T
    chi = sps.chi2_contingency(table2)
    assert small.column("plan").p_value == pytest.approx(chi.pvalue, rel=1e-9)
    assert small.drifted == ["age"]


def test_tests_and_thresholds_are_overridden() -> None:
    ref, cur = frames(3000, 3000, shift=0.1, seed=2)
    every = nbmlops.drift(ref, cur, tests="psi", record=False)
    assert {c.test for c in every.columns} == {"psi"}
    assert {c.threshold for c in every.columns} == {0.2}
    one = nbmlops.drift(ref, cur, tests={"age": "ks"}, threshold={"age": 1e-300},
                        record=False)
    assert [c.test for c in one.columns] == ["ks", "wasserstein", "jensenshannon"]
    assert one.column("age").threshold == 1e-300
    strict = nbmlops.drift(ref, cur, threshold=0.0, tests="wasserstein", columns=["age"],
                           record=False)
    assert strict.drifted == ["age"]  # any distance at all is past 0
    with pytest.raises(ValueError, match="unknown test 'kl'"):
        nbmlops.drift(ref, cur, tests="kl", record=False)
    with pytest.raises(ValueError, match="the ks test does not apply to categorical column "
                                         "'plan'; use one of psi, jensenshannon, chi2"):
        nbmlops.drift(ref, cur, tests={"plan": "ks"}, record=False)
    with pytest.raises(ValueError, match="share must be in"):
        nbmlops.drift(ref, cur, share=0, record=False)


def test_edge_cases_are_reported_not_crashed() -> None:
    n = 2000
    ref = pd.DataFrame({
        "same_const": np.full(n, 3.0), "moved_const": np.full(n, 3.0),
        "gone": RNG.normal(size=n), "never": np.full(n, np.nan),
        "city": RNG.choice(["a", "b"], n),
        "mixed": pd.Series(RNG.choice([1, "x", 2.5], n), dtype=object),
        "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(RNG.integers(0, 100, n), "D"),
        "flag": RNG.random(n) < 0.5,
    })
    cur = ref.copy()
    cur["moved_const"] = 4.0
    cur["gone"] = np.nan
    cur.loc[:99, "city"] = "z"  # a city the reference never had
    report = nbmlops.drift(ref, cur, record=False)
    c = report.column
    assert (c("same_const").drifted, c("same_const").statistic) == (False, 0.0)
    assert c("same_const").note == "constant in the reference and the current data"
    assert c("moved_const").drifted is True
    assert (c("gone").drifted, c("gone").note) == (True, "no values in the current data")
    assert c("gone").missing_change == pytest.approx(1.0)
    assert (c("never").drifted, c("never").note) == (False, "no values in either")
    assert (c("city").unseen, c("city").unseen_count) == (("z",), 1)
    assert c("city").unseen_share == pytest.approx(100 / n)
    assert c("city").note == "1 unseen category"
    assert c("mixed").kind == "categorical"
    assert not c("mixed").drifted
    assert (c("when").kind, c("flag").kind) == ("numeric", "categorical")
    assert not c("when").drifted
    assert set(report.drifted) == {"moved_const", "gone", "city"}
    json.loads(report.to_json())  # JSON-able, with no NaN

    with pytest.raises(ValueError, match="the current data has no rows"):
        nbmlops.drift(ref, cur.iloc[:0], record=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) 'city', 'flag'"):
        nbmlops.drift(ref, cur.drop(columns=["city", "flag"]), record=False)
    with pytest.raises(ValueError, match="'gone' is numeric in the reference and categorical"):
        nbmlops.drift(ref, cur.assign(gone="text"), record=False)
    subset = nbmlops.drift(ref, cur.drop(columns=["city"]), columns=["gone", "flag"],
                           record=False)
    assert [x.column for x in subset.columns] == ["gone", "flag"]


def test_a_report_is_recorded_and_can_fail_loudly(store_env: Path) -> None:
    ref, cur = frames(4000, 4000, shift=1.0, seed=3)
    report = nbmlops.drift(ref, cur.assign(spend=cur.spend * 3), name="weekly")
    assert report.dataset_drift is True
    recorded = nbmlops.get_run(report.run_id)
    assert (recorded.kind, recorded.status, recorded.experiment, recorded.name) == (
        "drift", "finished", "drift", "weekly")
    assert recorded.tags["dataset_drift"] == "true"
    assert recorded.metrics["drift_share"] == pytest.approx(2 / 3)
    assert recorded.metrics["drift.age"] == pytest.approx(report.column("age").statistic)
    assert sorted(d.name for d in recorded.inputs) == ["current", "reference"]
    assert {a.name for a in recorded.artifacts} == {"drift.json", "drift.html"}
    stored = json.loads(nbmlops.download_artifact(report.run_id, "drift.json").read_text())
    assert stored["drifted"] == report.drifted
    with pytest.raises(DriftDetected, match="drift detected") as caught:
        nbmlops.drift(ref, cur.assign(spend=cur.spend * 3), fail_on_drift=True)
    assert caught.value.report.run_id is not None  # recorded before it raised
    assert len(nbmlops.runs("drift")) == 2
    # nothing recorded, no store opened, with record=False
    before = len(nbmlops.runs("drift"))
    nbmlops.drift(ref, cur, record=False)
    assert len(nbmlops.runs("drift")) == before


def test_a_wide_report_stays_small() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(rng.normal(size=(5000, 150)), columns=[f"c{i}" for i in range(150)])
    cur = pd.DataFrame(rng.normal(size=(5000, 150)), columns=ref.columns)
    cur.iloc[:, :10] += 1.0
    report = nbmlops.drift(ref, cur, record=False)
    assert len(report.drifted) == 10
    page = report.to_html()
    assert len(page) < 400_000
    assert page.count("<img") == 1  # one figure for the most drifted columns
    assert page.count("<tr") == 151


X_all = pd.DataFrame({"tenure": RNG.integers(1, 72, 1500).astype(float),
                      "spend": RNG.gamma(4.0, 20.0, 1500)})
Y_all = ((X_all.tenure < 24) & (X_all.spend > 60)).astype(int)


def test_a_registered_models_training_sample_is_the_reference(store_env: Path) -> None:
    model = LogisticRegression(max_iter=1000).fit(X_all, Y_all)
    nbmlops.register(model, name="churn", data=X_all, alias="production")
    fresh = X_all.sample(600, random_state=1).assign(spend=lambda d: d.spend * 1.5)
    report = nbmlops.drift("churn@production", fresh)
    assert report.reference == "churn/1 training sample (1,000 of 1,500 rows)"
    assert report.model == "churn/1"
    assert report.drifted == ["spend"]
    assert nbmlops.get_run(report.run_id).tags["model"] == "churn/1"
    # the predictions, when the current data has them: the model predicts its sample
    scored = fresh.assign(prediction=model.predict(fresh))
    with_predictions = nbmlops.drift("churn@production", scored)
    assert with_predictions.prediction is not None
    assert with_predictions.prediction.column == "prediction"
    assert "prediction" in with_predictions.summary()
    with pytest.raises(nbmlops.ModelNotFoundError):
        nbmlops.drift("churn@nowhere", fresh)


def test_drift_magic(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    setup = textwrap.dedent("""
        import numpy as np, pandas as pd
        rng = np.random.default_rng(0)
        X_train = pd.DataFrame({"age": rng.normal(40, 10, 3000), "spend": rng.gamma(2, 30, 3000)})
        X_new = X_train.assign(age=X_train.age + 8)
    """)
    assert run(shell, setup).success
    capsys.readouterr()
    result = run(shell, "%drift X_train X_new")
    out = capsys.readouterr().out
    assert result.success, out
    assert "no dataset drift: 1 of 2 columns drifted (50%" not in out  # 50% is the threshold
    assert "DATASET DRIFT: 1 of 2 columns drifted (50%; the threshold is 50%): age" in out
    assert "✗ age: wasserstein" in out
    assert len(nbmlops.runs("drift")) == 1
    failed = run(shell, "%drift X_train X_new --share 0.9 --fail-on-drift")
    assert failed.success  # 1 of 2 is under 90%: no dataset drift
    shown = capsys.readouterr()
    assert "no dataset drift" in shown.out
    result = run(shell, "%drift X_train X_new --fail-on-drift --no-record")
    assert isinstance(result.error_in_exec, DriftDetected)
    assert len(nbmlops.runs("drift")) == 2
    capsys.readouterr()
    assert "is an expression, not a variable" in one_line_error(
        shell, capsys, "%drift X_train X_new[['age']]")
    run(shell, "only_age = X_new[['age']]")
    assert "the current data lacks column(s) 'spend'" in one_line_error(
        shell, capsys, "%drift X_train only_age")
    assert "name the current data" in one_line_error(shell, capsys, "%drift X_train")
    assert "unknown test 'zz'" in one_line_error(shell, capsys,
                                                 "%drift X_train X_new --test zz")


def test_drift_cli_exit_status(store_env: Path, tmp_path: Path) -> None:
    ref, cur = frames(3000, 3000, shift=1.0, seed=4)
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    ref.sample(frac=1.0, random_state=0).to_csv(tmp_path / "same.csv", index=False)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([NBMLOPS, "drift", *args], capture_output=True, text=True,
                              timeout=120)

    drifted = cli(str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"), "--share", "0.3",
                  "--html", str(tmp_path / "drift.html"))
    assert drifted.returncode == 1, drifted.stderr
    assert drifted.stdout.startswith("DATASET DRIFT: 1 of 3 columns drifted (33%")
    assert "recorded as run " in drifted.stdout
    assert (tmp_path / "drift.html").read_text().startswith('<div class="nbmlops-drift"')
    stable = cli(str(tmp_path / "ref.parquet"), str(tmp_path / "same.csv"), "--format",
                 "json", "--no-record")
    assert stable.returncode == 0, stable.stderr
    answer = json.loads(stable.stdout)
    assert (answer["dataset_drift"], answer["drifted"]) == (False, [])
    broken = cli(str(tmp_path / "ref.parquet"), str(tmp_path / "nope.csv"))
    assert broken.returncode == 2
    assert "no file" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_datetimes_compare_as_instants_and_dollars_stay_dollars() -> None:
    when = pd.Series(pd.date_range("2026-01-01", periods=3000, freq="h"))
    ref = pd.DataFrame({"at": when.dt.as_unit("ns"), "span": (when - when[0]).dt.as_unit("s"),
                        "utc": when.dt.tz_localize("UTC"),
                        "price ($)": RNG.normal(size=3000),
                        "band": RNG.choice(["$0_$50", "$50_$100"], 3000)})
    cur = ref.assign(at=ref["at"].dt.as_unit("us"), span=ref["span"].dt.as_unit("ms"),
                     utc=ref["utc"].dt.tz_convert("Europe/Paris"))
    report = nbmlops.drift(ref, cur, record=False)
    assert report.drifted == []  # the same instants, in other units and zones
    assert report.figure()  # `$` in names and values is drawn as text, not math
