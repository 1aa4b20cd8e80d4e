"""Gates: ``accuracy>=0.8`` must hold for a registration, a promotion or a job to pass.

One language serves them all: ``[metrics.]METRIC OP NUMBER``, OP one of ``>=``, ``>``,
``<=``, ``<``, ``==``, ``!=``, spaces optional (``accuracy>=0.8``,
``"metrics.accuracy >= 0.8"`` in ``job.yaml``). A missing or NaN metric never passes.
The registry checks gates on a version's metrics (:func:`check`); a job on its runs'
metrics (:meth:`Gate.passes`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from nbmlops.errors import GateError
from nbmlops.formatting import format_number

_GATE = re.compile(r"^\s*(?:metrics\.)?([^\s<>=!]+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True, slots=True)
class Gate:
    """``metric op threshold``; shown as written compactly (``accuracy>=0.8``)."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{threshold_text(self.threshold)}"

    def passes(self, value: float | None) -> bool:
        """Whether ``value`` (the metric's value; None: not logged) passes."""
        return value is not None and not math.isnan(value) and _OPS[self.op](
            value, self.threshold)


def threshold_text(value: float) -> str:
    """A threshold as written, exactly (``0.123456789``, ``1234567``)."""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def parse(expression: object) -> Gate:
    """The gate ``expression`` reads as, or a ValueError saying how to write one."""
    if isinstance(expression, Gate):
        return expression
    match = _GATE.match(expression) if isinstance(expression, str) else None
    if match is None:
        raise ValueError(f"gate {expression!r} must read METRIC OP VALUE: write METRIC OP "
                         "NUMBER, e.g. accuracy>=0.8 or \"metrics.f1 > 0.5\" (OP: >=, >, "
                         "<=, <, ==, !=)")
    metric, op, raw = match.groups()
    try:
        threshold = float(raw)
    except ValueError:
        threshold = math.nan
    if math.isnan(threshold):
        raise ValueError(f"gate {expression!r}: {raw!r} is not a number")
    return Gate(metric, op, threshold)


def check(gates: Iterable[str | Gate], metrics: Mapping[str, float], *, what: str) -> None:
    """Raise GateError for the first gate ``metrics`` fail (a missing metric fails too);
    ``what`` names what is refused (``registering churn``)."""
    for gate in (parse(g) for g in gates):
        value = metrics.get(gate.metric)
        if value is None:
            known = ", ".join(sorted(metrics)) or "none"
            raise GateError(f"gate {gate} cannot be checked: {what} has no metric "
                            f"{gate.metric!r} (it has: {known})", gate=str(gate), value=None)
        if not gate.passes(value):
            raise GateError(f"gate {gate} failed: {gate.metric} is {format_number(value)}; "
                            f"{what} refused", gate=str(gate), value=value)


__all__ = ["Gate", "check", "parse", "threshold_text"]
