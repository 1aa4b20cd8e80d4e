"""A panel request in a folder where nothing was recorded creates nothing and says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"nbmlops": True}}}


@pytest.mark.parametrize("route", [("runs",), ("experiments",), ("models",), ("deployments",)])
async def test_a_panel_request_without_a_store_creates_nothing(
        jp_fetch: Any, store_env: Path, route: tuple[str, ...]) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("nbmlops", "api", *route)
    assert refused.value.code == 503
    assert refused.value.response is not None
    message = json.loads(refused.value.response.body)["error"]
    assert "no lineage store at" in message
    assert "yet" in message
    assert not (store_env / "store").exists()


async def test_other_panel_reads_without_a_store_find_nothing(jp_fetch: Any,
                                                              store_env: Path) -> None:
    answer = json.loads((await jp_fetch("nbmlops", "api", "jobs")).body)
    assert (answer["items"] if isinstance(answer, dict) else answer) == []
    with pytest.raises(HTTPClientError) as missing:
        await jp_fetch("nbmlops", "api", "runs", "abcd1234")
    assert missing.value.code == 404
    assert not (store_env / "store").exists()


async def test_a_panel_request_never_upgrades_an_older_store(jp_fetch: Any,
                                                             store_env: Path) -> None:
    import hashlib
    import shutil

    db = store_env / "store" / "lineage.db"
    db.parent.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "lineage-0005.db", db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("nbmlops", "api", "runs")
    assert refused.value.code == 503
    assert refused.value.response is not None
    assert "nbmlops db upgrade" in json.loads(refused.value.response.body)["error"]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["lineage.db"]  # no backup made
