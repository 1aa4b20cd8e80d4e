"""Several processes writing one SQLite store at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import nbmlops

WORKER = textwrap.dedent("""
    import sys, nbmlops
    worker = int(sys.argv[1])
    for i in range(25):
        with nbmlops.track("load", f"w{worker}-{i}", params={"worker": worker, "i": i},
                           tags={"batch": "b"}):
            for step in range(5):
                nbmlops.log_metric("loss", 1.0 / (step + 1 + i))
            nbmlops.log_metrics({"acc": i / 25, "worker": float(worker)})
""")


def test_eight_processes_twenty_five_runs_each(store_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), str(w)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(8)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower(), err
    frame = nbmlops.runs("load")
    assert len(frame) == 200
    assert set(frame["status"]) == {"finished"}
    assert sorted(frame["name"]) == sorted(f"w{w}-{i}" for w in range(8) for i in range(25))
    assert frame["metrics.loss"].notna().all()
    assert frame["params.worker"].notna().all()
    one = nbmlops.runs(where="params.worker == 3 and params.i == 24")
    assert len(one) == 1
    assert [m.value for m in nbmlops.metric_history(one.run_id.iloc[0], "loss")] == \
        [1.0 / (s + 25) for s in range(5)]
