"""The one data-file rule: the format by the name, one-line errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nbmlops import datafiles


def test_formats_are_told_by_the_name(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.to_csv(tmp_path / "packed.csv.gz", index=False)
    frame.to_parquet(tmp_path / "table.parquet")
    frame.to_parquet(tmp_path / "short.pq")
    (tmp_path / "parts").mkdir()
    frame.to_parquet(tmp_path / "parts" / "part.0.parquet")
    frame.to_parquet(tmp_path / "parts" / "part.1.parquet")
    for name in ("plain.csv", "packed.csv.gz", "table.parquet", "short.pq"):
        pd.testing.assert_frame_equal(datafiles.read(tmp_path / name), frame)
    assert len(datafiles.read(tmp_path / "parts")) == 6
    assert datafiles.format_of("x.CSV") == "csv"
    assert datafiles.format_of("x.json.gz") is None


def test_bad_paths_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "rows.csv").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no file .*missing\.csv; give the path"):
        datafiles.read(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"data\.json is neither \.parquet nor \.csv"):
        datafiles.read(tmp_path / "data.json")
    with pytest.raises(ValueError, match="only a folder of Parquet part files"):
        datafiles.read(tmp_path / "rows.csv")
    with pytest.raises(ValueError, match="outputs are written plain"):
        datafiles.output_format(tmp_path / "out.csv.gz")
    with pytest.raises(ValueError, match=r"neither \.parquet nor \.csv"):
        datafiles.output_format(tmp_path / "out.xlsx")
