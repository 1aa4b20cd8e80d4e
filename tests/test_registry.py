"""The model registry through the Python API: versions, aliases, safe files, signatures."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import nbmlops
from nbmlops import api
from tests.conftest import ArtifactsEnv

rng = np.random.default_rng(0)
X_all, y_all = make_classification(300, 4, n_informative=3, n_redundant=0, random_state=0)
FRAME = pd.DataFrame(X_all, columns=["tenure", "spend", "calls", "age"])
X_TRAIN, X_TEST = FRAME.iloc[:200], FRAME.iloc[200:]
Y_TRAIN, Y_TEST = y_all[:200], y_all[200:]


def fitted(kind: str = "lr"):  # type: ignore[no-untyped-def]
    if kind == "rf":
        return RandomForestClassifier(n_estimators=10, random_state=0).fit(X_TRAIN, Y_TRAIN)
    return LogisticRegression(max_iter=500).fit(X_TRAIN, Y_TRAIN)


def store_url() -> str:
    return f"sqlite:///{os.environ['NBMLOPS_STORE']}"


def sql(statement: str, **params: object) -> None:
    engine = sa.create_engine(store_url())
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)
    engine.dispose()
    api.close()


def test_register_load_and_predict(store_env: Path) -> None:
    model = fitted("rf")
    v1 = nbmlops.register(model, name="churn", data=X_TRAIN, alias="staging",
                          description="first forest")
    assert (v1.model, v1.version, v1.aliases, v1.format) == ("churn", 1, ("staging",), "skops")
    assert v1.signature is not None
    assert [tuple(c) for c in v1.signature["inputs"]] == [
        ("tenure", "float64"), ("spend", "float64"), ("calls", "float64"), ("age", "float64")]
    assert {"profile.json", "sample.parquet"} <= set(v1.files)
    v2 = nbmlops.register(fitted("lr"), name="churn")
    assert v2.version == 2
    for ref, version in (("churn@staging", 1), ("churn/2", 2), ("churn", 2)):
        loaded = nbmlops.load_model(ref)
        assert loaded.version.version == version
    loaded = nbmlops.load_model("churn@staging")
    np.testing.assert_array_equal(loaded.predict(X_TEST), model.predict(X_TEST))
    np.testing.assert_allclose(loaded.predict_proba(X_TEST), model.predict_proba(X_TEST))
    assert type(loaded.model) is RandomForestClassifier
    profile = json.loads(api.workspace().artifacts.read_bytes(v1.files["profile.json"]))
    assert profile["rows"] == 200
    assert set(profile["columns"]) == {"tenure", "spend", "calls", "age"}


def test_the_signature_guards_predict(store_env: Path) -> None:
    model = fitted()
    nbmlops.register(model, name="churn", data=X_TRAIN)
    loaded = nbmlops.load_model("churn")
    shuffled = X_TEST[["age", "calls", "spend", "tenure"]].assign(extra="ignored")
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(X_TEST))
    with pytest.raises(nbmlops.SignatureError, match="spend") as missing:
        loaded.predict(X_TEST.drop(columns=["spend"]))
    assert missing.value.column == "spend"
    with pytest.raises(nbmlops.SignatureError, match="tenure"):
        loaded.predict(X_TEST.assign(tenure="long"))
    records = X_TEST.head(3).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(X_TEST.head(3)))


def test_a_tracked_model_links_its_run(store_env: Path) -> None:
    with nbmlops.track("churn", "train") as run:
        model = fitted()
        nbmlops.log_input(X_TRAIN, "X_train")
        nbmlops.log_metric("accuracy", 0.91)
        run.log_model(model)
    version = nbmlops.register(model, name="churn")
    assert version.run_id == run.id
    assert version.metrics["accuracy"] == 0.91
    # the signature comes from the run's training-data fingerprint
    assert [c[0] for c in version.signature["inputs"]] == list(FRAME.columns)  # type: ignore[index]
    # with a model card, the version's metrics are the card's held-out scores alone
    carded = nbmlops.register(model, name="churn", evaluate=(X_TEST, Y_TEST))
    assert carded.run_id == run.id
    assert carded.metrics["accuracy"] == pytest.approx(
        float((model.predict(X_TEST) == Y_TEST).mean()))
    assert carded.metrics["accuracy"] != 0.91
    assert "roc_auc" in carded.metrics


def test_registering_a_runs_pickle_needs_trust(store_env: Path) -> None:
    with nbmlops.track("churn") as run:
        run.log_model(fitted())
    with pytest.raises(nbmlops.UnsafeModelError, match="trusted=True"):
        nbmlops.register(name="churn", run=run.id[:8])
    assert nbmlops.models().empty
    version = nbmlops.register(name="churn", run=run.id[:8], trusted=True)
    assert (version.run_id, version.format) == (run.id, "skops")  # saved safely now
    assert nbmlops.load_model("churn").predict(X_TEST).shape == (100,)


def test_gates_refuse_registration_and_promotion(store_env: Path) -> None:
    model = fitted()
    with pytest.raises(nbmlops.GateError, match=r"gate accuracy>=0.99 failed: accuracy is 0\.") \
            as failed:
        nbmlops.register(model, name="churn", evaluate=(X_TEST, Y_TEST),
                         require=["accuracy>=0.99"])
    assert failed.value.gate == "accuracy>=0.99"
    assert 0.5 < failed.value.value < 0.99  # type: ignore[operator]
    assert nbmlops.models().empty  # nothing was registered
    with pytest.raises(nbmlops.GateError, match="has no metric 'auc'"):
        nbmlops.register(model, name="churn", evaluate=(X_TEST, Y_TEST), require=["auc>0.5"])
    version = nbmlops.register(model, name="churn", evaluate=(X_TEST, Y_TEST),
                               require=["accuracy>=0.6", "f1>0.5"])
    assert "card.html" in version.files
    card = api.workspace().artifacts.read_bytes(version.files["card.html"]).decode()
    assert "accuracy" in card
    with pytest.raises(nbmlops.GateError, match="promoting churn/1 to @production refused"):
        nbmlops.promote("churn", 1, "production", require=["accuracy>=0.999"])
    assert nbmlops.promote("churn", 1, "production", require=["accuracy>=0.6"]) is not None
    with pytest.raises(ValueError, match="write METRIC OP NUMBER"):
        nbmlops.promote("churn", 1, "production", require=["accuracy is high"])


def test_promote_rollback_and_history(store_env: Path) -> None:
    for _ in range(3):
        nbmlops.register(fitted(), name="churn")
    nbmlops.promote("churn", 1, "production", reason="first")
    nbmlops.promote("churn", 3, "production", reason="better")
    event = nbmlops.rollback("churn@production", reason="latency")
    assert (event.from_version, event.to_version) == (3, 1)
    assert nbmlops.load_model("churn@production").version.version == 1
    history = nbmlops.model_history("churn@production")
    assert list(history["action"]) == ["promote", "promote", "rollback"]
    assert list(history["reason"]) == ["first", "better", "latency"]
    assert history["from_version"].tolist() == [pd.NA, 1, 3]  # whole numbers, not floats
    assert history["to_version"].tolist() == [1, 3, 1]
    assert len(nbmlops.model_history("churn")) == 6  # three registrations too
    frame = nbmlops.models()
    assert frame.to_dict(orient="records")[0]["aliases"] == "production=1"
    assert list(nbmlops.models("churn")["version"]) == [1, 2, 3]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: nbmlops.register(fitted(), name="churn@prod"), "use letters, digits"),
    (lambda: nbmlops.register(fitted(), name="churn", alias="1st"), "start with a letter"),
    (lambda: nbmlops.register(object(), name="churn"), "has no predict()"),
    (lambda: nbmlops.load_model("churn/zero"), "a version is a number"),
    (lambda: nbmlops.load_model("nope"), "no registered model has that name"),
    (lambda: nbmlops.rollback("churn"), "rollback needs an alias"),
])
def test_bad_input_is_named(store_env: Path, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ValueError, nbmlops.ModelNotFoundError), match=message):
        call()


# -- security ------------------------------------------------------------------------------

class Exploit:
    """Unpickling this writes a marker file: proof that pickle ran code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path(self.marker).write_text, ("pwned",))


def test_a_pickle_is_never_loaded_without_trust(store_env: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = pickle.dumps(Exploit(str(marker)))
    ref = api.workspace().artifacts.put_bytes(evil, media_type="application/x-pickle")
    # a version recorded as a pickle, whose file really is this pickle (sha256 matches)
    version = nbmlops.register(fitted(), name="churn", format="pickle", trusted=True)
    source = f"{ref.sha256[:2]}/{ref.sha256}"
    sql("INSERT INTO artifacts (sha256, size, media_type, created_at) VALUES "
        "(:s, 1, 'x', 0) ON CONFLICT DO NOTHING", s=ref.sha256)
    sql("UPDATE model_versions SET sha256 = :s, source = :src WHERE version = :v",
        s=ref.sha256, src=source, v=version.version)
    with pytest.raises(nbmlops.UnsafeModelError, match="stored as a pickle"):
        nbmlops.load_model("churn")
    assert not marker.exists()
    # claiming the skops format does not get a pickle past skops either
    sql("UPDATE model_versions SET format = 'skops'")
    with pytest.raises(nbmlops.UnsafeModelError, match="not a valid skops file"):
        nbmlops.load_model("churn")
    assert not marker.exists()


def test_a_tampered_file_is_refused(artifacts_env: ArtifactsEnv, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    v = nbmlops.register(fitted(), name="churn", format="pickle", trusted=True)
    exploit = pickle.dumps(Exploit(str(marker)))
    artifacts_env.tamper(v.sha256, lambda _: exploit)  # swapped where it is stored
    with pytest.raises(nbmlops.UnsafeModelError, match="failed verification"):
        nbmlops.load_model("churn", trusted=True)  # even when trusted: the bytes changed
    assert not marker.exists()
    s = nbmlops.register(fitted("rf"), name="forest")

    def flip(raw: bytes) -> bytes:
        data = bytearray(raw)
        data[len(data) // 2] ^= 0xFF
        return bytes(data)

    artifacts_env.tamper(s.sha256, flip)
    with pytest.raises(nbmlops.UnsafeModelError, match="failed verification"):
        nbmlops.load_model("forest")
    if artifacts_env.s3 is not None:  # nothing was kept from the refused reads
        cache = api.workspace().artifacts.cache.root  # type: ignore[attr-defined]
        assert not [p for p in cache.rglob("*") if p.is_file() and p.name in (v.sha256, s.sha256)]


def test_a_file_outside_the_artifact_root_is_refused(artifacts_env: ArtifactsEnv) -> None:
    nbmlops.register(fitted(), name="churn")
    for source in ("../../../etc/passwd", "/etc/passwd", "ab/../../x"):
        sql("UPDATE model_versions SET source = :s", s=source)
        with pytest.raises(nbmlops.UnsafeModelError, match="outside the artifact root"):
            nbmlops.load_model("churn")
    sql("UPDATE model_versions SET source = 'ab/cdef'")
    with pytest.raises(nbmlops.UnsafeModelError, match="not where its sha256 says"):
        nbmlops.load_model("churn")
    sql("UPDATE model_versions SET sha256 = '../../etc/passwd'")
    with pytest.raises(nbmlops.UnsafeModelError, match="recorded sha256 is not valid"):
        nbmlops.load_model("churn")


def test_skops_trusts_only_the_types_recorded_at_registration(store_env: Path) -> None:
    version = nbmlops.register(fitted("rf"), name="forest")
    assert version.trusted_types == ("sklearn.tree._tree.Tree",)
    sql("UPDATE model_versions SET trusted_types = '[]'")
    with pytest.raises(nbmlops.UnsafeModelError, match=r"holds types it did not hold .*Tree"):
        nbmlops.load_model("forest")


def test_onnx_export_predicts_like_the_model(store_env: Path) -> None:
    import onnxruntime as ort

    model = fitted()
    version = nbmlops.register(model, name="churn", data=X_TRAIN, onnx=True)
    blob = api.workspace().artifacts.read_bytes(version.files["model.onnx"])
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    labels = session.run(None, {name: X_TEST.to_numpy(np.float32)})[0]
    np.testing.assert_array_equal(labels, model.predict(X_TEST))


def test_a_loaded_model_copies_and_pickles(store_env: Path) -> None:
    import copy
    import pickle

    nbmlops.register(fitted(), name="churn", data=X_TRAIN)
    loaded = nbmlops.load_model("churn")
    for clone in (copy.copy(loaded), copy.deepcopy(loaded), pickle.loads(pickle.dumps(loaded))):
        np.testing.assert_array_equal(clone.predict(X_TEST), loaded.predict(X_TEST))
        assert clone.version == loaded.version
    assert loaded.classes_.tolist() == [0, 1]  # the model's own attributes pass through
    with pytest.raises(AttributeError):
        _ = loaded.no_such_attribute
