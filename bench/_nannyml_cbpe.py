"""NannyML's CBPE on the windows bench/monitor.py wrote (run in NannyML's own venv).

    .venv-nannyml/bin/python bench/_nannyml_cbpe.py MANIFEST.json OUT.parquet

Not a benchmark on its own: bench/monitor.py writes, per world and shift, a reference
(held-out rows: ``proba``, ``pred``, ``y``) and an analysis file (its windows one after
the other, ``chunk_size`` rows each) and names them in the manifest. For each entry this
fits ``nannyml.CBPE`` (binary classification, accuracy and ROC AUC, chunks of
``chunk_size``) on the reference and estimates the analysis chunks; it writes one row per
chunk (``world``, ``shift``, ``window``, ``nannyml accuracy``, ``nannyml roc_auc``) and,
beside the output, ``OUT.parquet.json`` with its version and CPU times.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
import warnings

import pandas as pd


def main(manifest_path: str, out_path: str) -> int:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import nannyml

    rows = []
    fits, per_chunk = [], []
    with open(manifest_path) as f:
        manifest = json.load(f)
    for entry in manifest:
        reference = pd.read_parquet(entry["reference"])
        analysis = pd.read_parquet(entry["analysis"])
        size = int(entry["chunk_size"])
        cbpe = nannyml.CBPE(problem_type="classification_binary", y_pred_proba="proba",
                            y_pred="pred", y_true="y", metrics=["accuracy", "roc_auc"],
                            chunk_size=size)
        t0 = time.process_time()
        cbpe.fit(reference)
        fits.append(time.process_time() - t0)
        t0 = time.process_time()
        result = cbpe.estimate(analysis.drop(columns=["y"]))
        chunks = len(analysis) // size
        per_chunk.append((time.process_time() - t0) / chunks)
        frame = result.filter(period="analysis").to_df()
        starts = frame[("chunk", "start_index")].to_numpy()
        for i, start in enumerate(starts):
            rows.append({"world": entry["world"], "shift": float(entry["shift"]),
                         "window": int(start) // size,
                         "nannyml accuracy": float(frame[("accuracy", "value")].iloc[i]),
                         "nannyml roc_auc": float(frame[("roc_auc", "value")].iloc[i])})
    pd.DataFrame(rows).to_parquet(out_path)
    with open(out_path + ".json", "w") as f:
        json.dump({"version": nannyml.__version__, "fit": statistics.median(fits),
                   "estimate_per_chunk": statistics.median(per_chunk)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
