"""``job.yaml``: what a job is, readable and hand-editable, validated on load.

::

    name: train-churn                 # letters, digits, - and _; the job folder's name
    notebook: notebook.ipynb          # inside the job folder
    notebook_sha256: 3f2a…            # the cleaned notebook's content hash, checked on run
    kernel: python3
    experiment: train-churn           # where the job's runs are recorded
    parameters:                       # papermill parameters, with their types and defaults
      C: {type: float, default: 1.0}
      max_iter: {type: int, default: 200}
    timeout: 3600                     # seconds for the whole run (null: none)
    cell_timeout: null                # seconds per cell (null: none)
    retries: 0                        # runs again after a failure, this many times
    retry_delay: 30                   # seconds between tries
    schedule: "0 3 * * *"             # cron expression (null: run by hand or CI only)
    targets: [cron]                   # the schedulers' files written beside it
    gates: ["metrics.accuracy >= 0.8"]          # on the job's runs' metrics
    on_success: ["register model --name churn --alias staging"]

Every field but ``name`` and ``notebook`` has a default. A file that is not valid says
which field is wrong and how to fix it (:class:`JobSpecError`).
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nbmlops.errors import JobSpecError
from nbmlops.gates import Gate as _Gate
from nbmlops.gates import parse as _parse_gate
from nbmlops.gates import threshold_text

SPEC_FILE = "job.yaml"
REQUIREMENTS = "requirements.txt"  # beside it: the packages the job's notebook imports
ParamType = Literal["str", "int", "float", "bool", "list", "dict", "null"]
PARAM_TYPES: tuple[ParamType, ...] = ("str", "int", "float", "bool", "list", "dict", "null")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Parameter:
    """A papermill parameter: its name (a Python identifier), type and default."""

    name: str
    type: ParamType
    default: Any

    def convert(self, text: str) -> Any:
        """A value given on a command line (``-p C=0.5``) as this parameter's type."""
        return convert(self.name, self.type, text)


class Gate(_Gate):
    """``metrics.accuracy >= 0.8``: the best value of the metric over the job's runs
    (the gate language of :mod:`nbmlops.gates`, spelled as ``job.yaml`` writes it)."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"metrics.{self.metric} {self.op} {threshold_text(self.threshold)}"


@dataclass(frozen=True)
class JobSpec:
    name: str
    notebook: str = "notebook.ipynb"
    notebook_sha256: str | None = None
    kernel: str = "python3"
    experiment: str | None = None
    parameters: tuple[Parameter, ...] = ()
    timeout: float | None = None
    cell_timeout: float | None = None
    retries: int = 0
    retry_delay: float = 30.0
    schedule: str | None = None
    targets: tuple[str, ...] = ()
    gates: tuple[Gate, ...] = ()
    on_success: tuple[str, ...] = ()
    source: str | None = None  # the notebook it was exported from (information only)
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown keys, kept on save

    @property
    def run_experiment(self) -> str:
        return self.experiment or self.name

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise JobSpecError(f"job {self.name!r} has no parameter {name!r} (its parameters: "
                           f"{known}); add it to {SPEC_FILE}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "notebook": self.notebook,
            "notebook_sha256": self.notebook_sha256, "kernel": self.kernel,
            "experiment": self.experiment,
            "parameters": {p.name: {"type": p.type, "default": p.default}
                           for p in self.parameters},
            "timeout": self.timeout, "cell_timeout": self.cell_timeout,
            "retries": self.retries, "retry_delay": self.retry_delay,
            "schedule": self.schedule, "targets": list(self.targets),
            "gates": [str(g) for g in self.gates], "on_success": list(self.on_success)}
        if self.source:
            out["source"] = self.source
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        import yaml

        head = (f"# nbmlops job {self.name!r}: run it with `nbmlops jobs run <this folder>`.\n"
                "# Hand-editable; checked when loaded (see the nbmlops README, Jobs).\n")
        body: str = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True,
                                   default_flow_style=None, width=100)
        return head + body


def check_name(name: Any, what: str = "job name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise JobSpecError(f"{what} {name!r} must be 1-64 letters, digits, '-' or '_', "
                           "starting with a letter or digit (e.g. train-churn)")
    return name


def check_parameter_name(name: Any) -> str:
    """A name papermill can assign: an identifier, not a keyword, not a special
    ``__name__`` (assigning ``__import__`` or ``__builtins__`` would break the kernel)."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        what = "a Python keyword" if keyword.iskeyword(str(name)) else \
            "not a Python identifier"
        raise JobSpecError(f"parameter name {name!r} is {what} (papermill "
                           "assigns parameters as variables); rename it, e.g. "
                           f"{_suggest(str(name))}")
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        raise JobSpecError(f"parameter name {name!r} is a Python special name (papermill "
                           "would assign it over the kernel's own); rename it, e.g. "
                           f"{_suggest(name)}")
    return name


def _suggest(name: str) -> str:
    cleaned = re.sub(r"\W", "_", name).strip("_") or "param"
    if cleaned[0].isdigit() or keyword.iskeyword(cleaned):
        cleaned = "p_" + cleaned
    return cleaned


def type_of(value: Any) -> ParamType:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "dict"
    raise JobSpecError(f"a parameter's value must be a string, number, bool, None, list or "
                       f"dict, not a {type(value).__name__}")


def convert(name: str, kind: ParamType, text: str) -> Any:
    """``-p NAME=TEXT`` as the parameter's type; text parameters take the text as it is."""
    import json

    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError
        if kind == "null":
            return None if text.strip().lower() in ("", "none", "null") else _json(text)
        value = json.loads(text)
        if kind == "list" and not isinstance(value, list):
            raise ValueError
        if kind == "dict" and not isinstance(value, dict):
            raise ValueError
        return value
    except ValueError:
        raise JobSpecError(f"parameter {name}: {text!r} is not a valid {kind}") from None


def _json(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_gate(text: Any) -> Gate:
    if isinstance(text, Gate):
        return text
    try:
        gate = _parse_gate(text)
    except ValueError as exc:
        raise JobSpecError(str(exc), path="gates") from None
    return Gate(gate.metric, gate.op, gate.threshold)


def check_schedule(schedule: Any) -> str | None:
    if schedule is None:
        return None
    if not isinstance(schedule, str) or len(schedule.split()) != 5:
        raise JobSpecError(f"schedule {schedule!r} must be a cron expression of 5 fields "
                           "(minute hour day month weekday), e.g. \"0 3 * * *\"")
    fields = schedule.split()
    limits = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
    names = ("minute", "hour", "day of month", "month", "day of week")
    for text, (lo, hi), what in zip(fields, limits, names, strict=True):
        if not _cron_field(text, lo, hi):
            raise JobSpecError(f"schedule {schedule!r}: the {what} field {text!r} is not "
                               f"valid (numbers {lo}-{hi}, *, ranges a-b, lists a,b, steps "
                               "*/n)")
    return schedule


def _cron_field(text: str, lo: int, hi: int) -> bool:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        a, _, b = base.partition("-")
        if not a.isdigit() or (b and not b.isdigit()):
            return False
        if not lo <= int(a) <= hi or (b and not int(a) <= int(b) <= hi):
            return False
    return True


def _number(path: str, value: Any, *, minimum: float = 0.0, allow_none: bool = True
            ) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value >= minimum):
        raise JobSpecError(f"{path} must be a number >= {minimum:g}" + (" or null" if
                           allow_none else "") + f", not {value!r}", path=path)
    return float(value)


def from_dict(data: Any, *, where: str = SPEC_FILE) -> JobSpec:
    """A spec from ``job.yaml``'s content, every field checked."""
    if not isinstance(data, Mapping):
        raise JobSpecError(f"{where}: expected a mapping of fields (name: ..., notebook: ...)")
    known = {"name", "notebook", "notebook_sha256", "kernel", "experiment", "parameters",
             "timeout", "cell_timeout", "retries", "retry_delay", "schedule", "targets",
             "gates", "on_success", "source"}
    if "name" not in data:
        raise JobSpecError(f"{where}: 'name' is missing", path="name")
    name = check_name(data["name"])
    notebook = data.get("notebook", "notebook.ipynb")
    if not isinstance(notebook, str) or not notebook.endswith(".ipynb") or Path(
            notebook).is_absolute() or ".." in Path(notebook).parts:
        raise JobSpecError(f"{where}: notebook must be a .ipynb file inside the job folder "
                           f"(a relative path), not {notebook!r}", path="notebook")
    params_in = data.get("parameters") or {}
    if not isinstance(params_in, Mapping):
        raise JobSpecError(f"{where}: parameters must map names to {{type, default}}",
                           path="parameters")
    parameters = []
    for pname, p in params_in.items():
        check_parameter_name(pname)
        if not isinstance(p, Mapping) or "default" not in p:
            raise JobSpecError(f"{where}: parameters.{pname} must be {{type: ..., default: "
                               "...}}", path=f"parameters.{pname}")
        kind = p.get("type") or type_of(p["default"])
        if kind not in PARAM_TYPES:
            raise JobSpecError(f"{where}: parameters.{pname}.type {kind!r} is not one of "
                               f"{', '.join(PARAM_TYPES)}", path=f"parameters.{pname}.type")
        default = p["default"]
        if isinstance(default, float) and not math.isfinite(default):
            raise JobSpecError(f"{where}: parameters.{pname}.default must be a finite number, "
                               f"not {default!r}", path=f"parameters.{pname}.default")
        if default is not None and kind != "null" and type_of(default) != kind and not (
                kind == "float" and type_of(default) == "int"):
            raise JobSpecError(f"{where}: parameters.{pname}.default {default!r} is not a "
                               f"{kind}", path=f"parameters.{pname}.default")
        parameters.append(Parameter(pname, kind, float(default) if kind == "float"
                                    and default is not None else default))
    retries = data.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise JobSpecError(f"{where}: retries must be a whole number >= 0, not {retries!r}",
                           path="retries")
    targets = data.get("targets") or []
    if isinstance(targets, str):
        targets = [targets]
    from nbmlops.export.targets import lookup

    for t in targets:
        try:
            lookup(t)
        except JobSpecError as exc:
            raise JobSpecError(f"{where}: {exc}", path="targets") from None
    gates = data.get("gates") or []
    actions = data.get("on_success") or []
    for what, items in (("gates", gates), ("on_success", actions)):
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise JobSpecError(f"{where}: {what} must be a list", path=what)
    sha = data.get("notebook_sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise JobSpecError(f"{where}: notebook_sha256 must be 64 hex digits or null",
                           path="notebook_sha256")
    for key in ("kernel", "experiment", "source"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise JobSpecError(f"{where}: {key} must be text", path=key)
    from nbmlops.export.actions import parse_action

    return JobSpec(
        name=name, notebook=notebook, notebook_sha256=sha,
        kernel=data.get("kernel") or "python3", experiment=data.get("experiment"),
        parameters=tuple(parameters),
        timeout=_number(f"{where}: timeout", data.get("timeout")),
        cell_timeout=_number(f"{where}: cell_timeout", data.get("cell_timeout")),
        retries=retries,
        retry_delay=_number(f"{where}: retry_delay", data.get("retry_delay", 30.0),
                            allow_none=False) or 0.0,
        schedule=check_schedule(data.get("schedule")), targets=tuple(targets),
        gates=tuple(parse_gate(g) for g in gates),
        on_success=tuple(str(parse_action(a)) for a in actions),
        source=data.get("source"),
        extra={k: v for k, v in data.items() if k not in known})


def load(folder: Path) -> JobSpec:
    """The job in ``folder`` (its ``job.yaml``)."""
    import yaml

    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise JobSpecError(f"{folder} is not a job folder (no {SPEC_FILE}); export one with "
                           "`nbmlops export NOTEBOOK --job NAME`")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise JobSpecError(f"{path} is not valid YAML: {exc}") from None
    return from_dict(data, where=str(path))


__all__ = ["PARAM_TYPES", "REQUIREMENTS", "SPEC_FILE", "Gate", "JobSpec",
           "JobSpecError", "Parameter", "check_name", "check_parameter_name", "check_schedule", "convert",
           "from_dict", "load", "parse_gate", "type_of"]
