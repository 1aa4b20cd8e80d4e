"""Loading a model trusts only well-known types unless told otherwise: through the API,
batch scoring, the model server (a deployment, the foreground command, a bundle) and a
job's on-success ``register`` action."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import nbmlops
from nbmlops import api
from nbmlops.export.actions import carry_out, parse_action
from tests.untrusted_model import Noisy

TYPE = "tests.untrusted_model.Noisy"
RNG = np.random.default_rng(3)
X = pd.DataFrame({"tenure": RNG.integers(1, 72, 120).astype(float),
                  "spend": RNG.gamma(4.0, 20.0, 120)})
Y = (X.tenure < 24).astype(int)
ROOT = Path(__file__).resolve().parents[1]


def noisy_model(marker: Path) -> object:
    return make_pipeline(Noisy(str(marker)), LogisticRegression(max_iter=500)).fit(X, Y)


def test_a_type_that_is_not_well_known_is_refused_until_named(store_env: Path) -> None:
    marker = store_env / "ran-on-load"
    model = noisy_model(marker)
    version = nbmlops.register(model, name="churn", data=X)
    assert TYPE in version.trusted_types  # recorded, but that does not make it trusted
    with pytest.raises(nbmlops.UnsafeModelError) as info:
        nbmlops.load_model("churn")
    message = str(info.value)
    assert TYPE in message
    assert f"trusted=['{TYPE}']" in message
    assert "\n" not in message
    assert not marker.exists()
    with pytest.raises(ValueError, match="list of type names"):
        nbmlops.load_model("churn", trusted=TYPE)  # type: ignore[arg-type]
    assert not marker.exists()

    loaded = nbmlops.load_model("churn", trusted=[TYPE])
    assert marker.read_text() == "ran"  # its code ran: the caller said to trust it
    assert loaded.predict(X.head(5)).tolist() == model.predict(X.head(5)).tolist()
    marker.unlink()
    nbmlops.load_model("churn", trusted=True)
    assert marker.exists()


def test_well_known_types_load_by_default(store_env: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    for model in (RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y),
                  HistGradientBoostingClassifier(max_iter=3).fit(X, Y)):
        version = nbmlops.register(model, name="forest")
        assert version.trusted_types  # skops itself would refuse these types
        loaded = nbmlops.load_model(f"forest/{version.version}")
        assert loaded.predict(X.head(5)).tolist() == model.predict(X.head(5)).tolist()


def test_batch_scoring_refuses_it(store_env: Path) -> None:
    marker = store_env / "ran-on-load"
    nbmlops.register(noisy_model(marker), name="churn", data=X)
    source = store_env / "in.parquet"
    X.to_parquet(source)
    with pytest.raises(nbmlops.UnsafeModelError, match=TYPE) as info:
        nbmlops.score_batch("churn", source, store_env / "out.parquet", progress=False)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    assert not (store_env / "out.parquet").exists()


def test_the_model_server_refuses_it_in_one_line(store_env: Path) -> None:
    marker = store_env / "ran-on-load"
    nbmlops.register(noisy_model(marker), name="churn", data=X)
    # a background deployment: refused before a process starts
    with pytest.raises(nbmlops.UnsafeModelError, match=TYPE) as info:
        nbmlops.deploy("churn", port=0)
    assert "\n" not in str(info.value)
    assert nbmlops.deployments().empty
    # the foreground server, and the served bundle: exit 1 with one line, no traceback
    bundle = nbmlops.export_bundle("churn", store_env / "bundle")
    for target in ("churn", str(bundle)):
        done = subprocess.run([sys.executable, "-m", "nbmlops.serving", target, "--port", "0",
                               "--no-log"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert TYPE in lines[0]
        assert "trusted=" in lines[0]
    assert not marker.exists()


class Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path(self.marker).write_text, ("pwned",))


def test_a_jobs_register_action_trusts_only_well_known_types(store_env: Path) -> None:
    marker = store_env / "ran-on-load"
    plain = LogisticRegression(max_iter=500).fit(X, Y)
    with nbmlops.track("job", "plain") as run:
        run.log_model(plain)
    with nbmlops.track("job", "noisy") as noisy_run:
        noisy_run.log_model(noisy_model(marker))
    with nbmlops.track("job", "exploit") as evil_run:
        evil_run.log_model(Exploit(str(marker)))
    assert not marker.exists()
    ws = api.workspace()

    def action(run_id: str) -> list[str]:
        return carry_out(ws, [parse_action("register churn --alias staging")],
                         job_run="f" * 32, runs=[ws.store.get_run(run_id)])

    for run_id, named in ((noisy_run.id, TYPE), (evil_run.id, "builtins.getattr, pathlib.PosixPath")):
        with pytest.raises(nbmlops.UnsafeModelError, match=named) as info:
            action(run_id)
        assert f"nbmlops.register(run='{run_id[:8]}'" in str(info.value)
        assert not marker.exists()
    assert action(run.id) == [f"registered churn/1 @staging from run {run.id[:8]}"]
    loaded = nbmlops.load_model("churn@staging")
    assert loaded.version.run_id == run.id
    assert loaded.predict(X.head(5)).tolist() == plain.predict(X.head(5)).tolist()
    # registering the noisy run by hand, naming its type, is the way through
    version = nbmlops.register(name="noisy", run=noisy_run.id, trusted=[TYPE])  # type: ignore[arg-type]
    assert marker.exists()
    assert version.run_id == noisy_run.id


def test_a_pickle_names_every_global_it_would_call() -> None:
    from nbmlops.registry.formats import pickle_globals

    data = pickle.dumps([Exploit("x"), LogisticRegression().fit(X, Y)], protocol=5)
    found = pickle_globals(data)
    assert {"builtins.getattr", "pathlib.PosixPath"} <= found
    assert "sklearn.linear_model._logistic.LogisticRegression" in found
