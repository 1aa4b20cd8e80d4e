"""A transformer of the user's own whose unpickling has a side effect (it writes the
file named by its ``marker``): proof, when the file appears, that loading ran its code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin


class Noisy(TransformerMixin, BaseEstimator):
    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def fit(self, X: Any, y: Any = None) -> Noisy:
        self.fitted_ = True
        return self

    def transform(self, X: Any) -> Any:
        return X

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["marker"]).write_text("ran")
        self.__dict__.update(state)
