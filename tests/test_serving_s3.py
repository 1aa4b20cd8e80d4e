"""A deployment's prediction log and server log on object storage (a real S3 server):
written in whole parts a reader on any machine can list, bounded, read back with the same
function a local folder is read with."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nbmlops.serving import predlog, serverlog

pytestmark = pytest.mark.s3

FRAME = pd.DataFrame({"tenure": np.arange(100), "spend": np.linspace(0, 99, 100)})


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """A prediction log location and its options: a folder, or a prefix on S3."""
    if request.param == "local":
        return str(tmp_path / "predictions"), {}
    s3 = request.getfixturevalue("s3")
    return f"{s3.url}/deployments/churn/predictions", dict(s3.options)


def test_the_log_round_trips_and_is_bounded_wherever_it_lives(
        where: tuple[str, dict[str, Any]]) -> None:
    location, options = where
    log = predlog.PredictionLog(location, options=options, max_rows=250,
                                dtypes={"tenure": "int64"})
    log.start()
    for i in range(6):
        log.add(FRAME, {"prediction": [i] * 100}, version=3, request=f"r{i}")
        log.flush()
    log.close()
    frame = predlog.read(location, options=options)
    assert list(frame["_request"].unique()) == ["r4", "r5"]  # the newest 200 of 600 rows
    assert frame["tenure"].dtype == "int64"
    assert frame["prediction"].tolist() == [4] * 100 + [5] * 100
    names = predlog.open_folder(location, options).names()
    assert len(names) == 2
    assert all(predlog.rows_in_name(n) == 100 for n in names)


def test_a_reader_elsewhere_sees_only_whole_parts(s3: Any) -> None:
    """One writer flushes 100-row parts while another reader (its own filesystem object,
    as on another machine) reads again and again: every read holds whole parts."""
    location = f"{s3.url}/deployments/churn/predictions"
    log = predlog.PredictionLog(location, options=s3.options)
    log.start()
    seen: list[int] = []
    writing = threading.Event()
    done = threading.Event()

    def reader() -> None:
        writing.wait(10)
        while not done.is_set():
            seen.append(len(predlog.read(location, options=s3.options)))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(15):
        log.add(FRAME, {"prediction": [0] * 100}, version=1, request=f"r{i}")
        log.flush()
        writing.set()
    done.set()
    thread.join()
    log.close()
    assert len(seen) >= 2, "the reader never overlapped the writer"
    assert all(n % 100 == 0 for n in seen), seen
    assert any(0 < n < 1500 for n in seen), f"no read saw a part-written log: {seen}"
    assert len(predlog.read(location, options=s3.options)) == 1500
    keys = s3.fs.find(s3.key("deployments/churn/predictions"))
    assert all(k.rsplit("/", 1)[-1].startswith("part-") for k in keys)


def test_the_server_log_is_shipped_in_segments_and_tailed_from_elsewhere(
        s3: Any, tmp_path: Path) -> None:
    local = tmp_path / "server.log"
    url = f"{s3.url}/deployments/churn/server-0123abcd"
    shipper = serverlog.Shipper(local, url, options=s3.options, every_s=3600)
    assert "no output" in serverlog.tail(url, options=s3.options)
    local.write_text("".join(f"line {i}\n" for i in range(100)))
    assert shipper.ship() > 0
    with local.open("a") as out:
        out.write("the last line\n")
    shipper.close()  # what is left goes up when the server stops
    assert serverlog.tail(url, 3, options=s3.options).splitlines() == [
        "line 98", "line 99", "the last line"]
    assert len(s3.fs.ls(s3.key("deployments/churn/server-0123abcd"))) == 2
