"""The serving pieces without a server: request payloads, the prediction log, options."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from nbmlops.errors import SignatureError
from nbmlops.registry.signature import enforce, infer
from nbmlops.serving import predlog
from nbmlops.serving.model import PayloadError, ServedModel

RNG = np.random.default_rng(0)
X = pd.DataFrame({"tenure": RNG.integers(1, 72, 200), "spend": RNG.gamma(4.0, 20.0, 200)})
Y = (X.tenure < 20).astype(int)
MODEL = LogisticRegression(max_iter=500).fit(X, Y)
SERVED = ServedModel(name="churn", version=3, model=MODEL, signature=infer(MODEL, X),
                     sha256="0" * 64)
ROWS = X.head(3)


@pytest.mark.parametrize("payload", [
    ROWS.to_dict(orient="records"),
    {"records": ROWS.to_dict(orient="records")},
    {"dataframe_records": ROWS.to_dict(orient="records")},
    {"instances": ROWS.to_dict(orient="records")},
    ROWS.to_dict(orient="list"),
    {"inputs": ROWS.to_dict(orient="list")},
    {"columns": ["tenure", "spend"], "data": ROWS.to_numpy().tolist()},
    {"dataframe_split": {"columns": ["spend", "tenure"],
                         "data": ROWS[["spend", "tenure"]].to_numpy().tolist()}},
    ROWS.to_numpy().tolist(),  # rows in the signature's order
])
def test_every_payload_shape_gives_the_same_input(payload: object) -> None:
    frame = SERVED.frame(payload)
    assert list(frame.columns) == ["tenure", "spend"]
    assert SERVED.predict(frame) == MODEL.predict(ROWS).tolist()


def test_one_record_and_extra_columns() -> None:
    record = {"tenure": 3, "spend": 20.5, "customer_id": "c-1"}  # an extra column is dropped
    assert SERVED.predict(SERVED.frame(record)) == MODEL.predict(
        pd.DataFrame([record])[["tenure", "spend"]]).tolist()
    probabilities = SERVED.predict_proba(SERVED.frame(record))
    np.testing.assert_allclose(probabilities, MODEL.predict_proba(
        pd.DataFrame([record])[["tenure", "spend"]]))
    assert SERVED.classes == [0, 1]
    assert SERVED.predict(SERVED.frame([])) == []


FLOATS = ServedModel(name="churn", version=3, model=MODEL, sha256="0" * 64,
                     signature=infer(MODEL, X.astype(float)))


@pytest.mark.parametrize("rows", [
    [[3, 20.5], [12.0, 7]],                      # numbers: the float array fast path
    [[3, None], [12.0, 7]],                      # a missing value: pandas' own way
    [[True, 20.5], [12.0, 7]],                   # a bool is not a number here
    [[2**53 + 1, 20.5]],                         # an int a float64 cannot hold exactly
    [["3", 20.5]],                               # text is never a number
])
def test_rows_of_a_float_model_convert_as_the_signature_says(rows: list[list[object]]
                                                             ) -> None:
    generic = pd.DataFrame(rows, columns=["tenure", "spend"])
    assert FLOATS.signature is not None
    try:
        expected = enforce(FLOATS.signature, generic)  # what it makes of pandas' frame
    except SignatureError:
        with pytest.raises(SignatureError, match="tenure"):
            FLOATS.frame({"columns": ["tenure", "spend"], "data": rows})
        return
    got = FLOATS.frame({"columns": ["tenure", "spend"], "data": rows})
    pd.testing.assert_frame_equal(got, expected)
    assert [str(t) for t in got.dtypes] == ["float64", "float64"]


@pytest.mark.parametrize(("payload", "error", "message"), [
    ([{"tenure": 3}], SignatureError, "input lacks column(s) 'spend'"),
    ([{"tenure": "three", "spend": 1.0}], SignatureError, "tenure"),
    ([{"tenure": 3.5, "spend": 1.0}], SignatureError, "tenure"),  # not a whole number
    ({"tenure": [1, 2], "spend": 3.0}, PayloadError, "column 'spend' is not"),
    ({"tenure": [1, 2], "spend": [3.0]}, PayloadError, "same length"),
    ({}, PayloadError, "empty object"),
    ("text", PayloadError, "JSON str"),
    ([1, 2], PayloadError, "records (objects) or rows (lists)"),
    ([[1, 2, 3]], SignatureError, "row 0 has 3 values; the model reads 2"),
    ({"columns": ["tenure"], "data": [[1, 2]]}, PayloadError, "list of 1 values"),
])
def test_bad_payloads_say_what_is_wrong(payload: object, error: type[Exception],
                                        message: str) -> None:
    with pytest.raises(error, match=None) as caught:
        SERVED.frame(payload)
    assert message in str(caught.value)


def test_nan_predictions_become_null_and_the_output_column_avoids_inputs() -> None:
    from nbmlops.serving.model import _plain_list

    assert _plain_list(np.array([1.5, np.nan, np.inf])) == [1.5, None, None]
    assert _plain_list(np.array(["a", "b"])) == ["a", "b"]
    assert _plain_list(np.array([[1.0, np.nan]])) == [[1.0, None]]
    clash = ServedModel(name="m", version=1, model=MODEL, sha256="0" * 64,
                        signature=infer(MODEL, X).__class__(inputs=(("prediction", "float64"),)))
    assert clash.output_column == "_prediction"
    assert SERVED.output_column == "prediction"


# -- the prediction log ---------------------------------------------------------------------

def test_the_log_keeps_inputs_outputs_and_request_ids(tmp_path: Path) -> None:
    log = predlog.PredictionLog(tmp_path, dtypes={"tenure": "int64", "spend": "float64"})
    log.start()
    log.add(SERVED.frame(ROWS.to_dict(orient="records")), {"prediction": [0, 1, 0]},
            version=3, request="r1")
    log.add(SERVED.frame([{"tenure": 9, "spend": 1.0}]), {"proba_0": [0.25], "proba_1": [0.75]},
            version=4, request="r2")
    log.close()
    frame = predlog.read(tmp_path)
    assert list(frame["_request"]) == ["r1", "r1", "r1", "r2"]
    assert list(frame["_id"]) == ["r1-0", "r1-1", "r1-2", "r2-0"]  # each row its own id
    assert list(frame["_version"]) == [3, 3, 3, 4]
    assert frame["tenure"].tolist() == [*ROWS.tenure.tolist(), 9]
    assert frame["tenure"].dtype == "int64"
    assert frame["prediction"].tolist()[:3] == [0, 1, 0]
    assert pd.isna(frame["prediction"].iloc[3])
    assert frame["proba_1"].iloc[3] == 0.75
    assert str(frame["_time"].dtype).startswith("datetime64")
    assert not list(tmp_path.glob(".*.tmp"))  # written under a temporary name, then renamed


def test_the_log_is_bounded_and_sampled(tmp_path: Path) -> None:
    log = predlog.PredictionLog(tmp_path, max_rows=250)
    frame = SERVED.frame(X.head(100).to_dict(orient="records"))
    for i in range(6):
        log.add(frame, {"prediction": [0] * 100}, version=1, request=f"r{i}")
        log.flush()
    parts = sorted(tmp_path.glob(predlog.PART_GLOB))
    assert sum(pq.read_metadata(p).num_rows for p in parts) <= 250
    assert list(predlog.read(tmp_path)["_request"].unique()) == ["r4", "r5"]  # the newest
    never = predlog.PredictionLog(tmp_path / "none", sample=0.0)
    assert not any(never.wants() for _ in range(1000))
    half = predlog.PredictionLog(tmp_path / "half", sample=0.5)
    kept = sum(half.wants() for _ in range(4000))
    assert 1700 < kept < 2300
    with pytest.raises(ValueError, match="between 0 and 1"):
        predlog.PredictionLog(tmp_path, sample=1.5)


def test_a_log_that_cannot_be_written_drops_beyond_its_bound(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    errors: list[str] = []
    dropped: list[int] = []
    log = predlog.PredictionLog(blocker / "log", max_buffered=150, on_error=errors.append,
                                on_drop=dropped.append)
    frame = SERVED.frame(X.head(100).to_dict(orient="records"))
    log.add(frame, {"prediction": [0] * 100}, version=1, request="a")
    log.flush()  # fails: kept in memory
    assert errors
    assert "could not write the prediction log" in errors[0]
    log.add(frame, {"prediction": [0] * 100}, version=1, request="b")  # over the bound
    assert dropped == [100]
    assert log.dropped == 100


def test_windows() -> None:
    now = time.time()
    assert predlog.window_start("24h", now) == datetime.fromtimestamp(now - 86400, tz=UTC)
    assert predlog.window_start(timedelta(minutes=5), now) == datetime.fromtimestamp(
        now - 300, tz=UTC)
    assert predlog.window_start(None) is None
    with pytest.raises(ValueError, match="30m, 24h or 7d"):
        predlog.window_start("yesterday")


def test_a_missing_server_library_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from nbmlops.errors import MissingExtraError
    from nbmlops.serving.server import require_serving

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r'pip install "nbmlops\[serve\]"'):
        require_serving()
