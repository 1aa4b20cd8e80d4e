"""The corpus of generated notebook sessions behind ``bench/reproduce.py --corpus``.

Each session is a small notebook (saved as ``.ipynb`` in a folder of its own, with the data
file it reads) and the order its cells were executed in, with the edits, deletions, data
changes and re-runs in between, ending in one ``%%track`` run. The generator picks one
*variant* per session (a hazard, or a benign history that must not be flagged), and adds
benign noise at random.

The truth of each run is decided by an oracle, not by the variant's label: the saved
notebook's cells above the run, executed top to bottom in a fresh namespace on the data
files as they are now, then the run's code; the run has hidden state when that gives
another result than the run recorded, or other values of the names the run read (or
raises), or when an estimator it fits has no fixed
``random_state`` (by design of the variant: its result may come out equal by chance).
"""

from __future__ import annotations

import copy
import json
import random
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HAZARDS = ("rebind_above", "edited_saved", "edited_rerun", "deleted", "data_changed",
           "below_run", "accumulate", "unseeded")
BENIGN = ("in_order", "rerun_same", "noise_edit", "noise_delete", "noise_late",
          "other_file_changed", "independent_swap", "rebind_below", "seeded_model",
          "linear_model")


@dataclass
class Session:
    index: int
    variant: str
    folder: Path
    cells: list[tuple[str, str]]  # the saved notebook (cell id, source), the run included
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, a, b)
    unseeded: bool = False
    noise: list[str] = field(default_factory=list)
    metric: str = "result"
    live: dict[str, Any] = field(default_factory=dict)  # what the run read, as it was

    @property
    def run_code(self) -> str:
        return next(src for cid, src in self.cells if cid == "run")

    def notebook_json(self, cells: list[tuple[str, str]]) -> str:
        return json.dumps({"cells": [
            {"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [],
             "execution_count": None} for cid, src in cells],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5})


def _data(rng: random.Random, n: int | None = None) -> str:
    n = n or rng.randint(5, 30)
    return "v\n" + "\n".join(str(rng.randint(1, 99)) for _ in range(n)) + "\n"


def generate(index: int, root: Path, rng: random.Random) -> Session:
    """One session: its folder with data files and its plan (nothing executed yet)."""
    hazard = rng.random() < 0.5
    variant = rng.choice(HAZARDS if hazard else BENIGN)
    folder = root / f"s{index:04d}"
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text(_data(rng))
    (folder / "other.csv").write_text(_data(rng))
    k1, k2, k3 = rng.randint(1, 9), rng.randint(2, 9), rng.randint(1, 50)
    model = variant in ("unseeded", "seeded_model", "linear_model") or rng.random() < 0.2
    if model and variant not in ("unseeded", "seeded_model", "linear_model"):
        variant_model = rng.choice(("seeded", "linear"))
    else:
        variant_model = {"unseeded": "unseeded", "seeded_model": "seeded",
                         "linear_model": "linear"}.get(variant, "")
    cells: list[tuple[str, str]] = [
        ("imp", "import math\nimport numpy as np" if model else "import math"),
        ("load", "rows = [float(v) for v in open('data.csv').read().split()[1:]]"),
        ("other", "other = open('other.csv').read()"),
        ("a", f"a = {k1}"),
        ("b", f"b = a * {k2} + len(rows)"),
        ("noise", f"note = 'scratch {index}'"),
        ("c", f"c = b + {k3}"),
    ]
    reads_a = variant == "rebind_below" or rng.random() < 0.3
    run_body = f"result = float(c + sum(rows){' + a' if reads_a else ''})"
    metric = "result"
    if model:
        estimator = {"unseeded": "RandomForestRegressor(n_estimators=3)",
                     "seeded": f"RandomForestRegressor(n_estimators=3, random_state={k1})",
                     "linear": "LinearRegression()"}[variant_model]
        module = "sklearn.linear_model import LinearRegression" if variant_model == "linear" \
            else "sklearn.ensemble import RandomForestRegressor"
        cells += [("xy", "X = np.array(rows).reshape(-1, 1) * a\ny = X[:, 0] * 2.0 + c"),
                  ("model", f"from {module}\nmodel = {estimator}")]
        run_body = "model.fit(X, y)\nscore = float(model.score(X, y) + c)"
        metric = "score"
    cells.append(("run", f"%%track -e corpus -n s{index} -q\n{run_body}"))
    s = Session(index, variant, folder, cells, unseeded=variant_model == "unseeded",
                metric=metric)
    order = [cid for cid, _ in cells]  # execution order; the run last
    src = dict(cells)
    steps: list[tuple[str, str, str]] = []

    def execute(cid: str, code: str | None = None) -> None:
        steps.append(("cell", cid, code if code is not None else src[cid]))

    saved = list(cells)  # what the saved notebook will hold
    body = order[:-1]
    if variant == "independent_swap":  # a (independent of load) run before load
        body.remove("a")
        body.insert(body.index("load"), "a")
    if variant == "noise_late":
        body.remove("noise")
        body.append("noise")
    for cid in body:
        execute(cid)
        if variant == "rerun_same" and cid == "a":
            execute("a")
    if variant == "rebind_above":  # a2 sits above b in the notebook, run after c
        saved.insert([c for c, _ in saved].index("b"), ("a2", f"a = {k1 + 1}"))
        execute("a2", f"a = {k1 + 1}")
    elif variant == "rebind_below":  # a2 below c, run in the notebook's order: benign
        saved.insert([c for c, _ in saved].index("c") + 1, ("a2", f"a = {k1 + 1}"))
        execute("a2", f"a = {k1 + 1}")
    elif variant == "edited_saved":
        saved = [(c, f"b = a * {k2 + 1} + len(rows)" if c == "b" else s_) for c, s_ in saved]
    elif variant == "edited_rerun":  # b edited and run again, c not
        new = f"b = a * {k2 + 1} + len(rows)"
        saved = [(c, new if c == "b" else s_) for c, s_ in saved]
        execute("b", new)
    elif variant == "deleted":
        saved = [(c, s_) for c, s_ in saved if c != "c"]
    elif variant == "data_changed":
        steps.append(("write", "data.csv", _data(rng, rng.randint(31, 40))))
    elif variant == "below_run":  # a cell below the run, run before it, that it reads
        saved.append(("late", f"bonus = {k3}"))
        execute("late", f"bonus = {k3}")
        saved = [(c, s_ + " + bonus" if c == "run" else s_) for c, s_ in saved]
    elif variant == "accumulate":  # a cell that updates what it reads, run twice
        saved.insert([c for c, _ in saved].index("c") + 1, ("acc", "c = c + 1"))
        execute("acc", "c = c + 1")
        execute("acc", "c = c + 1")
    elif variant == "noise_edit":
        saved = [(c, "note = 'edited'" if c == "noise" else s_) for c, s_ in saved]
    elif variant == "noise_delete":
        saved = [(c, s_) for c, s_ in saved if c != "noise"]
    elif variant == "other_file_changed":
        steps.append(("write", "other.csv", _data(rng, rng.randint(31, 40))))
    # benign noise on any session: an irrelevant cell run again, a scratch cell added
    if rng.random() < 0.3:
        execute("noise", dict(saved).get("noise", src["noise"]))
        s.noise.append("noise run again")
    if rng.random() < 0.3:
        saved.insert(len(saved) - 1, ("scratch", "print(len(rows))"))
        execute("scratch", "print(len(rows))")
        s.noise.append("scratch cell")
    s.cells = saved
    run_src = dict(saved)["run"]
    steps.append(("save", "", ""))
    steps.append(("cell", "run", run_src))
    s.steps = steps
    return s


def oracle(session: Session, recorded: float | None) -> tuple[bool, str]:
    """(hidden state?, why): the saved notebook run top to bottom vs what the run recorded."""
    if session.unseeded:
        return True, "an unseeded estimator"
    if recorded is None:
        return True, "the run recorded no metric"
    ns: dict[str, Any] = {}
    import os

    here = os.getcwd()
    os.chdir(session.folder)
    try:
        for cid, src in session.cells:
            code = src.split("\n", 1)[1] if src.startswith("%%track") else src
            if cid != "run" and src.startswith("print("):
                continue
            exec(compile(code, f"<{cid}>", "exec"), ns)
            if cid == "run":
                break
    except Exception:
        return True, "the notebook as saved fails: " + traceback.format_exc(limit=0).strip()
    finally:
        os.chdir(here)
    again = ns.get(session.metric)
    if again != recorded:
        return True, f"the notebook as saved gives {again}, the run recorded {recorded}"
    for name, value in session.live.items():  # what the run read, not only its metric
        if name not in ns or not _equal(ns[name], value):
            return True, f"the notebook as saved gives another {name} (same {session.metric})"
    return False, "the notebook as saved gives the same"


def _equal(a: Any, b: Any) -> bool:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def _run_reads(code: str) -> list[str]:
    import ast

    body = code.split("\n", 1)[1]
    return sorted({n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name)
                   and isinstance(n.ctx, ast.Load)} - {"float", "sum", "model"})


def play(shell: Any, session: Session) -> None:
    """Execute the session's steps in ``shell`` (a real IPython shell), the way a user
    would: cells with their ids, data files rewritten, the notebook saved before the run."""
    for kind, a, b in session.steps:
        if kind == "cell":
            result = shell.run_cell(b, store_history=True, cell_id=a)
            if not result.success and a == "run":
                raise RuntimeError(f"session {session.index}: the run failed: "
                                   f"{result.error_in_exec!r}")
            if a == "run":
                session.live = {n: copy.deepcopy(shell.user_ns[n]) for n in _run_reads(b)
                                if n in shell.user_ns}
        elif kind == "write":
            (session.folder / a).write_text(b)
        elif kind == "save":
            (session.folder / "notebook.ipynb").write_text(
                session.notebook_json(session.cells))
