"""The lean path for small requests: the same bytes as the full path, over real HTTP.

Two servers of the same version run side by side, one as always and one with the lean
path turned off (``NBMLOPS_SERVE_LEAN=0``); every body goes to both, and the answers (status,
headers, body bytes with the request id put aside), the prediction log and the counters must
be the same. ``ServedModel.lean`` tells which bodies take the lean path, so the comparison
covers both sides of it.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import nbmlops
from nbmlops.registry import infer
from nbmlops.serving.model import LEAN_ROWS, ServedModel
from tests.test_serving import FEATURES, V1, Client, X, Y

ROW = {"tenure": 3, "spend": 20.5, "is_pro": 1}
RECORDS = X.head(70)[FEATURES].to_dict(orient="records")
SPLIT = {"columns": FEATURES, "data": [list(r) for r in X.head(5)[FEATURES].itertuples(
    index=False)]}
# a pipeline that reads columns by name: fed the DataFrame the full path builds, never an array
BY_NAME = make_pipeline(
    ColumnTransformer([("scaled", StandardScaler(), ["tenure", "spend"])],
                      remainder="passthrough"),
    DecisionTreeClassifier(max_depth=3, random_state=0)).fit(X[FEATURES], Y)

LEAN: list[tuple[str, Any]] = [  # (query, body) taking the lean path
    ("", [ROW]),
    ("", ROW),  # one record
    ("", {"inputs": [ROW, {**ROW, "spend": 7}]}),  # an int in a float64 column
    ("", X.head(5).to_dict(orient="records")),  # extra columns (text) are dropped
    ("", {"dataframe_split": SPLIT}),
    ("", {"dataframe_split": {"columns": ["is_pro", "plan", "spend", "tenure"],
                              "data": [[0, "basic", 1.5, 12], [1, "pro", 99.0, 2]]}}),
    ("", [[3, 20.5, 1], [40, 1e-3, 0]]),  # rows in the signature's order
    ("", RECORDS[:LEAN_ROWS]),
    ("?proba=true", [ROW, {**ROW, "tenure": 60}]),
    ("?proba=true", {"dataframe_split": SPLIT}),
]
FULL: list[tuple[str, Any]] = [  # (query, body) left to the full path
    ("", RECORDS[:LEAN_ROWS + 1]),  # too many rows
    ("", X.head(3)[FEATURES].to_dict(orient="list")),  # columns
    ("", [{**ROW, "tenure": 3.0}]),  # a whole float in an int64 column: converted
    ("", [{**ROW, "tenure": 3.5}]),  # refused
    ("", [{**ROW, "is_pro": True}]),
    ("", [{**ROW, "spend": "20.5"}]),
    ("", [{**ROW, "spend": None}]),
    ("", [{**ROW, "spend": math.nan}]),  # sent as NaN: the model refuses it
    ("", [{**ROW, "spend": math.inf}]),
    ("", [{"tenure": 3, "spend": 1.0}]),  # a missing column
    ("", [[3, 20.5]]),  # a short row
    ("", []),
    ("", [{**ROW, "tenure": 2**60}]),
    ("", [{**ROW, "spend": 2**53 + 1}]),  # a float64 cannot hold it
    ("", {"dataframe_split": {"columns": ["tenure", "tenure", "spend", "is_pro"],
                              "data": [[1, 2, 3.0, 1]]}}),
    ("", {"dataframe_split": {"columns": FEATURES, "data": [[1, 2.0]]}}),
    ("", {"tenure": 3, "spend": [1.0], "is_pro": 1}),
    ("", [ROW, [3, 20.5, 1]]),
    ("", "text"),
    ("?proba=true", [{**ROW, "is_pro": 2.5}]),
]


@pytest.fixture
def versions(store_env: Path) -> Path:
    nbmlops.register(V1, name="churn", data=X[FEATURES], alias="production")
    nbmlops.register(BY_NAME, name="churn", data=X[FEATURES], alias="candidate")
    return store_env


def _pair(monkeypatch: pytest.MonkeyPatch, **rollout: Any) -> Iterator[tuple[Any, Any]]:
    lean = nbmlops.deploy("churn@production", name="lean", port=0, **rollout)
    try:
        monkeypatch.setenv("NBMLOPS_SERVE_LEAN", "0")
        full = nbmlops.deploy("churn@production", name="full", port=0, **rollout)
        monkeypatch.delenv("NBMLOPS_SERVE_LEAN")
        try:
            yield lean, full
        finally:
            nbmlops.stop_deployment("full")
    finally:
        nbmlops.stop_deployment("lean")


def _send(client: Client, query: str, body: Any) -> tuple[int, dict[str, str], bytes, str]:
    client.conn.request("POST", "/predict" + query, body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"})
    answer = client.conn.getresponse()
    raw = answer.read()
    headers = {k.lower(): v for k, v in answer.getheaders() if k.lower() != "date"}
    rid = headers.pop("x-request-id", "")
    return answer.status, headers, raw.replace(rid.encode(), b"RID") if rid else raw, rid


def _compare(lean: Any, full: Any, answered: list[int] | None = None
             ) -> list[tuple[str, str]]:
    """Every body to both servers: the same status, headers and bytes; the request ids
    (lean's, full's) of the answered ones, in order (and into ``answered``, when given, the
    rows each answered request had)."""
    model = ServedModel("churn", 1, V1, infer(V1, X[FEATURES]), "")
    assert [model.lean(json.loads(json.dumps(body))) is not None for _, body in LEAN] == \
        [True] * len(LEAN)
    assert [model.lean(json.loads(json.dumps(body))) is None for _, body in FULL] == \
        [True] * len(FULL)
    a, b = Client(lean.url), Client(full.url)
    pairs = []
    for query, body in LEAN + FULL:
        got, want = _send(a, query, body), _send(b, query, body)
        assert got[:3] == want[:3], (query, body)
        if got[0] == 200:
            answer = json.loads(got[2])
            assert got[3]  # the request id, in the header and (put aside) the body
            assert answer["request_id"] == "RID"
            assert answer["ids"] == [f"RID-{i}" for i in range(len(answer["ids"]))]
            pairs.append((got[3], want[3]))
            if answered is not None:
                answered.append(len(answer["ids"]))
        else:
            assert not got[3]
            assert "Traceback" not in got[2].decode()
    return pairs


def _counters(url: str) -> list[str]:
    _, _, text = Client(url).request("GET", "/metrics")
    return sorted(line for line in text.splitlines() if re.match(
        r"nbmlops_(requests_total|request_errors_total|predicted_rows_total|rollout_"
        r"(requests|errors|rows|compared_rows|agreeing_rows)_total)", line))


def _same_log(pairs: list[tuple[str, str]]) -> None:
    lean, full = nbmlops.predictions("lean"), nbmlops.predictions("full")
    rename = {theirs: mine for mine, theirs in pairs}
    # a served row's id as the lean server's answer to the same request gave it (a shadow's
    # rows, scored, never answered, keep theirs)
    full["_id"] = [rename[i.split("-")[0]] + "-" + i.split("-")[1]
                   if i.split("-")[0] in rename else i for i in full["_id"]]

    def kept(frame: pd.DataFrame) -> pd.DataFrame:
        served = frame[frame["_id"].str.split("-").str[0].isin(rename.values())]
        return served.drop(columns=["_time", "_request"]).sort_values("_id").reset_index(
            drop=True)

    mine, theirs = kept(lean), kept(full)
    assert len(mine) > LEAN_ROWS
    pd.testing.assert_frame_equal(mine, theirs)


def test_the_lean_path_answers_logs_and_counts_byte_for_byte_as_the_full_path(
        versions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for lean, full in _pair(monkeypatch):
        pairs = _compare(lean, full)
        assert _counters(lean.url) == _counters(full.url)
    _same_log(pairs)


def test_a_canary_on_the_lean_path_answers_as_the_full_path(
        versions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # every request to the challenger, a pipeline that reads columns by name: it is given
    # the DataFrame the full path builds
    for lean, full in _pair(monkeypatch, canary="candidate", share=1.0):
        pairs = _compare(lean, full)
        assert _counters(lean.url) == _counters(full.url)
        answer = Client(lean.url).predict([ROW])
        assert answer["versions"] == [2]
        assert answer["predictions"] == BY_NAME.predict(pd.DataFrame([ROW])).tolist()
    _same_log(pairs)


def test_a_shadow_on_the_lean_path_answers_and_logs_as_the_full_path(
        versions: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for lean, full in _pair(monkeypatch, shadow="candidate"):
        answered: list[int] = []
        pairs = _compare(lean, full, answered)
        rows = sum(answered)
        assert rows > LEAN_ROWS  # (the shadow scores every answered row, off the answer's path)
        # wait until each shadow has compared every answered row: the counters are then
        # final (equal at some moment while the shadows are still at work says nothing)

        def compared(url: str) -> float:
            return sum(float(line.split()[-1]) for line in _counters(url)
                       if line.startswith("nbmlops_rollout_compared_rows_total"))
        deadline = time.monotonic() + 30
        while ((compared(lean.url) < rows or compared(full.url) < rows)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert compared(lean.url) == rows
        assert compared(full.url) == rows
        assert _counters(lean.url) == _counters(full.url)
    _same_log(pairs)
    shadow = nbmlops.predictions("lean")
    shadow = shadow[shadow["_shadow"].eq(True)]
    assert len(shadow) == len(nbmlops.predictions("full").query("_shadow == True"))
    labels = shadow[shadow["prediction"].notna()]  # (the ?proba=true rows have proba_*)
    assert len(labels) > LEAN_ROWS
    assert labels["prediction"].astype(int).tolist() == BY_NAME.predict(
        labels[FEATURES]).tolist()
