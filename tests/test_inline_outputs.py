"""What the magics show inline, read the way a person reads it: registry and runs tables
formatted for people, drift headlines coloured by their verdict, plot titles naming their
numbers, progress lines that fit a narrow notebook. Driven through a real IPython shell."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import nbmlops
from tests.shell import run
from tests.test_register_magic import SETUP

MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,}")


def rendered(shell: Any, value: Any) -> dict[str, str]:
    """The mimebundle IPython makes of a cell's value (what the notebook shows)."""
    bundle, _ = shell.display_formatter.format(value)
    return bundle


def headers(html: str) -> list[str]:
    return re.findall(r"<th>([^<]*)</th>", html)


def test_registry_tables_are_for_people(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    assert run(shell, "%%track -q -n fit\nmodel = LogisticRegression().fit(X_train[features], "
                      "y_train)").success
    assert run(shell, "%register model --name churn --evaluate X_test y_test").success
    assert run(shell, "%register model --name churn").success
    assert run(shell, "%register --promote churn 1 production --reason first").success
    assert run(shell, "%register --promote churn 2 production").success
    run_id = nbmlops.runs(kind="cell").run_id.iloc[0]

    models = run(shell, "%register --list").result
    html = rendered(shell, models)["text/html"]
    assert headers(html) == ["name", "latest", "versions", "aliases", "description",
                             "created", "by"]
    assert "production=2" in html
    assert not MICROSECONDS.search(html)
    assert "None" not in html
    assert "NaN" not in html
    assert models.frame["latest_version"].tolist() == [2]  # the full frame is still there

    versions = run(shell, "%register --list churn").result
    html = rendered(shell, versions)["text/html"]
    columns = headers(html)
    assert columns[:3] == ["version", "aliases", "accuracy"]  # metrics right after aliases
    assert columns.index("f1") < columns.index("created") < columns.index("run")
    assert f"<td>{run_id[:8]}</td>" in html
    assert run_id not in html
    assert not MICROSECONDS.search(html)
    assert "None" not in html
    assert "NaN" not in html

    history = run(shell, "%register --history churn@production").result
    text = rendered(shell, history)["text/plain"]
    lines = text.splitlines()
    assert lines[0].split() == ["time", "action", "model", "alias", "change", "user",
                                "reason"]
    assert "nothing → 1" in lines[1]
    assert lines[1].rstrip().endswith("first")
    assert "1 → 2" in lines[2]
    assert lines[-1] == "2 events"
    assert not MICROSECONDS.search(text)
    assert "NaN" not in text
    assert "<NA>" not in text


def test_runs_table_puts_metrics_first_and_the_sorted_one_first_of_all(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, SETUP).success
    for c in (0.01, 1.0):
        assert run(shell, textwrap.dedent(f"""\
            %%track -q -n fit-{c}
            from sklearn.metrics import roc_auc_score
            m = LogisticRegression(C={c}).fit(X_train[features], y_train)
            import nbmlops
            nbmlops.log_metrics({{"accuracy": m.score(X_test[features], y_test),
                                 "candidates": 1, "columns": 3,
                                 "auc": roc_auc_score(y_test, m.predict_proba(
                                     X_test[features])[:, 1])}})""")).success
    table = run(shell, "%runs --sort -metrics.auc").result
    html = rendered(shell, table)["text/html"]
    columns = headers(html)
    assert columns[:3] == ["run_id", "name", "auc"]  # the sort key, under its own name
    assert set(columns[3:6]) == {"accuracy", "candidates", "columns"}
    assert columns.index("columns") < columns.index("status") < columns.index("start")
    full = table.frame.run_id.tolist()
    assert f"<td>{full[0][:8]}</td>" in html
    assert full[0] not in html
    assert not MICROSECONDS.search(html)
    assert "in experiment default" in html
    assert "experiment" not in columns
    best = table.frame.sort_values("metrics.auc").iloc[-1]
    assert full[0] == best.run_id


DRIFT = textwrap.dedent("""
    import numpy as np, pandas as pd, nbmlops
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500),
                        "c": rng.normal(size=500), "pred": rng.normal(size=500)})
    cur = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500),
                        "c": rng.normal(size=500), "pred": rng.normal(2, 1, size=500)})
""")


def test_drift_headline_colour_matches_the_verdict(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, DRIFT).success
    report = run(shell, 'nbmlops.drift(ref, cur, prediction="pred", record=False)').result
    assert report.prediction_drift
    assert not report.dataset_drift
    html = rendered(shell, report)["text/html"]
    verdict = re.search(r'class="nbmlops-drift-verdict" data-verdict="(\w+)" '
                        r'style="font-weight:600;color:(#\w+)">([^<]*)<', html)
    assert verdict is not None
    assert verdict.group(3).startswith("no dataset drift")
    assert "prediction drifted (ks D=" in verdict.group(3)
    assert verdict.groups()[:2] == ("drift", "#cf222e")  # red, not green
    some = run(shell, "cur2 = cur.assign(a=cur.a + 3)\n"
                      "nbmlops.drift(ref.drop(columns='pred'), cur2.drop(columns='pred'), "
                      "record=False)").result
    assert some.drifted == ["a"]
    assert not some.dataset_drift
    assert 'data-verdict="some" style="font-weight:600;color:#9a6700"' in rendered(
        shell, some)["text/html"]
    calm = run(shell, "nbmlops.drift(ref[['b', 'c']], cur[['b', 'c']], record=False)").result
    assert 'data-verdict="none" style="font-weight:600;color:#1a7f37"' in rendered(
        shell, calm)["text/html"]


def test_drift_names_the_statistic_and_the_p_value(shell) -> None:  # type: ignore[no-untyped-def]
    assert run(shell, DRIFT).success
    report = run(shell, "r = nbmlops.drift(ref, cur.assign(a=cur.a + 3), record=False, "
                        "tests={'c': 'psi'})\nr").result
    text = rendered(shell, report)["text/plain"]
    a = report.column("a")
    assert f"a: ks D={a.statistic:.4g}, p=" in text  # the statistic named, the p-value apart
    assert "(drifted when p < 0.05)" in text
    assert re.search(r"c: psi=[0-9.]+ \(drifted when > 0\.2\)", text)
    assert a.result.startswith("ks D=")
    assert ", p=" in a.result
    # the figure's titles are the same words, drawn by matplotlib
    from matplotlib.figure import Figure

    drawn: list[str] = []
    original = Figure.savefig

    def keep_titles(fig: Figure, *args: Any, **kw: Any) -> Any:
        drawn.extend(ax.get_title() for ax in fig.axes)
        return original(fig, *args, **kw)

    Figure.savefig = keep_titles  # type: ignore[method-assign]
    try:
        report.figure(top=4)
    finally:
        Figure.savefig = original  # type: ignore[method-assign]
    assert f"a\nks D={a.statistic:.4g}, p=" + drawn[0].split(", p=")[1] == drawn[0]
    assert any(t.startswith("c\npsi=") for t in drawn)


def test_progress_line_wraps_in_a_narrow_notebook(shell) -> None:  # type: ignore[no-untyped-def]
    from nbmlops.progress import ProgressState
    from nbmlops.widgets.progress import WidgetProgress

    bar = WidgetProgress(every_s=0)
    long = ProgressState(description="successive halving over a long search space name",
                         done=3, total=None, elapsed_s=12.0, best=0.91, metric="roc_auc")
    bar.update(long)
    assert bar.text == long.line()
    assert bar.box.layout.flex_flow == "row wrap"  # the line goes under the bar
    assert bar.bar.layout.min_width == "80px"
    assert bar.bar.layout.width == "auto"
    assert "white-space:normal" in bar.label.value  # wraps, not cut with an ellipsis
    assert long.line().replace("&", "&amp;") in bar.label.value.replace("&#x27;", "'")
