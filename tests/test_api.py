"""The public Python API as a script uses it."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nbmlops
from nbmlops.tracking import write_pending
from tests.conftest import ArtifactsEnv
from tests.faults import failing_workspace

EXPECTED_ALL = [
    "ApprovalError",
    "ArtifactError",
    "ConfigError",
    "DeploymentError",
    "DriftDetected",
    "GateError",
    "JobFailed",
    "JobSpecError",
    "MissingExtraError",
    "ModelNotFoundError",
    "NbmlopsError",
    "NoActiveRunError",
    "ParamConflictError",
    "PermissionDeniedError",
    "QueryError",
    "RunNotFoundError",
    "SchemaVersionError",
    "SignatureError",
    "StoreError",
    "TuneError",
    "UnsafeModelError",
    "active_run",
    "approval_requests",
    "approve",
    "audit_events",
    "audit_head",
    "compare",
    "create_monitor",
    "deploy",
    "deployment_logs",
    "deployments",
    "download_artifact",
    "drift",
    "drift_checks",
    "evaluate",
    "export_bundle",
    "export_job",
    "get_deployment",
    "get_run",
    "job_history",
    "job_runs",
    "jobs",
    "lineage",
    "load_model",
    "log_artifact",
    "log_feedback",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "metric_history",
    "model_history",
    "models",
    "monitor_checks",
    "performance",
    "predictions",
    "promote",
    "protect_alias",
    "protections",
    "register",
    "reject",
    "reproduce",
    "rollback",
    "rollout",
    "run_job",
    "run_monitor",
    "run_slice",
    "runs",
    "score_batch",
    "serve",
    "set_tags",
    "stop_deployment",
    "store_info",
    "team_add",
    "team_init",
    "team_list",
    "team_remove",
    "track",
    "tune",
    "unprotect_alias",
    "upgrade_store",
    "verify_audit",
    "whoami",
]


def test_public_surface_is_pinned() -> None:
    assert nbmlops.__all__ == EXPECTED_ALL  # growing the surface is a decision
    assert nbmlops.__all__ == sorted(nbmlops.__all__)
    for name in nbmlops.__all__:
        assert getattr(nbmlops, name) is not None
    assert (Path(nbmlops.__file__).parent / "py.typed").is_file()


def test_import_is_light() -> None:
    code = ("import sys, nbmlops; heavy = [m for m in ('sklearn', 'pandas', 'matplotlib', "
            "'sqlalchemy', 'IPython', 'ipywidgets', 'numpy', 'alembic') if m in sys.modules];"
            " print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_track_context_manager_records_a_script_run(store_env: Path) -> None:
    with nbmlops.track("churn", "script-run", params={"C": 1.0}, tags={"t": 1}) as run:
        assert nbmlops.active_run() is run
        nbmlops.log_param("solver", "lbfgs")
        for step in range(3):
            nbmlops.log_metric("loss", 1.0 / (step + 1))
        nbmlops.log_metrics({"acc": 0.9, "f1": float("nan")})
        nbmlops.log_input(pd.DataFrame({"a": [1, 2]}), name="train")
    assert nbmlops.active_run() is None
    rec = nbmlops.get_run(run.id)
    assert rec.status == "finished"
    assert rec.kind == "script"
    assert rec.params == {"C": 1.0, "solver": "lbfgs"}
    assert rec.tags == {"t": "1"}
    assert rec.metrics["acc"] == 0.9
    assert math.isnan(rec.metrics["f1"])
    assert [(m.step, m.value) for m in nbmlops.metric_history(run.id, "loss")] == \
        [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert [ln.name for ln in rec.inputs] == ["train"]
    assert rec.notebook_path == __file__  # the calling script
    assert rec.code is not None
    assert "def test_track_context_manager" in rec.code


def test_track_failure_and_interrupt(store_env: Path) -> None:
    with pytest.raises(ZeroDivisionError), nbmlops.track("e") as failed:
        1 / 0  # noqa: B018
    with pytest.raises(KeyboardInterrupt), nbmlops.track("e") as stopped:
        raise KeyboardInterrupt
    assert nbmlops.get_run(failed.id).status == "failed"
    assert "ZeroDivisionError" in (nbmlops.get_run(failed.id).error or "")
    assert nbmlops.get_run(stopped.id).status == "interrupted"


def test_nested_track_is_a_child_run(store_env: Path) -> None:
    with nbmlops.track("search") as parent, nbmlops.track(name="candidate-1") as child:
        nbmlops.log_metric("score", 0.5)
    assert nbmlops.get_run(child.id).parent_run_id == parent.id
    assert nbmlops.get_run(child.id).experiment == "search"
    assert nbmlops.get_run(parent.id).metrics == {}


def test_logging_outside_a_run_explains_itself(store_env: Path) -> None:
    with pytest.raises(nbmlops.NoActiveRunError, match="inside a `%%track` cell"):
        nbmlops.log_metric("x", 1.0)


def test_bad_values_are_rejected_with_the_key(store_env: Path) -> None:
    with nbmlops.track("e"):
        with pytest.raises(TypeError, match="metric 'acc' must be a number"):
            nbmlops.log_metric("acc", "high")
        with pytest.raises(ValueError, match="non-empty"):
            nbmlops.log_param("", 1)
        nbmlops.log_param("C", 1)
        nbmlops.log_param("C", 1.0)  # the same value: a no-op
        with pytest.raises(nbmlops.ParamConflictError, match="already 1"):
            nbmlops.log_param("C", 2)


def test_runs_frame_columns_and_types(store_env: Path) -> None:
    with nbmlops.track("exp", "a", params={"C": 1.0, "kind": "lr"}, tags={"team": "x"}):
        nbmlops.log_metric("acc", 0.8)
    with nbmlops.track("exp", "b", params={"C": 0.1}):
        nbmlops.log_metric("acc", 0.9)
        nbmlops.log_metric("loss", 0.3)
    frame = nbmlops.runs("exp")
    assert list(frame.columns) == ["run_id", "experiment", "name", "status", "start",
                                   "duration_s", "params.C", "params.kind", "metrics.acc",
                                   "metrics.loss", "tags.team"]
    assert list(frame["name"]) == ["b", "a"]  # newest first
    assert frame["params.C"].dtype == np.float64
    assert frame["metrics.acc"].tolist() == [0.9, 0.8]
    assert math.isnan(frame["metrics.loss"].iloc[1])
    assert str(frame["start"].dt.tz) == "UTC"
    assert (frame["duration_s"] >= 0).all()
    assert nbmlops.runs(where="params.kind == 'lr'")["name"].tolist() == ["a"]
    assert nbmlops.runs(sort="metrics.acc")["name"].tolist() == ["a", "b"]
    assert nbmlops.runs("missing").empty
    with pytest.raises(nbmlops.QueryError):
        nbmlops.runs(where="nonsense ==")


def test_get_run_by_prefix_and_unknown(store_env: Path) -> None:
    with nbmlops.track("e") as run:
        pass
    assert nbmlops.get_run(run.id[:6]).id == run.id
    with pytest.raises(nbmlops.RunNotFoundError, match="nbmlops runs list"):
        nbmlops.get_run("deadbeef")


def test_log_artifact_folder_and_download(artifacts_env: ArtifactsEnv, tmp_path: Path) -> None:
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    with nbmlops.track("e") as run:
        names = nbmlops.log_artifact(folder)
    assert names == ["plots/a.txt", "plots/sub/b.txt"]
    out = nbmlops.download_artifact(run.id, "plots", tmp_path / "dl")
    assert (out / "a.txt").read_text() == "A"
    assert (out / "sub" / "b.txt").read_text() == "B"
    with pytest.raises(nbmlops.ArtifactError, match="has no artifact 'nope'"):
        nbmlops.download_artifact(run.id, "nope", tmp_path / "dl")
    with nbmlops.track("e"), pytest.raises(nbmlops.ArtifactError):
        nbmlops.log_artifact(folder / "a.txt", name="../escape.txt")
    assert len(artifacts_env.blobs()) == 2
    if artifacts_env.s3 is not None:  # on S3, nothing lands in a local artifacts folder
        assert not artifacts_env.folder.exists()
    # a stored file changed behind nbmlops' back: the download is refused, writes nothing
    stored = {a.name: a.artifact.sha256 for a in nbmlops.get_run(run.id).artifacts}
    artifacts_env.tamper(stored["plots/a.txt"], lambda raw: raw + b"!")
    with pytest.raises(nbmlops.ArtifactError, match="failed verification: its content "
                       "changed") as refused:
        nbmlops.download_artifact(run.id, "plots/a.txt", tmp_path / "tampered")
    assert "tampered with or corrupted" in str(refused.value)
    assert not [p for p in tmp_path.glob("tampered/**/*") if p.is_file()]


def test_log_model_round_trips(artifacts_env: ArtifactsEnv, tmp_path: Path) -> None:
    import pickle

    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    with nbmlops.track("e") as run:
        nbmlops.log_model(model, "reg")
    path = nbmlops.download_artifact(run.id, "reg", tmp_path)
    with path.open("rb") as fh:
        loaded = pickle.load(fh)
    assert loaded.predict([[2.0]])[0] == pytest.approx(4.0)


def test_store_info_and_upgrade(store_env: Path) -> None:
    with nbmlops.track("e"):
        pass
    settings, info = nbmlops.store_info()
    assert settings.source == "env"
    assert info.revision == info.head_revision
    assert info.runs_by_status["finished"] == 1
    assert info.experiments == 1
    assert nbmlops.upgrade_store() == (info.revision, info.head_revision)


def test_many_metrics_flush_in_batches(store_env: Path) -> None:
    with nbmlops.track("e") as run:
        for i in range(12_000):
            nbmlops.log_metric("loss", 1.0 / (i + 1), step=i)
    history = nbmlops.metric_history(run.id, "loss")
    assert len(history) == 12_000
    assert [m.step for m in history] == list(range(12_000))
    assert nbmlops.get_run(run.id).metrics["loss"] == pytest.approx(1 / 12_000)


def test_metrics_survive_a_killed_process(store_env: Path, tmp_path: Path) -> None:
    """A process killed mid-run loses at most the last seconds of metrics, never the run."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os, signal, time, nbmlops
        with nbmlops.track("killed") as run:
            print(run.id, flush=True)
            nbmlops.log_metric("progress", 1.0)
            time.sleep(4.5)  # two background flushes happen meanwhile
            os.kill(os.getpid(), signal.SIGKILL)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    run_id = out.stdout.strip()
    assert out.returncode == -9
    assert run_id
    from nbmlops import api

    api.close()  # the next open is what notices the dead process
    rec = nbmlops.get_run(run_id)
    assert rec.status == "crashed"
    assert "stopped without ending it" in (rec.error or "")
    assert rec.metrics == {"progress": 1.0}


def test_sys_exit_zero_in_a_script_is_a_normal_end(store_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "exits.py"
    script.write_text(textwrap.dedent("""
        import sys, nbmlops
        with nbmlops.track("exits", "clean"):
            nbmlops.log_metric("m", 1.0)
            sys.exit(0)
    """))
    subprocess.run([sys.executable, str(script)], check=True)
    script.write_text(script.read_text().replace("clean", "dirty").replace("exit(0)", "exit(3)"))
    assert subprocess.run([sys.executable, str(script)]).returncode == 3
    frame = nbmlops.runs("exits", sort="start")
    assert list(zip(frame["name"], frame["status"], strict=True)) == [("clean", "finished"),
                                                                       ("dirty", "failed")]
    assert "SystemExit: 3" in (nbmlops.get_run(frame.run_id.iloc[1]).error or "")


def test_param_identity_matches_the_store_at_any_depth(store_env: Path) -> None:
    with nbmlops.track("e"):
        nbmlops.log_param("layers", (64, 32))
        nbmlops.log_param("layers", [64.0, 32])  # stored alike: a no-op
        nbmlops.log_param("flags", [True])
        with pytest.raises(nbmlops.ParamConflictError):
            nbmlops.log_param("flags", [1])


@pytest.fixture
def failing(store_env: Path):  # type: ignore[no-untyped-def]
    return failing_workspace


def test_a_failed_end_does_not_hide_the_users_exception(failing) -> None:  # type: ignore[no-untyped-def]
    store = failing(end_run=1)
    with pytest.raises(ZeroDivisionError) as raised, nbmlops.track("e") as run:
        1 / 0  # noqa: B018
    notes = "".join(getattr(raised.value, "__notes__", []))
    assert f"run {run.id[:8]} ran, but could not be recorded as failed" in notes
    assert run.end_pending
    from nbmlops import api

    write_pending(api.workspace())  # the background thread retries the pending end
    deadline = time.monotonic() + 10
    while run.end_pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.calls.count("end_run") == 2
    rec = nbmlops.get_run(run.id)
    assert rec.status == "failed"
    assert "ZeroDivisionError" in (rec.error or "")


def test_a_failed_end_after_success_says_the_work_ran(failing) -> None:  # type: ignore[no-untyped-def]
    failing(end_run=1)
    with pytest.raises(nbmlops.StoreError, match="ran, but could not be recorded as finished"):  # noqa: SIM117
        with nbmlops.track("e") as run:
            nbmlops.log_metric("m", 1.0)
    from nbmlops import api

    api.close()  # exiting tries a pending end once more
    rec = nbmlops.get_run(run.id)
    assert rec.status == "finished"
    assert rec.metrics == {"m": 1.0}


def test_a_failed_flush_writes_each_metric_once(failing) -> None:  # type: ignore[no-untyped-def]
    store = failing(log_batch=1)
    with nbmlops.track("e") as run:
        for i in range(3):
            nbmlops.log_metric("loss", float(i))
        with pytest.raises(nbmlops.StoreError):
            run.flush()  # fails: the values stay pending
        nbmlops.log_metric("loss", 3.0)
        run.flush()
    assert store.calls.count("log_batch") == 2
    assert [m.value for m in nbmlops.metric_history(run.id, "loss")] == [0.0, 1.0, 2.0, 3.0]


def test_logging_never_raises_store_errors(failing) -> None:  # type: ignore[no-untyped-def]
    from nbmlops.tracking import run as runmod

    failing(log_batch=1)
    with nbmlops.track("e") as run:
        for i in range(runmod.FLUSH_NOW_AT):  # the logging thread flushes once, and fails
            nbmlops.log_metric("x", float(i))
    assert len(nbmlops.metric_history(run.id, "x")) == runmod.FLUSH_NOW_AT


def test_runs_argument_checks(store_env: Path) -> None:
    with pytest.raises(ValueError, match="limit must be a positive number"):
        nbmlops.runs(limit=0)
    with nbmlops.track("e"):
        nbmlops.log_metric("x", 1.0)
    with pytest.raises(ValueError, match=r"limit must be a positive number of runs up to"):
        nbmlops.runs(limit=2**62, sort="-metrics.x")  # not an overflow deep in the store
    with pytest.raises(ValueError, match="unknown run kind 'cel'"):
        nbmlops.runs(kind="cel")


def test_run_names_are_checked_before_anything_is_written(store_env: Path) -> None:
    with pytest.raises(ValueError, match="longer than 255"), nbmlops.track("e", "x" * 256):
        pass
    assert nbmlops.runs().empty


def test_a_forked_child_logs_to_the_inherited_run(store_env: Path) -> None:
    import multiprocessing

    def child() -> None:
        nbmlops.log_metric("from_child", 7.0)
        with nbmlops.track("child-exp", "in-child"):
            nbmlops.log_metric("own", 1.0)

    ctx = multiprocessing.get_context("fork")
    with nbmlops.track("forks") as run:
        nbmlops.log_metric("from_parent", 1.0)
        proc = ctx.Process(target=child)
        proc.start()
        proc.join(30)
        assert proc.exitcode == 0
    assert nbmlops.get_run(run.id).metrics == {"from_parent": 1.0, "from_child": 7.0}
    child_run = nbmlops.runs("child-exp")
    assert list(child_run["status"]) == ["finished"]
    assert child_run["metrics.own"].tolist() == [1.0]


@pytest.mark.parametrize("name", ["a#b", "a?b", "a\u2215b", "a\u2044b", "a\u29f8b", ""])
def test_log_artifact_refuses_unsafe_names_and_records_nothing(
        artifacts_env: ArtifactsEnv, tmp_path: Path, name: str) -> None:
    src = tmp_path / "report.txt"
    src.write_text("R")
    with nbmlops.track("e") as run:
        with pytest.raises(nbmlops.ArtifactError, match="relative path like") as info:
            nbmlops.log_artifact(src, name=name)
        assert "\n" not in str(info.value)
        with pytest.raises(nbmlops.ArtifactError, match="is not allowed"):
            nbmlops.log_artifact(tmp_path, name=name)  # a folder under that name
        nbmlops.log_artifact(src, name="ok/report.txt")
    assert [a.name for a in nbmlops.get_run(run.id).artifacts] == ["ok/report.txt"]
    assert len(artifacts_env.blobs()) == 1  # the refused names stored no bytes


def test_log_artifact_refuses_a_folder_holding_an_unsafe_name_before_storing_any(
        artifacts_env: ArtifactsEnv, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.txt").write_text("A")
    (folder / "why?.txt").write_text("B")
    with nbmlops.track("e") as run, pytest.raises(
            nbmlops.ArtifactError, match=re.escape("'out/why?.txt' is not allowed")):
        nbmlops.log_artifact(folder)
    assert nbmlops.get_run(run.id).artifacts == ()
    assert artifacts_env.blobs() == []


def test_params_are_stored_exactly_and_read_back_the_same(store_env: Path) -> None:
    long = "x" * 10_000
    nested = {"optimizer": {"name": "adam", "betas": [0.9, 0.999], "opts": {"amsgrad": True}},
              "layers": [{"units": 64}, {"units": 32, "drop": None}]}
    with nbmlops.track("e") as run:
        nbmlops.log_param("s", long)
        nbmlops.log_param("cfg", nested)
        nbmlops.log_params({"grid": tuple(range(100)), "n": np.int64(3), "big": 2**70})
    expected = {"s": long, "cfg": nested, "grid": list(range(100)), "n": 3, "big": 2**70}
    assert dict(nbmlops.get_run(run.id).params) == expected
    frame = nbmlops.runs(experiment="e")
    for key, value in expected.items():
        assert frame[f"params.{key}"].iloc[0] == value
    assert len(frame["params.s"].iloc[0]) == 10_000


@pytest.mark.parametrize(("value", "message"), [
    (b"\x00\x01", "it is bytes; store bytes as a file with nbmlops.log_artifact"),
    (bytearray(b"ab"), "it is bytearray; store bytes as a file with nbmlops.log_artifact"),
    ({"a": {"b": b"x"}}, "it is bytes"),
    ({1: "a"}, "a dict with a int key"),
    ({1, 2}, "it is a set, which is not JSON"),
    (object(), "it is a object, which is not JSON"),
    (np.arange(3), "nbmlops.log_input"),
    ("y" * 100_001, "100,003 characters as JSON; a param holds at most 100,000"),
])
def test_params_that_cannot_be_stored_exactly_are_refused(
        store_env: Path, value: object, message: str) -> None:
    with nbmlops.track("e") as run:
        nbmlops.log_param("kept", "yes")
        with pytest.raises(nbmlops.errors.ParamValueError) as info:
            nbmlops.log_param("p", value)
        assert message in str(info.value)
        assert "\n" not in str(info.value)
        assert isinstance(info.value, ValueError)
        assert info.value.key == "p"
    rec = nbmlops.get_run(run.id)
    assert rec.status == "finished"
    assert dict(rec.params) == {"kept": "yes"}  # nothing changed, nothing stored instead


def test_track_params_are_checked_before_the_run_starts(store_env: Path) -> None:
    with pytest.raises(nbmlops.errors.ParamValueError, match="log_artifact"), \
            nbmlops.track("e", params={"blob": b"abc"}):
        pass
    assert nbmlops.runs(experiment="e").empty
