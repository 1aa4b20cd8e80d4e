"""nbmlops.keyvalue: the one KEY=VALUE parser, and export.suite's run-each step."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbmlops import keyvalue
from nbmlops.errors import JobSpecError


def test_parse_strips_keys_keeps_values_and_converts() -> None:
    assert keyvalue.parse(["a=1", " b = x y", "a=2"], flag="--tag", hint="h") == \
        {"a": "2", "b": " x y"}
    assert keyvalue.parse(["n=3"], flag="-p", hint="h",
                          convert=lambda key, text: int(text) * 2) == {"n": 6}


@pytest.mark.parametrize("item", ["nokey", "=v", " =v"])
def test_parse_error_names_the_flag_and_says_how(item: str) -> None:
    with pytest.raises(JobSpecError, match=r"^--params '.*': write NAME=VALUE$"):
        keyvalue.parse([item], flag="--params", hint="write NAME=VALUE", error=JobSpecError)


def test_an_empty_key_can_be_left_to_the_caller() -> None:
    assert keyvalue.parse(["=v"], flag="-p", hint="h", key_required=False) == {"": "v"}


def test_split_optional() -> None:
    assert keyvalue.split_optional("rf=sklearn.X") == ("rf", "sklearn.X")
    assert keyvalue.split_optional("sklearn.X") == (None, "sklearn.X")


def test_one_or_pairs() -> None:
    assert keyvalue.one_or_pairs([], flag="--test", convert=str) is None
    assert keyvalue.one_or_pairs(["psi"], flag="--test", convert=str) == "psi"
    assert keyvalue.one_or_pairs(["a = 0.1", "b=2"], flag="--threshold", convert=float) == \
        {"a": 0.1, "b": 2.0}
    with pytest.raises(ValueError, match="--test: give one value for every column"):
        keyvalue.one_or_pairs(["a", "b=c"], flag="--test", convert=str,
                              hint="give one value for every column, or COLUMN=VALUE pairs")
    with pytest.raises(ValueError, match=r"--threshold a=x: not a valid value"):
        keyvalue.one_or_pairs(["a=x"], flag="--threshold", convert=float)


def test_run_each_reports_a_job_that_cannot_start_and_runs_the_others() -> None:
    from nbmlops.export.suite import JobNotRun, run_each

    class Done:
        def __init__(self, job: str, ok: bool) -> None:
            self.job, self.ok = job, ok

        def __str__(self) -> str:
            return f"job {self.job} {'finished' if self.ok else 'failed'}"

    def run(folder: Path) -> Done:
        if folder.name == "broken":
            raise JobSpecError("job.yaml: no notebook")
        return Done(folder.name, folder.name != "bad")

    lines: list[str] = []
    done = run_each([Path("a"), Path("broken"), Path("bad")], run,  # type: ignore[arg-type]
                    report=lines.append)
    assert lines == ["job a finished", "job broken could not run: job.yaml: no notebook",
                     "job bad failed"]
    assert isinstance(done.outcomes[1], JobNotRun)
    assert done.failed == ("broken", "bad")
    assert done.passed == 1
    assert not done.ok
