"""The model registry: versions, aliases with history, safe model files, signatures, cards.

The names below are what other capabilities and the API may use; each is imported on first
use (PEP 562), so a served model imports only the parts it needs. Model references are
parsed below the capabilities (:mod:`nbmlops.references`) and named here as well.

Model formats are plugins (:mod:`nbmlops.registry.formats`): :func:`register_format` adds
one at run time, an installed package adds one through an entry point in the group
``nbmlops.model_formats`` (an object following :class:`ModelFormat`), :func:`format_names`
lists them and :func:`get_format` finds one by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nbmlops._lazy import surface
from nbmlops.references import Reference, check_alias, check_model_name, parse_reference

if TYPE_CHECKING:
    from nbmlops.registry.approvals import (
        approve,
        find_request,
        protect,
        protection_gates,
        protections,
        reject,
        requests,
        unprotect,
    )
    from nbmlops.registry.card import ModelCard
    from nbmlops.registry.formats import (
        ModelFormat,
        format_names,
        get_format,
        load_data_pickle,
        register_format,
    )
    from nbmlops.registry.profile import from_parquet_bytes
    from nbmlops.registry.registry import (
        LoadedModel,
        Registration,
        card_html,
        check_loadable,
        load,
        model_file,
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
    **dict.fromkeys(("approve", "find_request", "protect", "protection_gates", "protections",
                     "reject", "requests", "unprotect"), "approvals"),
    "ModelCard": "card",
    **dict.fromkeys(("ModelFormat", "format_names", "get_format", "load_data_pickle",
                     "register_format"), "formats"),
    "from_parquet_bytes": "profile",
    **dict.fromkeys(("ANY", "Signature", "enforce", "infer"), "signature"),
    **dict.fromkeys((
        "LoadedModel", "Registration", "card_html", "check_loadable", "load", "model_file",
        "promote", "register", "resolve", "rollback", "run_model", "source_run",
        "training_data"), "registry"),
}

__all__ = [
    "ANY",
    "LoadedModel",
    "ModelCard",
    "ModelFormat",
    "Reference",
    "Registration",
    "Signature",
    "approve",
    "card_html",
    "check_alias",
    "check_loadable",
    "check_model_name",
    "enforce",
    "find_request",
    "format_names",
    "from_parquet_bytes",
    "get_format",
    "infer",
    "load",
    "load_data_pickle",
    "model_file",
    "parse_reference",
    "promote",
    "protect",
    "protection_gates",
    "protections",
    "register",
    "register_format",
    "reject",
    "requests",
    "resolve",
    "rollback",
    "run_model",
    "source_run",
    "training_data",
    "unprotect",
]


__getattr__, __dir__ = surface(__name__, _WHERE)
