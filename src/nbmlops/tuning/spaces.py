"""What to search: model families, their search spaces, and checks that name the mistake.

A search is over one estimator (or Pipeline) and its space, or over a dict of
``{name: estimator}`` with a dict of ``{name: space}``. A space is what scikit-learn's
search classes take: a dict ``{param: values}`` (or a list of such dicts), where values
are lists for grid search and may also be scipy.stats distributions for random search
and Optuna.

Several families become one scikit-learn search over a one-step Pipeline whose step is
itself a searched parameter (``{"model": [estimator], "model__C": [...]}`` per family):
the standard scikit-learn idiom, so the winner across families is the search's own best.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbmlops.errors import TuneError

STEP = "model"
STRATEGIES = ("grid", "random", "halving", "optuna")


@dataclass(frozen=True)
class Family:
    name: str
    estimator: Any
    grids: tuple[Mapping[str, Any], ...]  # the space as a list of dicts

    @property
    def n_grid_candidates(self) -> int:
        total = 0
        for grid in self.grids:
            size = 1
            for values in grid.values():
                size *= len(values) if _is_list(values) else 1
            total += size
        return total


def _is_list(values: Any) -> bool:
    return isinstance(values, list | tuple) or (hasattr(values, "__len__")
                                                  and hasattr(values, "__getitem__")
                                                  and not isinstance(values, str | Mapping))


def is_distribution(values: Any) -> bool:
    """A scipy.stats (frozen) distribution or an Optuna distribution."""
    return hasattr(values, "rvs") or type(values).__module__.startswith("optuna")


def _grids(space: Any, family: str) -> tuple[Mapping[str, Any], ...]:
    if space is None:
        return ({},)
    if isinstance(space, Mapping):
        return (space,)
    if isinstance(space, Sequence) and not isinstance(space, str) and all(
            isinstance(g, Mapping) for g in space):
        return tuple(space) or ({},)
    raise TuneError(f"the search space of {family!r} must be a dict of {{param: values}} or a "
                    f"list of such dicts, not {type(space).__name__}", argument="space")


def _check_estimator(name: str, estimator: Any) -> None:
    if isinstance(estimator, type):
        raise TuneError(f"{name!r} is the class {estimator.__name__}; pass an instance, e.g. "
                        f"{estimator.__name__}()", argument="estimator")
    if not callable(getattr(estimator, "fit", None)) or not callable(
            getattr(estimator, "get_params", None)):
        raise TuneError(f"{name!r} is a {type(estimator).__name__}, which has no fit() and "
                        "get_params(): pass a scikit-learn estimator or Pipeline",
                        argument="estimator")


def _check_grid(family: str, estimator: Any, grid: Mapping[str, Any], strategy: str) -> None:
    valid = set(estimator.get_params(deep=True))
    for key, values in grid.items():
        if key not in valid:
            close = sorted(v for v in valid if "__" not in v)
            kind = type(estimator).__name__
            raise TuneError(
                f"{key!r} is not a parameter of {family!r}"
                + (f" ({kind})" if kind != family else "")
                + f"; its parameters are: {', '.join(close)}"
                + (" (use step__param for a Pipeline step)" if "__" in key or any(
                    "__" in v for v in valid) else ""), argument="space")
        if is_distribution(values):
            if strategy in ("grid", "halving"):
                raise TuneError(
                    f"{family!r}: {key!r} is a distribution, which {strategy} search cannot "
                    "enumerate; give a list of values, or use strategy 'random' or 'optuna'",
                    argument="space")
        elif not _is_list(values) or len(values) == 0:
            raise TuneError(f"{family!r}: {key!r} needs a non-empty list of values (or a "
                            f"distribution for random/optuna search), not {values!r:.80}",
                            argument="space")


def families(estimator: Any, space: Any, strategy: str) -> tuple[Family, ...]:
    """Check and normalise what to search."""
    if strategy not in STRATEGIES:
        raise TuneError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}",
                        argument="strategy")
    if isinstance(estimator, Mapping):
        if not estimator:
            raise TuneError("the dict of models is empty", argument="estimator")
        spaces = space if space is not None else {}
        if not isinstance(spaces, Mapping):
            raise TuneError("with a dict of models, give a dict of search spaces keyed the "
                            "same way: {name: {param: values}}", argument="space")
        unknown = set(spaces) - set(estimator)
        if unknown:
            raise TuneError(f"search spaces for models that are not in the dict of models: "
                            f"{', '.join(sorted(map(str, unknown)))}; the models are: "
                            f"{', '.join(map(str, estimator))}", argument="space")
        out = tuple(Family(str(name), est, _grids(spaces.get(name), str(name)))
                    for name, est in estimator.items())
    else:
        name = type(estimator).__name__
        out = (Family(name, estimator, _grids(space, name)),)
    for fam in out:
        _check_estimator(fam.name, fam.estimator)
        for grid in fam.grids:
            _check_grid(fam.name, fam.estimator, grid, strategy)
    return out


def combined(fams: tuple[Family, ...]) -> tuple[Any, list[dict[str, Any]]]:
    """One estimator and param grid searching every family (see the module docstring)."""
    if len(fams) == 1:
        return fams[0].estimator, [dict(g) for g in fams[0].grids]
    from sklearn.pipeline import Pipeline

    grids = [{STEP: [fam.estimator], **{f"{STEP}__{k}": v for k, v in grid.items()}}
             for fam in fams for grid in fam.grids]
    return Pipeline([(STEP, fams[0].estimator)]), grids


def split_candidate(fams: tuple[Family, ...], params: Mapping[str, Any]
                    ) -> tuple[str, dict[str, Any]]:
    """(family name, its own params) of a candidate of the combined search."""
    if len(fams) == 1:
        return fams[0].name, dict(params)
    step = params.get(STEP)
    name = next((f.name for f in fams if f.estimator is step), type(step).__name__)
    prefix = STEP + "__"
    return name, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def optuna_distribution(name: str, values: Any) -> Any:
    """An Optuna distribution for a list of values or a scipy.stats distribution."""
    from optuna import distributions as od

    if type(values).__module__.startswith("optuna"):
        return values
    if _is_list(values):
        return od.CategoricalDistribution(list(values))
    dist = getattr(values, "dist", None)
    args = tuple(getattr(values, "args", ()))
    kwds = dict(getattr(values, "kwds", {}))
    kind = getattr(dist, "name", None)
    loc, scale = kwds.get("loc", 0.0), kwds.get("scale", 1.0)
    if kind == "uniform":
        low = args[0] if len(args) > 0 else loc
        width = args[1] if len(args) > 1 else scale
        return od.FloatDistribution(float(low), float(low) + float(width))
    if kind in ("loguniform", "reciprocal") and len(args) >= 2:
        return od.FloatDistribution(float(args[0]), float(args[1]), log=True)
    if kind == "randint" and len(args) >= 2:
        return od.IntDistribution(int(args[0]), int(args[1]) - 1)
    raise TuneError(f"{name!r}: Optuna search takes lists, scipy's uniform, loguniform and "
                    f"randint, or Optuna distributions; not {kind or type(values).__name__}",
                    argument="space")
