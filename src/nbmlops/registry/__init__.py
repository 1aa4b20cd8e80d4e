"""The model registry: versions, aliases with history, safe model files, signatures, cards.

The names below are what other capabilities and the API may use; each is imported on first
use (PEP 562), so a served model imports only the parts it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops._lazy import surface

if TYPE_CHECKING:
    from nbmlops.registry.card import ModelCard
    from nbmlops.registry.profile import from_parquet_bytes
    from nbmlops.registry.registry import (
        LoadedModel,
        Reference,
        Registration,
        card_html,
        check_alias,
        check_loadable,
        check_model_name,
        load,
        model_file,
        parse_reference,
        promote,
        register,
        resolve,
        rollback,
        run_model,
        source_run,
        training_data,
    )
    from nbmlops.registry.signature import ANY, Signature, enforce, infer

_WHERE = {
    "ModelCard": "card",
    "from_parquet_bytes": "profile",
    **dict.fromkeys(("ANY", "Signature", "enforce", "infer"), "signature"),
    **dict.fromkeys((
        "LoadedModel", "Reference", "Registration", "card_html", "check_alias",
        "check_loadable", "check_model_name", "load", "model_file", "parse_reference",
        "promote", "register", "resolve", "rollback", "run_model", "source_run",
        "training_data"), "registry"),
}

__all__ = [
    "ANY",
    "LoadedModel",
    "ModelCard",
    "Reference",
    "Registration",
    "Signature",
    "card_html",
    "check_alias",
    "check_loadable",
    "check_model_name",
    "enforce",
    "from_parquet_bytes",
    "infer",
    "load",
    "model_file",
    "parse_reference",
    "promote",
    "register",
    "resolve",
    "rollback",
    "run_model",
    "source_run",
    "training_data",
]


__getattr__, __dir__ = surface(__name__, _WHERE)
