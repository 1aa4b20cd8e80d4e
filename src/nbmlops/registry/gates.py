"""Gates: ``accuracy>=0.8`` must hold for a registration or promotion to go ahead."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from nbmlops.errors import GateError
from nbmlops.tracking.summary import format_number

_GATE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|==|!=|>|<)\s*"
                   r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True, slots=True)
class Gate:
    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{format_number(self.threshold)}"


def parse(expression: str) -> Gate:
    match = _GATE.match(expression)
    if match is None:
        raise ValueError(f"gate {expression!r}: write METRIC OP NUMBER, e.g. accuracy>=0.8 "
                         "or demographic_parity_difference<=0.1")
    return Gate(match[1], match[2], float(match[3]))


def check(gates: Iterable[str | Gate], metrics: Mapping[str, float], *, what: str) -> None:
    """Raise GateError for the first gate ``metrics`` fail (a missing metric fails too)."""
    for gate in (g if isinstance(g, Gate) else parse(g) for g in gates):
        value = metrics.get(gate.metric)
        if value is None:
            known = ", ".join(sorted(metrics)) or "none"
            raise GateError(f"gate {gate} cannot be checked: {what} has no metric "
                            f"{gate.metric!r} (it has: {known})", gate=str(gate), value=None)
        if math.isnan(value) or not _OPS[gate.op](value, gate.threshold):
            raise GateError(f"gate {gate} failed: {gate.metric} is {format_number(value)}; "
                            f"{what} refused", gate=str(gate), value=value)
