"""Model cards: a model's evaluation on held-out data, as a record the registry keeps.

:func:`evaluate` runs :func:`nbmlops.evaluation.evaluate_model` and returns its result as
a :class:`ModelCard`, which a registered version stores beside its model file. The card
renders as Markdown (its figures referenced as ``figures/<name>.png``, see
:meth:`ModelCard.figure_files`), as self-contained HTML, and as a short text summary.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nbmlops.evaluation import (
    IMPORTANCE_KINDS,
    TOP_FEATURES,
    Evaluation,
    Fairness,
    Task,
    evaluate_model,
    ranked,
)
from nbmlops.formatting import format_number

__all__ = ["Fairness", "ModelCard", "evaluate"]

_CLASSIFICATION_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc")
_REGRESSION_KEYS = ("mae", "rmse", "r2")
_TITLES = {"confusion_matrix": "confusion matrix", "residuals": "residuals against predictions",
           "importances": "feature importance", "fairness": "metrics per group"}


def evaluate(model: Any, X: Any, y: Any, *, sensitive: Any = None, task: Task | None = None,
             explain: bool = True, shap: bool = False, random_state: int = 0,
             n_repeats: int = 5) -> ModelCard:
    """Evaluate a fitted scikit-learn ``model`` on held-out ``X``, ``y`` as a model card.

    The arguments are :func:`nbmlops.evaluation.evaluate_model`'s: ``sensitive`` (a column
    name of ``X`` or one value per row) adds fairness per group, ``task`` is
    ``"classification"`` or ``"regression"`` (by default found from the model and ``y``),
    ``explain`` computes permutation and impurity importances, ``shap`` adds SHAP values
    (needs ``pip install "nbmlops[shap]"``).
    """
    return ModelCard.of(evaluate_model(model, X, y, sensitive=sensitive, task=task,
                                       explain=explain, shap=shap, random_state=random_state,
                                       n_repeats=n_repeats))


# -- the card ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelCard(Evaluation):
    """A fitted model's evaluation on held-out data, as a card (see :func:`evaluate`).

    The fields are :class:`~nbmlops.evaluation.Evaluation`'s: ``metrics``, ``confusion``
    or ``residuals``, ``importances``, ``fairness``, ``figures`` (PNG bytes by name).
    """

    @classmethod
    def of(cls, evaluation: Evaluation) -> ModelCard:
        """The card that shows ``evaluation``."""
        return cls(**{f.name: getattr(evaluation, f.name)
                      for f in dataclasses.fields(evaluation)})

    def figure_files(self) -> dict[str, bytes]:
        """The figures as the files :meth:`to_markdown` refers to."""
        return {f"figures/{name}.png": png for name, png in self.figures.items()}

    def to_markdown(self) -> str:
        """The card as Markdown; save :meth:`figure_files` beside it to see the figures."""
        parts = [f"# Model card: {_md(self.model or 'model')}", "", _md(self._headline()), ""]
        for section in _sections(self):
            parts += [f"## {_md(section.title)}", ""]
            if section.lead:
                parts += [_md(section.lead), ""]
            for header, rows in section.tables:
                parts += [*_md_table(header, rows), ""]
            if section.notes:
                parts += [f"- {_md(note)}" for note in section.notes] + [""]
            if section.figure in self.figures:
                parts += [f"![{_md(_TITLES[section.figure])}](figures/{section.figure}.png)",
                          ""]
        return "\n".join(parts).rstrip() + "\n"

    def to_html(self) -> str:
        """The card as one self-contained HTML fragment, figures embedded as PNG data URLs."""
        esc = html.escape
        parts = ['<div class="nbmlops-model-card" style="font-size:13px;line-height:1.5">',
                 f"<h3>Model card: {esc(self.model or 'model')}</h3>",
                 f'<div style="color:#57606a">{esc(self._headline())}</div>']
        for section in _sections(self):
            parts.append(f'<h4 style="margin:.9em 0 .3em">{esc(section.title)}</h4>')
            if section.lead:
                parts.append(f"<p>{esc(section.lead)}</p>")
            parts += [_html_table(header, rows) for header, rows in section.tables]
            if section.notes:
                parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in section.notes)
                             + "</ul>")
            if section.figure in self.figures:
                data = base64.b64encode(self.figures[section.figure]).decode("ascii")
                parts.append(f'<div><img alt="{esc(_TITLES[section.figure])}" '
                             f'src="data:image/png;base64,{data}" style="max-width:100%">'
                             "</div>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [f"ModelCard: {self.model or 'model'}, {self._headline()}"]
        keys = _CLASSIFICATION_KEYS if self.task == "classification" else _REGRESSION_KEYS
        shown = [f"{k}={format_number(self.metrics[k])}" for k in keys if k in self.metrics]
        if shown:
            lines.append("  " + " ".join(shown))
        if self.fairness is not None:
            diffs = " ".join(f"{k}={format_number(v)}"
                             for k, v in self.fairness.differences.items())
            lines.append(f"  fairness by {self.fairness.attribute} "
                         f"({len(self.fairness.groups)} groups)" + (f": {diffs}" if diffs else ""))
        kind = next((k for k in IMPORTANCE_KINDS if self.importances.get(k)), None)
        if kind is not None:
            top = ranked(self.importances[kind])[:3]
            lines.append(f"  top features ({kind}): "
                         + ", ".join(f"{name}={format_number(v)}" for name, v in top))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def _headline(self) -> str:
        return f"{self.task} on {self.n_samples} held-out sample{'s' if self.n_samples != 1 else ''}"


@dataclass(frozen=True)
class _Section:
    """One part of a rendered card, the same for Markdown and HTML."""

    title: str
    tables: tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...] = ()
    lead: str = ""
    notes: tuple[str, ...] = ()
    figure: str = ""


def _sections(card: ModelCard) -> list[_Section]:
    out = [_Section("Metrics", ((("metric", "value"), tuple(
        (k, format_number(v)) for k, v in card.metrics.items())),))]
    if card.confusion is not None:
        names = tuple(str(label) for label in card.labels)
        rows = tuple((name, *(str(c) for c in counts))
                     for name, counts in zip(names, card.confusion, strict=True))
        out.append(_Section("Confusion matrix", (((("true ↓ predicted →"), *names), rows),),
                            figure="confusion_matrix"))
    if card.residuals is not None:
        out.append(_Section("Residuals (true − predicted)", ((("statistic", "value"), tuple(
            (k, format_number(v)) for k, v in card.residuals.items())),), figure="residuals"))
    kinds = [k for k in IMPORTANCE_KINDS if card.importances.get(k)]
    if kinds:
        features = ranked(card.importances[kinds[0]])
        header = ["feature"]
        for kind in kinds:
            header.append(kind)
            if kind == "permutation" and "permutation_std" in card.importances:
                header.append("permutation std")
        importance_rows: list[tuple[str, ...]] = []
        for name, _ in features[:TOP_FEATURES]:
            row = [name]
            for column in header[1:]:
                values = card.importances["permutation_std" if column == "permutation std"
                                          else column]
                row.append(format_number(values[name]) if name in values else "")
            importance_rows.append(tuple(row))
        lead = (f"Top {TOP_FEATURES} of {len(features)} features by {kinds[0]} importance."
                if len(features) > TOP_FEATURES else f"Features by {kinds[0]} importance.")
        out.append(_Section("Feature importance", ((tuple(header), tuple(importance_rows)),), lead=lead,
                            figure="importances"))
    if card.fairness is not None:
        fair = card.fairness
        columns = fair.columns
        group_rows = tuple((name, *(format_number(row[c]) for c in columns))
                           for name, row in fair.groups.items())
        tables = [(("group", *columns), group_rows)]
        if fair.differences:
            tables.append((("difference", "value"), tuple(
                (k, format_number(v)) for k, v in fair.differences.items())))
        out.append(_Section(f"Fairness by {fair.attribute}", tuple(tables), notes=fair.notes,
                            figure="fairness"))
    if card.notes:
        out.append(_Section("Notes", notes=card.notes))
    return out


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|#&$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str) -> str:
    """Text as literal Markdown: punctuation that would format or break a table escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.split()))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = html.escape
    head = "".join(f'<th style="text-align:left;padding-right:1em">{esc(h)}</th>'
                   for h in header)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left;padding-right:1em">'
                                    f"{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="nbmlops-card-table"><tr>{head}</tr>{body}</table>'
