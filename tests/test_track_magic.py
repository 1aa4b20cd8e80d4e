"""``%%track`` and ``%runs`` driven through a real IPython shell, as a user types them."""

from __future__ import annotations

import math
import textwrap

import pytest

import nbmlops
from tests.shell import one_line_error, run

SETUP = textwrap.dedent("""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    rng = np.random.default_rng(0)
    X_train = pd.DataFrame(rng.normal(size=(120, 3)), columns=["tenure", "spend", "calls"])
    y_train = (X_train.tenure + 0.3 * X_train.spend > 0).astype(int)
    X_test = pd.DataFrame(rng.normal(size=(40, 3)), columns=["tenure", "spend", "calls"])
    y_test = (X_test.tenure + 0.3 * X_test.spend > 0).astype(int)
    C = 0.5
""")

BASELINE = textwrap.dedent("""\
    %%track --experiment churn --name baseline
    model = LogisticRegression(C=C, max_iter=200).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
""")


def only_run(**where: str):  # type: ignore[no-untyped-def]
    frame = nbmlops.runs()
    assert len(frame) == 1, frame
    return nbmlops.get_run(frame.run_id.iloc[0])


def test_issue_example_records_everything(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    result = run(shell, BASELINE)
    assert result.success
    out = capsys.readouterr().out

    rec = only_run()
    assert (rec.experiment, rec.name, rec.kind, rec.status) == ("churn", "baseline", "cell",
                                                                "finished")
    assert rec.code == BASELINE.split("\n", 1)[1]
    assert rec.code_hash is not None
    assert len(rec.code_hash) == 64
    assert rec.execution_count == result.execution_count
    assert rec.params["C"] == 0.5
    assert rec.params["model"] == "LogisticRegression"
    assert rec.params["model.max_iter"] == 200
    assert set(rec.metrics) == {"accuracy"}
    assert rec.metrics["accuracy"] == pytest.approx(shell.user_ns["accuracy"])
    inputs = {link.name: link.dataset for link in rec.inputs}
    assert set(inputs) == {"X_train", "y_train", "X_test", "y_test"}
    assert inputs["X_train"].shape == (120, 3)
    assert inputs["X_train"].columns == ("tenure", "spend", "calls")
    assert inputs["X_train"].content_hash.startswith("xxh3_128:")
    assert [a.name for a in rec.artifacts] == ["model", "predictions-sample.json"]
    assert rec.artifacts[0].kind == "model"
    assert rec.environment is not None
    assert rec.environment.python.startswith("3.")
    assert "scikit-learn" in rec.environment.package_versions()
    assert rec.user
    assert rec.host
    assert rec.end_time is not None
    assert rec.end_time >= rec.start_time
    # the one-line summary names the run, its status, its duration and the metric
    assert f"nbmlops run {rec.id[:8]} churn/baseline finished in" in out
    assert "accuracy=" in out


def test_cell_behaves_as_without_the_magic(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, "x = 2")
    capsys.readouterr()
    plain = run(shell, "y = x * 21\nprint('printed', y)\ny + 0.5")
    plain_out = capsys.readouterr().out
    tracked = run(shell, "%%track -q\ny = x * 21\nprint('printed', y)\ny + 0.5")
    tracked_out = capsys.readouterr().out
    assert tracked.success
    assert plain.success
    assert tracked.result == plain.result == 42.5
    assert shell.user_ns["y"] == 42
    assert shell.user_ns["_"] == 42.5  # the displayhook saw the value, like any cell
    assert tracked_out.replace(f"Out[{tracked.execution_count}]", "Out[N]") == \
        plain_out.replace(f"Out[{plain.execution_count}]", "Out[N]")


def test_failing_cell_is_recorded_and_still_raises(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    result = run(shell, "%%track -e errors\na = 1\nraise ValueError('bad data in column 3')")
    out = capsys.readouterr().out
    assert not result.success
    assert isinstance(result.error_in_exec, ValueError)
    assert "bad data in column 3" in out  # the user's traceback is shown as usual
    rec = only_run()
    assert rec.status == "failed"
    assert rec.error is not None
    assert "ValueError: bad data in column 3" in rec.error
    assert "line 3" in rec.error  # line numbers match the cell (the magic line is line 1)
    assert "run_ast_nodes" not in rec.error
    assert "interactiveshell" not in rec.error
    assert "failed in" in out


def test_failing_cell_does_not_capture_stale_outputs(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, "score = 0.9")
    run(shell, "%%track -q\nscore = 0.5\nraise RuntimeError('x')")
    rec = only_run()
    assert rec.status == "failed"
    assert rec.metrics == {}


def test_values_left_from_earlier_cells_are_not_results(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, "old = 0.25\nflag = False")
    assert run(shell, "%%track -q\nif flag:\n    old = 0.75\nnew = 0.5").success
    rec = only_run()
    assert rec.metrics == {"new": 0.5}
    assert rec.params == {"flag": False}


def test_keyboard_interrupt_marks_interrupted(shell) -> None:  # type: ignore[no-untyped-def]
    result = run(shell, "%%track -q\nraise KeyboardInterrupt")
    assert not result.success
    assert only_run().status == "interrupted"


def test_log_functions_inside_the_cell(shell, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "report.txt").write_text("hello")
    code = textwrap.dedent(f"""\
        %%track -q --name logged
        import nbmlops
        nbmlops.log_param("lr", 0.01)
        nbmlops.log_params({{"layers": 3, "act": "relu"}})
        for epoch in range(5):
            nbmlops.log_metric("loss", 1.0 / (epoch + 1))
        nbmlops.log_metrics({{"val_loss": 0.4, "val_acc": 0.8}}, step=4)
        nbmlops.log_artifact({str(tmp_path / "report.txt")!r}, name="reports/r.txt")
        nbmlops.set_tags({{"stage": "dev"}})
    """)
    assert run(shell, code).success
    rec = only_run()
    assert rec.params == {"lr": 0.01, "layers": 3, "act": "relu"}
    assert rec.metrics["loss"] == pytest.approx(0.2)
    assert rec.metrics["val_acc"] == 0.8
    assert [m.step for m in nbmlops.metric_history(rec.id, "loss")] == [0, 1, 2, 3, 4]
    assert rec.tags == {"stage": "dev"}
    assert [a.name for a in rec.artifacts] == ["reports/r.txt"]
    dest = nbmlops.download_artifact(rec.id, "reports/r.txt", tmp_path / "out")
    assert dest.read_text() == "hello"


def test_param_conflict_inside_cell_fails_the_cell(shell) -> None:  # type: ignore[no-untyped-def]
    code = "%%track -q\nimport nbmlops\nnbmlops.log_param('k', 1)\nnbmlops.log_param('k', 1)\n" \
           "nbmlops.log_param('k', 2)"
    result = run(shell, code)
    assert isinstance(result.error_in_exec, nbmlops.ParamConflictError)
    rec = only_run()
    assert rec.status == "failed"
    assert rec.params == {"k": 1}


def test_explicit_flags_override_heuristics(shell, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    code = textwrap.dedent(f"""\
        %%track -q --params C --metrics n_errors --model clf --data X_train {data} --tag a=1 --tag b=x=y
        clf = LogisticRegression(C=C).fit(X_train, y_train)
        n_errors = int((clf.predict(X_test) != y_test).sum())
        accuracy = 1.0
    """)
    assert run(shell, code).success
    rec = only_run()
    assert set(rec.params) == {"C", "clf", *[k for k in rec.params if k.startswith("clf.")]}
    assert rec.metrics == {"n_errors": float(shell.user_ns["n_errors"])}
    assert [a.name for a in rec.artifacts] == ["clf", "predictions-sample.json"]
    assert {link.name for link in rec.inputs} == {"X_train", str(data)}
    assert rec.tags == {"a": "1", "b": "x=y"}


def test_no_auto_records_only_what_is_asked(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    code = "%%track -q --no-auto\nimport nbmlops\nmodel = LogisticRegression().fit(X_train, " \
           "y_train)\nscore = 0.5\nnbmlops.log_metric('explicit', 1.0)"
    assert run(shell, code).success
    rec = only_run()
    assert rec.params == {}
    assert rec.inputs == ()
    assert rec.artifacts == ()
    assert rec.metrics == {"explicit": 1.0}


def test_in_place_fit_and_frame_changes_are_outputs(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, "clf = LogisticRegression()\nframe = X_train.copy()")
    assert run(shell, "%%track -q\nclf.fit(X_train, y_train)\nframe['ratio'] = frame.spend / 2")\
        .success
    rec = only_run()
    assert [a.name for a in rec.artifacts] == ["clf", "predictions-sample.json"]
    assert [link.name for link in rec.outputs] == ["frame"]
    assert rec.outputs[0].dataset.columns == ("tenure", "spend", "calls", "ratio")


def test_ipython_syntax_inside_the_cell(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, "%%track -q\nvals = !echo 3\nn = float(vals[0])\n%time m = n * 2").success
    assert shell.user_ns["m"] == 6.0
    assert only_run().metrics == {"n": 3.0, "m": 6.0}


@pytest.mark.parametrize(("cell", "message"), [
    ("%%track --bogus\nx = 1", "unrecognized arguments: --bogus"),
    ("%%track --tag nokey\nx = 1", "write tags as KEY=VALUE"),
    ("%%track --tag =v\nx = 1", "write tags as KEY=VALUE"),
    ("%%track --params 3x\nx = 1", "expects variable names"),
    ("%%track\nx = (1,", "the cell does not parse"),
    ("%%track\n", "the cell body is empty"),
    ("%%track\nawait something()", "top-level await is not supported"),
])
def test_bad_input_is_a_one_line_usage_error(shell, capsys, cell, message) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%%track -q\nkept = 0.5")  # something already recorded, that must survive
    assert message in one_line_error(shell, capsys, cell)
    frame = nbmlops.runs()
    assert len(frame) == 1
    assert frame["metrics.kept"].iloc[0] == 0.5


def test_runs_magic_filters_sorts_and_returns_the_frame(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    for i, acc in enumerate([0.7, 0.95, 0.85]):
        run(shell, f"%%track -q -e churn -n r{i}\naccuracy = {acc}")
    run(shell, "%%track -q -e other\naccuracy = 0.99")
    capsys.readouterr()
    result = run(shell, '%runs --experiment churn --where "metrics.accuracy > 0.8" '
                        '--sort -metrics.accuracy')
    frame = result.result.frame
    assert list(frame["name"]) == ["r1", "r2"]
    assert list(frame["metrics.accuracy"]) == [0.95, 0.85]
    assert list(frame.columns[:6]) == ["run_id", "experiment", "name", "status", "start",
                                       "duration_s"]
    shown = capsys.readouterr().out.splitlines()  # shown inline as a table
    assert shown[0] == f"Out[{result.execution_count}]: "
    shown = shown[1:]
    header = shown[0].split()  # metrics first, by their own names; one experiment: said below
    assert header[:5] == ["run_id", "name", "accuracy", "status", "start"]
    assert shown[1].split()[0] == frame.run_id.iloc[0][:8]
    assert shown[1].split()[1:4] == ["r1", "0.95", "finished"]
    assert shown[-1] == "2 runs in experiment churn"
    limited = run(shell, "%runs -s metrics.accuracy -n 2").result
    assert list(limited.frame["metrics.accuracy"]) == [0.7, 0.85]
    assert "showing 2 of 4 runs" in repr(limited)


def test_runs_magic_bad_filter_is_a_usage_error(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    result = run(shell, '%runs --where "metrics.accuracy >"')
    shown = "".join(capsys.readouterr())
    assert not result.success
    assert "cannot parse the filter" in shown
    assert "Traceback" not in shown


def test_help_is_available(shell) -> None:  # type: ignore[no-untyped-def]
    doc = shell.find_cell_magic("track").__doc__
    assert "--experiment" in doc
    assert "Record this cell as a run" in doc


def test_unload_removes_the_magics(shell) -> None:  # type: ignore[no-untyped-def]
    run(shell, "%unload_ext nbmlops")
    assert shell.find_cell_magic("track") is None
    assert not hasattr(shell, "_nbmlops_session")
    assert run(shell, "%load_ext nbmlops").success
    assert shell.find_cell_magic("track") is not None


def test_nan_and_numpy_metrics(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, "import numpy as np\n%%track -q\n" if False else "import numpy as np").success
    assert run(shell, "%%track -q\nloss = float('nan')\nauc = np.float32(0.75)\n"
                      "big = float('inf')").success
    rec = only_run()
    assert math.isnan(rec.metrics["loss"])
    assert rec.metrics["auc"] == 0.75
    assert rec.metrics["big"] == math.inf


def test_runs_show_displays_one_run_with_its_lineage(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    run(shell, SETUP)
    run(shell, BASELINE)
    run_id = nbmlops.runs().run_id.iloc[0]
    capsys.readouterr()
    result = run(shell, f"%runs --show {run_id[:8]}")
    shown = capsys.readouterr().out
    assert result.success
    assert f"run {run_id}" in shown
    assert "status       finished" in shown
    assert "C = 0.5" in shown
    assert "X_train: dataframe 120x3, 3 columns, xxh3_128:" in shown
    assert "model: model," in shown
    assert "| model = LogisticRegression(C=C, max_iter=200).fit(X_train, y_train)" in shown
    html = result.result._repr_html_()
    assert f"<code>{run_id}</code>" in html
    assert "<th style='text-align:left;padding-right:1em'>accuracy</th>" in html


@pytest.mark.parametrize(("ident", "message"), [
    ("deadbeef", "no run has that id"),
    ("zz", "made of hex digits"),
    ("ab", "at least 4 characters"),
])
def test_runs_show_unknown_id_is_a_one_line_usage_error(shell, capsys, ident, message  # type: ignore[no-untyped-def]
                                                        ) -> None:
    run(shell, "%%track -q\nkept = 1.5")
    assert message in one_line_error(shell, capsys, f"%runs --show {ident}")
    assert len(nbmlops.runs()) == 1


def test_a_rebound_name_counts_even_at_a_reused_address(shell) -> None:  # type: ignore[no-untyped-def]
    # the freed old value's address is often reused for the new one; the result must count
    run(shell, "n = 3.0")
    for _ in range(20):
        run(shell, "loss = None")
        assert run(shell, "%%track -q\nloss = n / 9").success
    frame = nbmlops.runs()
    assert len(frame) == 20
    assert frame["metrics.loss"].notna().all()


def test_loading_the_extension_creates_no_store(ipython_shell, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from nbmlops import api

    store = tmp_path / "later" / "lineage.db"
    monkeypatch.setenv("NBMLOPS_STORE", str(store))
    monkeypatch.chdir(tmp_path)
    try:
        assert ipython_shell.run_cell("%load_ext nbmlops").success
        ipython_shell.run_cell("import time; time.sleep(0.5)")  # let the warm-up finish
        assert not store.exists()
        assert not (tmp_path / ".nbmlops").exists()
        assert ipython_shell.run_cell("%%track -q\nx = 1.5").success
        assert store.exists()
    finally:
        ipython_shell.run_cell("%unload_ext nbmlops")
        api.close()


def test_a_store_failing_at_the_end_is_reported_and_retried(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    from nbmlops import api
    from tests.faults import failing_workspace

    failing_workspace(end_run=1)
    result = run(shell, "%%track -q\nvalue = 2.5")
    shown = "".join(capsys.readouterr())
    assert not result.success
    assert "ran, but could not be recorded as finished" in shown
    assert shell.user_ns["value"] == 2.5  # the cell did run
    api.close()  # the pending end is written on the way out
    assert nbmlops.runs()["metrics.value"].tolist() == [2.5]


def test_explicit_params_are_stored_exactly_or_left_out_with_a_warning(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    code = textwrap.dedent("""\
        %%track --params prompt,cfg,raw
        prompt = "word " * 2000
        cfg = {"opt": {"name": "adam", "betas": [0.9, 0.999]}}
        raw = b"bytes"
    """)
    capsys.readouterr()
    assert run(shell, code).success
    shown = "".join(capsys.readouterr())
    assert "warning: --params raw not recorded: param 'raw' cannot be stored as it is: " \
           "it is bytes; store bytes as a file with nbmlops.log_artifact" in shown
    rec = only_run()
    assert rec.status == "finished"
    assert rec.params == {"prompt": "word " * 2000,
                          "cfg": {"opt": {"name": "adam", "betas": [0.9, 0.999]}}}
    assert shell.user_ns["raw"] == b"bytes"  # the cell itself is untouched
    capsys.readouterr()
    assert run(shell, "%runs").success
    table = capsys.readouterr().out
    assert "word word" in table
    assert "…" in table  # cut for display only
    assert max(len(line) for line in table.splitlines()) < 400
