"""Batch scoring a file with a registered model: pandas and dask engines, recorded as a run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

import nbmlops
from nbmlops.errors import SignatureError
from nbmlops.progress import TextProgress
from nbmlops.tracking.fingerprint import fingerprint_file

X_all, y_all = make_classification(2500, 4, n_informative=3, n_redundant=0, random_state=1)
FRAME = pd.DataFrame(X_all, columns=["tenure", "spend", "calls", "age"])
MODEL = LogisticRegression(max_iter=500).fit(FRAME.iloc[:500], y_all[:500])


@pytest.fixture
def registered(store_env: Path) -> Path:
    nbmlops.register(MODEL, name="churn", data=FRAME.iloc[:500], alias="production")
    return store_env


def customers(tmp_path: Path) -> pd.DataFrame:
    """The rows to score, with an id column the model does not read, in another order."""
    frame = FRAME.iloc[500:][["age", "calls", "spend", "tenure"]].copy()
    frame.insert(0, "customer", [f"c{i}" for i in range(len(frame))])
    return frame.reset_index(drop=True)


def test_parquet_in_chunks_equals_predict_and_is_a_run(registered: Path, tmp_path: Path
                                                        ) -> None:
    rows = customers(tmp_path)
    source, dest = tmp_path / "customers.parquet", tmp_path / "scores.parquet"
    rows.to_parquet(source, row_group_size=300)
    shown = io.StringIO()
    progress = TextProgress(shown, every_s=0)
    from nbmlops import api

    result = nbmlops.score_batch("churn@production", source, dest, chunk_size=700,
                                 progress=False)
    assert (result.rows, result.version, result.dest) == (2000, 1, dest)
    out = pd.read_parquet(dest)
    assert list(out.columns) == [*rows.columns, "prediction"]
    pd.testing.assert_frame_equal(out[rows.columns], rows)
    np.testing.assert_array_equal(out["prediction"], MODEL.predict(rows[FRAME.columns]))
    assert "scored 2,000 rows of customers.parquet with churn/1" in str(result)

    run = nbmlops.get_run(result.run_id)
    assert (run.kind, run.status, run.experiment) == ("deploy", "finished", "batch")
    assert (run.params["model"], run.params["version"], run.params["engine"]) == (
        "churn", 1, "pandas")
    assert run.metrics["rows"] == 2000
    (inp,) = run.inputs
    (outp,) = run.outputs
    assert inp.dataset.content_hash == fingerprint_file(source).content_hash
    assert outp.dataset.content_hash == fingerprint_file(dest).content_hash
    assert outp.dataset.source == str(dest.resolve())

    # probabilities, with the progress reported in rows as it goes
    from nbmlops.serving import batch

    probs = tmp_path / "probs.parquet"
    batch.score(api.workspace(), "churn/1", source, probs, chunk_size=700, proba=True,
                progress=progress)
    out = pd.read_parquet(probs)
    assert [c for c in out.columns if c.startswith("proba_")] == ["proba_0", "proba_1"]
    np.testing.assert_allclose(out[["proba_0", "proba_1"]].to_numpy(),
                               MODEL.predict_proba(rows[FRAME.columns]))
    lines = shown.getvalue().splitlines()
    assert lines[0].startswith("scoring customers.parquet with churn/1: 0/2,000 rows")
    assert any(line.startswith("scoring customers.parquet with churn/1: 700/2,000 rows")
               for line in lines)
    assert lines[-1].startswith("scoring customers.parquet with churn/1: 2,000/2,000 rows")


def test_csv_to_csv(registered: Path, tmp_path: Path) -> None:
    rows = customers(tmp_path)
    source, dest = tmp_path / "customers.csv", tmp_path / "scores.csv"
    rows.to_csv(source, index=False)
    shown = io.StringIO()
    from nbmlops import api
    from nbmlops.serving import batch

    result = batch.score(api.workspace(), "churn", source, dest, chunk_size=450,
                         progress=TextProgress(shown, every_s=0))
    out = pd.read_csv(dest)
    assert len(out) == result.rows == 2000
    np.testing.assert_array_equal(out["prediction"], MODEL.predict(rows[FRAME.columns]))
    assert out["customer"].tolist() == rows["customer"].tolist()
    # a CSV's row count is not known ahead: the last line gives it
    assert shown.getvalue().splitlines()[-1].startswith(
        "scoring customers.csv with churn/1: 2,000/2,000 rows")


def test_dask_engine_writes_part_files(registered: Path, tmp_path: Path) -> None:
    pytest.importorskip("dask.dataframe")
    rows = customers(tmp_path)
    folder = tmp_path / "customers"
    folder.mkdir()
    for i in range(4):
        rows.iloc[i * 500:(i + 1) * 500].to_parquet(folder / f"part.{i}.parquet")
    source = tmp_path / "customers.parquet"
    folder.rename(source)  # a folder of part files, as dask and Spark write them
    dest = tmp_path / "scores.parquet"
    result = nbmlops.score_batch("churn@production", source, dest, engine="dask",
                                 progress=False)
    assert dest.is_dir()
    assert len(list(dest.glob("*.parquet"))) >= 2
    out = pd.read_parquet(dest)
    assert result.rows == len(out) == 2000
    out = out.sort_values("customer", key=lambda s: s.str[1:].astype(int)).reset_index(drop=True)
    np.testing.assert_array_equal(out["prediction"], MODEL.predict(rows[FRAME.columns]))
    run = nbmlops.get_run(result.run_id)
    assert run.params["engine"] == "dask"
    assert run.outputs[0].dataset.schema == (("format", "parquet"),
                                             ("files", str(len(list(dest.iterdir())))))
    # and CSV in, one CSV file out
    csv_in, csv_out = tmp_path / "c.csv", tmp_path / "c-scores.csv"
    rows.to_csv(csv_in, index=False)
    nbmlops.score_batch("churn", csv_in, csv_out, engine="dask", progress=False)
    scored = pd.read_csv(csv_out)
    np.testing.assert_array_equal(scored["prediction"], MODEL.predict(rows[FRAME.columns]))


def test_a_bad_input_fails_the_run_and_leaves_no_output(registered: Path, tmp_path: Path
                                                         ) -> None:
    rows = customers(tmp_path).drop(columns=["calls"])
    source, dest = tmp_path / "customers.parquet", tmp_path / "scores.parquet"
    rows.to_parquet(source)
    dest.write_bytes(b"the previous scores")
    with pytest.raises(SignatureError, match="calls"):
        nbmlops.score_batch("churn@production", source, dest, progress=False)
    assert dest.read_bytes() == b"the previous scores"  # not clobbered
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # nothing half-written
    failed = nbmlops.runs(experiment="batch")
    assert failed["status"].tolist() == ["failed"]


@pytest.mark.parametrize(("source", "dest", "message"), [
    ("missing.parquet", "out.parquet", "no input file"),
    ("in.json", "out.parquet", "neither .parquet nor .csv"),
    ("in.parquet", "out.xlsx", "neither .parquet nor .csv"),
    ("in.parquet", "in.parquet", "is the input"),
    ("in.parquet", "nowhere/out.parquet", "does not exist"),
])
def test_paths_are_checked_before_anything_runs(registered: Path, tmp_path: Path, source: str,
                                                dest: str, message: str) -> None:
    for name in ("in.parquet", "in.json"):
        customers(tmp_path).to_parquet(tmp_path / name)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        nbmlops.score_batch("churn", tmp_path / source, tmp_path / dest, progress=False)
    assert nbmlops.runs(experiment="batch").empty
