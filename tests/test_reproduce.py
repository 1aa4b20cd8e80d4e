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
    assert str(result).startswith(f"reproduced: run {run_id[:8]} (1 metrics, 2 inputs equal)")
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
