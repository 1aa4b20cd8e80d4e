"""``nbmlops reproduce``: runs recorded in real kernels, rebuilt from their slices and run
again by papermill in a fresh kernel."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nbmlops
from nbmlops.cli import main


def notebook(path: Path, *cells: str) -> Path:
    path.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": f"cell{i}", "source": src, "metadata": {}, "outputs": [],
         "execution_count": None} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_a_clean_linear_notebook_run_by_papermill_reproduces_exactly(store_env: Path) -> None:
    project = store_env / "project"
    nb = notebook(
        project / "train.ipynb", "%load_ext nbmlops",
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression",
        "rng = np.random.default_rng(0)\nX = rng.normal(size=(200, 3))\n"
        "y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)",
        "print('scratch: not needed by the run')",
        "C = 0.5",
        "%%track --experiment churn --name baseline\n"
        "model = LogisticRegression(C=C).fit(X, y)\naccuracy = float(model.score(X, y))")
    papermill = str(Path(sys.executable).parent / "papermill")
    done = subprocess.run([papermill, str(nb), str(project / "out.ipynb"), "-k", "python3",
                           "--cwd", str(project)], capture_output=True, text=True,
                          timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    (run_id,) = nbmlops.runs("churn").run_id
    original = nbmlops.get_run(run_id)
    assert original.slice is not None
    assert original.slice.clean
    assert [c.code for c in original.slice.cells] == [
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression",
        "rng = np.random.default_rng(0)\nX = rng.normal(size=(200, 3))\n"
        "y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)", "C = 0.5"]

    # --notebook-only: the linear notebook, written and not run
    out = io.StringIO()
    assert main(["reproduce", run_id[:8], "--notebook-only", "-o", "rebuilt.ipynb"],
                out=out) == 0
    assert "linear notebook written to rebuilt.ipynb (not run)" in out.getvalue()
    cells = json.loads((project / "rebuilt.ipynb").read_text())["cells"]
    sources = [c["source"] for c in cells if c["cell_type"] == "code"]
    assert "scratch" not in "".join(sources)
    params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    assert "C = 0.5" in params["source"]
    assert sources[-1].startswith("%%track --experiment \"churn\"")
    assert len(nbmlops.runs(kind="reproduce")) == 0

    result = nbmlops.reproduce(run_id)
    assert result.status == "reproduced", str(result)
    assert str(result).startswith(
        f"reproduced: run {run_id[:8]} (1 metrics, 2 inputs, 1 model predictions equal)")
    assert "package versions differ" not in str(result)
    # the model's predictions on the first 100 rows of X, kept with the run
    sample = json.loads(nbmlops.download_artifact(run_id, "predictions-sample.json",
                                                  store_env / "dl").read_text())
    assert (sample["input"], sample["rows"], sample["sample"]["shape"]) == ("X", 100, [100, 3])
    assert len(sample["predictions"]["model"]["data"]) == 100
    rep = nbmlops.get_run(result.reproduction_run_id)
    assert (rep.kind, rep.status, rep.tags["reproduces"], rep.tags["reproduced"]) == (
        "reproduce", "finished", run_id, "true")
    assert rep.metrics["accuracy"] == original.metrics["accuracy"]
    again = nbmlops.get_run(result.reproduced_run_id)
    assert again.parent_run_id == rep.id


def test_an_out_of_order_run_on_a_changed_file_says_what_differs_and_why(shell, store_env: Path  # type: ignore[no-untyped-def]
                                                                        ) -> None:
    project = store_env / "project"
    (project / "prices.csv").write_text("price\n1\n2\n3\n")
    for i, code in enumerate(("import pandas as pd", "prices = pd.read_csv('prices.csv')",
                              "factor = 2", "scaled = prices.price * factor", "factor = 3")):
        assert shell.run_cell(code, store_history=True, cell_id=f"c{i}").success
    body = textwrap.dedent("""\
        %%track --experiment shop --name total --data prices.csv scaled
        total = float(scaled.sum() + factor)""")
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("shop").run_id
    original = nbmlops.get_run(run_id)
    assert [f.kind for f in original.slice.flags] == ["out_of_order"]
    assert original.metrics["total"] == 15.0

    (project / "prices.csv").write_text("price\n1\n2\n4\n")
    result = nbmlops.reproduce(run_id[:8])
    text = str(result)
    assert result.status == "differs", text
    assert not result.ok
    assert text.startswith(f"NOT reproduced: run {run_id[:8]}")
    assert "differs: metric total: 15.0 then, 17.0 now" in text
    assert "differs: input prices.csv: content" in text
    assert "likely cause: hidden state in the original run: out of order: " in text
    assert "likely cause: data prices.csv changed since the run" in text
    rep = nbmlops.get_run(result.reproduction_run_id)
    assert (rep.kind, rep.tags["reproduced"]) == ("reproduce", "false")


def test_a_run_without_a_slice_cannot_be_reproduced(store_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with nbmlops.track("e", "script"):
        nbmlops.log_metric("m", 1.0)
    (run_id,) = nbmlops.runs().run_id
    with pytest.raises(nbmlops.NbmlopsError, match="has no slice: it was recorded without"):
        nbmlops.reproduce(run_id)
    assert main(["reproduce", run_id[:8]]) == 1
    assert "nbmlops: error: run" in capsys.readouterr().err
    with pytest.raises(ValueError, match="rtol -1"):
        nbmlops.reproduce(run_id, rtol=-1)


def test_the_magic_says_in_one_line_why_a_run_cannot_be_reproduced(shell, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.shell import one_line_error

    with nbmlops.track("e", "script"):
        nbmlops.log_metric("m", 1.0)
    (run_id,) = nbmlops.runs().run_id
    shown = one_line_error(shell, capsys, f"%reproduce {run_id[:8]}")
    assert f"%reproduce: run {run_id[:8]} has no slice" in shown
    shown = one_line_error(shell, capsys, "%reproduce zzzz9999")
    assert "%reproduce:" in shown


def test_what_differs_names_package_versions_and_tolerates_rtol(store_env: Path) -> None:
    """The comparison step on two recorded runs whose environments differ."""
    import dataclasses

    from nbmlops._types import Environment, HiddenStateFlag, RunSlice
    from nbmlops.reproduce.replay import compare, explain, package_changes

    with nbmlops.track("e", "then"):
        nbmlops.log_metric("loss", 0.25)
    then = nbmlops.get_run(nbmlops.runs().run_id[0])
    env = Environment(digest="x", python="3.11.7", implementation="CPython", platform="linux",
                      packages=(("numpy", "2.1.0"), ("scikit-learn", "1.5.0")))
    then = dataclasses.replace(then, environment=env)
    now = dataclasses.replace(
        then, metrics={"loss": 0.25 * (1 + 1e-9)},
        environment=dataclasses.replace(env, packages=(("numpy", "2.1.0"),
                                                       ("scikit-learn", "1.6.1"))))
    diffs, changed, _ = compare(then, now, rtol=0.0)
    assert diffs == ["metric loss: 0.25 then, 0.25000000025 now"]
    assert compare(then, now, rtol=1e-6)[0] == []
    packages = package_changes(then, now)
    assert packages == ["scikit-learn 1.5.0 -> 1.6.1"]
    flag = HiddenStateFlag(kind="unseeded", name="m", detail="estimator m has no fixed ...")
    causes = explain(RunSlice(run_id=then.id, session_id="s", cells=(), flags=(flag,)),
                     changed, packages)
    assert causes == ["hidden state in the original run: unseeded: estimator m has no fixed ...",
                      "package versions differ: scikit-learn 1.5.0 -> 1.6.1"]


def test_a_deleted_cells_code_is_in_the_reproduced_notebook_and_runs(shell, store_env: Path  # type: ignore[no-untyped-def]
                                                                    ) -> None:
    project = store_env / "project"
    nb = project / "analysis.ipynb"
    shell.user_ns["__vsc_ipynb_file__"] = str(nb)
    cells = [("c1", "base = 4"), ("c2", "extra = 1.5"), ("c3", "rate = 0.25")]
    for cid, code in cells:
        assert shell.run_cell(code, store_history=True, cell_id=cid).success
    nb.write_text(json.dumps({"cells": [  # c2 deleted, and the notebook saved
        {"cell_type": "code", "id": cid, "source": code, "metadata": {}, "outputs": [],
         "execution_count": None} for cid, code in cells if cid != "c2"],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    body = "%%track --experiment del --name r\nboth = float(base + extra + rate)"
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("del").run_id
    original = nbmlops.get_run(run_id)
    assert [f.kind for f in original.slice.flags] == ["deleted"]

    result = nbmlops.reproduce(run_id, notebook_only=True)
    sources = [c["source"] for c in json.loads(result.notebook.read_text())["cells"]]
    assert any(src.endswith("extra = 1.5") for src in sources)
    assert "extra = 1.5" not in nb.read_text()
    result = nbmlops.reproduce(run_id)
    assert result.status == "reproduced", str(result)
    assert nbmlops.get_run(result.reproduced_run_id).metrics["both"] == 5.75


def test_an_unseeded_models_predictions_on_the_recorded_sample_differ(shell  # type: ignore[no-untyped-def]
                                                                      ) -> None:
    setup = textwrap.dedent("""\
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor
        rng = np.random.default_rng(1)
        X = rng.normal(size=(150, 4))
        y = X[:, 0] + rng.normal(scale=0.5, size=150)""")
    assert shell.run_cell(setup, store_history=True, cell_id="c1").success
    body = textwrap.dedent("""\
        %%track --experiment forest --name loose
        forest = RandomForestRegressor(n_estimators=3, max_depth=3).fit(X, y)
        rows = float(len(X))""")
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("forest").run_id
    assert [f.kind for f in nbmlops.get_run(run_id).slice.flags] == ["unseeded"]

    result = nbmlops.reproduce(run_id)
    text = str(result)
    assert result.status == "differs", text
    assert "metric rows" not in text  # the metric is the same: only the predictions differ
    assert "differs: predictions of forest on the 100 recorded rows of X: " in text
    assert "likely cause: hidden state in the original run: unseeded: estimator forest" in text
    # the reproduced model predicted on the original's rows, not on rows of its own
    again = nbmlops.get_run(result.reproduced_run_id)
    assert {a.name for a in again.artifacts} >= {"forest", "predictions-sample.json"}
    assert result.compared["model predictions"] == 1


def _toy_package(root: Path, version: str, factor: float) -> None:
    """A real installed distribution (dist-info folder) named toyscale, on PYTHONPATH."""
    for old in root.glob("toyscale-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    (root / "toyscale").mkdir(parents=True, exist_ok=True)
    (root / "toyscale" / "__init__.py").write_text(f"FACTOR = {factor!r}\n")
    info = root / f"toyscale-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toyscale\nVersion: {version}\n")


def test_a_package_version_that_differs_is_named_as_the_likely_cause(
        store_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = store_env / "project"
    site = store_env / "site"
    _toy_package(site, "1.0.0", 2.0)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = notebook(project / "scaled.ipynb", "%load_ext nbmlops", "import toyscale",
                  "base = 10.0",
                  "%%track --experiment toy --name scaled\nscaled = float(base * toyscale.FACTOR)")
    papermill = str(Path(sys.executable).parent / "papermill")
    done = subprocess.run([papermill, str(nb), str(project / "out.ipynb"), "-k", "python3",
                           "--cwd", str(project)], capture_output=True, text=True,
                          timeout=300, env=os.environ)
    assert done.returncode == 0, done.stderr
    (run_id,) = nbmlops.runs("toy").run_id
    original = nbmlops.get_run(run_id)
    assert original.environment.package_versions()["toyscale"] == "1.0.0"
    assert original.metrics["scaled"] == 20.0

    _toy_package(site, "1.1.0", 3.0)  # upgraded since the run
    result = nbmlops.reproduce(run_id)
    text = str(result)
    assert result.status == "differs", text
    assert "differs: metric scaled: 20.0 then, 30.0 now" in text
    assert "likely cause: package versions differ: toyscale 1.0.0 -> 1.1.0" in text
    assert "hidden state" not in text  # the run was clean: the version is the cause


def test_an_estimator_made_before_the_run_and_fitted_in_it_reproduces(shell) -> None:  # type: ignore[no-untyped-def]
    """Found by the corpus bench: the estimator's recorded params (``model`` = its class
    name) must not overwrite the estimator in the parameters cell."""
    cells = ["import numpy as np\nfrom sklearn.linear_model import LinearRegression",
             "X = np.arange(30.0).reshape(-1, 1)\ny = X[:, 0] * 2.0 + 1.0",
             "model = LinearRegression()"]
    for i, code in enumerate(cells):
        assert shell.run_cell(code, store_history=True, cell_id=f"c{i}").success
    body = "%%track --experiment fit --name r\nmodel.fit(X, y)\nscore = float(model.score(X, y))"
    assert shell.run_cell(body, store_history=True, cell_id="run").success
    (run_id,) = nbmlops.runs("fit").run_id
    assert nbmlops.get_run(run_id).params["model"] == "LinearRegression"
    result = nbmlops.reproduce(run_id)
    assert result.status == "reproduced", str(result)
    assert "1 model predictions equal" in str(result)
