"""Registering, loading, promoting and rolling back model versions.

``register`` is a short list of named steps: find the model and the run it came from;
check the gates; write the model file (skops unless told otherwise) and what describes it
(signature, reference profile and sample, model card, ONNX export); then record the
version, and point an alias at it, in one audited transaction. ``load`` refuses a file that
is not where the artifact store keeps it, whose bytes do not match the sha256 recorded at
registration, or that is a pickle the caller did not say to trust.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nbmlops import gates, tracking
from nbmlops._types import (
    Actor,
    ApprovalRequest,
    ArtifactRef,
    AuditEvent,
    ModelVersion,
    NewModelVersion,
    RunRecord,
)
from nbmlops.artifacts import check_name
from nbmlops.errors import ArtifactError, ModelNotFoundError, UnsafeModelError
from nbmlops.references import Reference, check_alias, check_model_name, parse_reference
from nbmlops.registry import formats
from nbmlops.registry.signature import Signature, enforce, infer
from nbmlops.tracking import MODEL_MEDIA_TYPE, active_run

if TYPE_CHECKING:
    import pandas as pd

    from nbmlops.registry.card import ModelCard
    from nbmlops.workspace import Workspace


def actor(ws: Workspace) -> Actor:
    return ws.actor


# -- loading -----------------------------------------------------------------------------

@dataclass
class LoadedModel:
    """A registered model, loaded: ``predict`` checks its input against the signature."""

    version: ModelVersion
    model: Any
    signature: Signature | None = field(default=None)

    @property
    def name(self) -> str:
        return self.version.model

    def prepare(self, data: Any) -> Any:
        """The input as the model expects it (columns, order, lossless casts), or a
        SignatureError naming the column at fault."""
        return data if self.signature is None else enforce(self.signature, data)

    def predict(self, data: Any) -> Any:
        return self.model.predict(self.prepare(data))

    def predict_proba(self, data: Any) -> Any:
        return self.model.predict_proba(self.prepare(data))

    def __getattr__(self, name: str) -> Any:  # classes_, feature_names_in_, ...
        # only for attributes the model has: copy and pickle probe for dunders before
        # ``model`` is set, and must get an AttributeError, not a recursion
        model = self.__dict__.get("model")
        if model is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(model, name)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.version}: {type(self.model).__name__}>"


def resolve(ws: Workspace, reference: str | Reference) -> ModelVersion:
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    return ws.store.get_model_version(ref.model, version=ref.version, alias=ref.alias)


def model_file(ws: Workspace, version: ModelVersion) -> bytes:
    """The version's file bytes: where the artifact store keeps them, sha256 verified."""
    store = ws.artifacts
    try:
        expected = store.key_of(version.sha256)
    except ArtifactError as exc:
        raise UnsafeModelError(f"{version.reference}: its recorded sha256 is not valid "
                               f"({exc}); refusing to load it",
                               reference=version.reference) from exc
    try:
        check_name(version.source)
    except ArtifactError as exc:
        raise UnsafeModelError(f"{version.reference}: its file location {version.source!r} "
                               "points outside the artifact root; refusing to load it",
                               reference=version.reference) from exc
    if version.source != expected:
        raise UnsafeModelError(f"{version.reference}: its file location {version.source!r} is "
                               "not where its sha256 says the file is; refusing to load it",
                               reference=version.reference)
    try:
        return store.read_bytes(version.sha256)
    except ArtifactError as exc:
        raise UnsafeModelError(f"{version.reference}: {exc}; refusing to load it",
                               reference=version.reference) from exc


def load(ws: Workspace, reference: str | Reference, *, trusted: formats.Trust = False
         ) -> LoadedModel:
    """The version ``reference`` names, loaded trusting only well-known types beyond what
    ``trusted`` names (see :mod:`nbmlops.registry.formats`)."""
    trusted = formats.check_trust(trusted)
    version = resolve(ws, reference)
    if version.format == "pickle" and trusted is False:  # refuse before reading a byte
        raise formats.refuse_pickle(version.reference)
    data = model_file(ws, version)
    model = formats.load(data, version.format, version.trusted_types, trusted=trusted,
                         reference=version.reference)
    signature = None if version.signature is None else Signature.from_json(version.signature)
    return LoadedModel(version=version, model=model, signature=signature)


def check_loadable(ws: Workspace, reference: str | Reference, *,
                   trusted: formats.Trust = False) -> ModelVersion:
    """The version, once its file is verified and holds only types ``trusted`` allows
    (as :func:`load` would refuse them, but without loading anything)."""
    version = resolve(ws, reference)
    if version.format == "pickle" and formats.check_trust(trusted) is False:
        raise formats.refuse_pickle(version.reference)
    formats.audit(model_file(ws, version), version.format, version.trusted_types,
                  trusted=trusted, reference=version.reference)
    return version


# -- registering -------------------------------------------------------------------------

def run_model(ws: Workspace, run: RunRecord, artifact: str, *,
              trusted: formats.Trust) -> Any:
    """A run's model artifact, as an object. %%track stores pickles: one is read only with
    ``trusted=True``, or with a list of type names (then restricted to well-known types
    and those); a skops artifact trusts well-known types and the names listed."""
    trusted = formats.check_trust(trusted)
    try:
        art = run.artifact(artifact)
    except KeyError as exc:
        raise ModelNotFoundError(f"run {run.id[:8]}", reason=str(exc.args[0])) from None
    if art.artifact.media_type == MODEL_MEDIA_TYPE and trusted is False:
        raise UnsafeModelError(
            f"run {run.id[:8]}'s {artifact!r} was saved as a pickle by %%track, and loading a "
            "pickle runs code: register it with trusted=True (--trusted) if you trust this "
            "store; the version is then saved in skops' safe format",
            reference=f"run {run.id[:8]}")
    data = ws.artifacts.read_bytes(art.artifact.sha256)
    if art.artifact.media_type == MODEL_MEDIA_TYPE:
        return formats.load(data, "pickle", (), trusted=trusted, reference=f"run {run.id[:8]}")
    import skops.io as sio

    try:  # nothing was recorded about this file: the types it holds are what it holds
        held = tuple(sio.get_untrusted_types(data=data))
    except Exception:
        held = ()  # formats.load names the invalid file
    return formats.load(data, "skops", held, trusted=trusted, reference=f"run {run.id[:8]}")


def source_run(ws: Workspace, model: Any) -> RunRecord | None:
    """The run ``model`` came from: the run that stored or fitted this very object (a
    ``%%track`` cell, ``log_model``, a ``with track()`` block), else the run being tracked
    here now (a script that registers inside its tracked block)."""
    source = tracking.source_of(ws, model)
    if source is not None:
        return ws.store.get_run(source[0])
    active = active_run()
    return ws.store.get_run(active.id) if active is not None else None


def training_data(ws: Workspace, model: Any, candidates: Mapping[str, Any]) -> Any:
    """Among ``candidates`` (e.g. a notebook's variables), the frame ``model`` was trained
    on: one its source run read or made, still unchanged (checked by fingerprint)."""
    source = tracking.source_of(ws, model)
    if source is None:
        return None
    run = ws.store.get_run(source[0])
    names = getattr(model, "feature_names_in_", None)
    for link in (*run.inputs, *run.outputs):
        value = candidates.get(link.name)
        if value is None or link.dataset.kind != "dataframe":
            continue
        if names is not None and tuple(map(str, names)) != link.dataset.columns:
            continue
        try:
            if tracking.fingerprint_of(value).digest == link.dataset.digest:
                return value
        except TypeError:
            continue
    return None


def card_html(ws: Workspace, version: ModelVersion) -> str | None:
    """The version's model card as HTML, when it has one."""
    if "card.html" not in version.files:
        return None
    return ws.artifacts.read_bytes(version.files["card.html"]).decode()


def _training_fingerprint(run: RunRecord | None, model: Any) -> Any:
    """The source run's data the model was trained on, if it can be told: a frame with the
    model's feature names (read or made by the run), else the run's first ``X…`` input."""
    if run is None:
        return None
    frames = [ln.dataset for ln in (*run.inputs, *run.outputs)
              if ln.dataset.kind in ("dataframe", "ndarray")]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        wanted = tuple(str(n) for n in names)
        for fp in frames:
            if fp.columns == wanted:
                return fp
    for link in run.inputs:
        if link.dataset.kind == "dataframe" and link.name.lower().startswith("x"):
            return link.dataset
    inputs = [ln.dataset for ln in run.inputs if ln.dataset.kind in ("dataframe", "ndarray")]
    return inputs[0] if inputs else None


@dataclass(frozen=True)
class Registration:
    """What ``register`` needs beyond the model: all optional."""

    description: str | None = None
    alias: str | None = None
    reason: str | None = None
    data: pd.DataFrame | None = None  # training data: signature, profile, sample
    card: ModelCard | None = None
    # held-out metrics with intervals and the calibration map production is judged by
    # (nbmlops.evaluation.held_out_baseline), kept as performance.json
    baseline: Mapping[str, Any] | None = None
    require: tuple[str, ...] = ()
    onnx: bool = False
    format: str = "skops"
    trusted: formats.Trust = False


def register(ws: Workspace, model: Any = None, *, name: str, run_id: str | None = None,
             artifact: str = "model", how: Registration = Registration()) -> ModelVersion:
    """Register ``model`` (or run ``run_id``'s ``artifact``) as the next version of ``name``."""
    check_model_name(name)
    if how.alias is not None:
        check_alias(how.alias)
    parsed_gates = [gates.parse(g) for g in how.require]
    if how.alias is not None:  # a protected alias: its gates hold for the request it opens
        from nbmlops.registry.approvals import protection_gates

        parsed_gates += [gates.parse(g) for g in protection_gates(ws, name, how.alias)]
    model_format = formats.get_format(how.format)
    # 1. the model and the run it came from
    run = None
    if run_id is not None:
        run = ws.store.get_run(run_id)
        if model is None:
            model = run_model(ws, run, artifact, trusted=how.trusted)
    elif model is not None:
        run = source_run(ws, model)
    if model is None:
        raise ValueError("register() needs a model object, or run= with a model artifact")
    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"a {type(model).__name__} has no predict(): register a fitted model")
    # 2. the gates, before anything is written
    # a card's held-out scores describe the model; without one, the source run's metrics do
    # (never a mix: the run's "roc_auc" may be cross-validated, the card's is on test data)
    metrics: dict[str, float] = (dict(how.card.metrics) if how.card is not None
                                 else dict(run.metrics) if run is not None else {})
    gates.check(parsed_gates, metrics, what=f"registering {name}")
    # 3. the files
    data, trusted_types = model_format.dump(model, trusted=how.trusted)
    ref = ws.artifacts.put_bytes(data, media_type=model_format.media_type)
    files = _describing_files(ws, model, how)
    signature = infer(model, data=how.data,
                      fingerprint=_training_fingerprint(run, model) if how.data is None
                      else None)
    if how.onnx:
        files["model.onnx"] = _onnx(ws, model, signature)
    # 4. the record
    new = NewModelVersion(
        model=name, run_id=run.id if run is not None else None, flavor=_flavor(model),
        format=how.format, artifact=ref, source=_relative_source(ws, ref),
        trusted_types=trusted_types, signature=None if signature is None
        else signature.to_json(), metrics={k: v for k, v in metrics.items()
                                           if isinstance(v, float) and math.isfinite(v)},
        files=files, description=how.description)
    return ws.store.create_model_version(new, actor=actor(ws), alias=how.alias,
                                              reason=how.reason)


def _flavor(model: Any) -> str:
    module = type(model).__module__.split(".")[0]
    return "sklearn" if module == "sklearn" else module


def _relative_source(ws: Workspace, ref: ArtifactRef) -> str:
    return ws.artifacts.key_of(ref.sha256)


def _describing_files(ws: Workspace, model: Any, how: Registration) -> dict[str, ArtifactRef]:
    files: dict[str, ArtifactRef] = {}
    put = ws.artifacts.put_bytes
    if how.data is not None:
        from nbmlops.registry.profile import profile, sample, to_parquet_bytes

        files["profile.json"] = put(json.dumps(profile(how.data), allow_nan=False).encode(),
                                    media_type="application/json")
        files["sample.parquet"] = put(to_parquet_bytes(_parquet_safe(sample(how.data))),
                                      media_type="application/vnd.apache.parquet")
    if how.baseline is not None:
        files["performance.json"] = put(json.dumps(how.baseline, allow_nan=False).encode(),
                                        media_type="application/json")
    if how.card is not None:
        files["card.html"] = put(how.card.to_html().encode(), media_type="text/html")
        files["card.md"] = put(how.card.to_markdown().encode(), media_type="text/markdown")
        for path, png in how.card.figure_files().items():  # card.md links figures/<name>.png
            files[path] = put(png, media_type="image/png")
    return files


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns that mix types (``[1, "a"]``) become text: Parquet columns have one type."""
    mixed = [c for c in frame.columns if frame[c].dtype == object
             and len({type(v) for v in frame[c].dropna()}) > 1]
    return frame.astype({c: str for c in mixed}) if mixed else frame


def _onnx(ws: Workspace, model: Any, signature: Signature | None) -> ArtifactRef:
    try:
        from skl2onnx import to_onnx
    except ImportError as exc:
        from nbmlops.errors import MissingExtraError

        raise MissingExtraError("ONNX export", extra="onnx", module="skl2onnx") from exc
    import numpy as np

    if signature is None:
        raise ValueError("ONNX export needs the model's input signature: register it with "
                         "its training data (data=...)")
    sample = np.zeros((1, len(signature.inputs)), dtype=np.float32)
    try:
        proto = to_onnx(model, sample, target_opset=None)
    except Exception as exc:
        raise ValueError(f"skl2onnx cannot convert this {type(model).__name__}: {exc}") from exc
    return ws.artifacts.put_bytes(proto.SerializeToString(),
                                       media_type="application/onnx")


# -- aliases -----------------------------------------------------------------------------

def promote(ws: Workspace, name: str, version: int, alias: str, *, reason: str | None = None,
            require: Iterable[str] = ()) -> AuditEvent | ApprovalRequest | None:
    """Point ``name@alias`` at ``version`` (gates checked on the version's metrics).

    A protected alias does not move: the request opened instead is returned (its
    protection's gates are checked too, now and again at approval)."""
    from nbmlops.registry.approvals import protection_gates

    check_model_name(name)
    check_alias(alias)
    parsed = [gates.parse(g) for g in require]
    target = ws.store.get_model_version(name, version=version)
    parsed += [gates.parse(g) for g in protection_gates(ws, name, alias)]
    gates.check(parsed, target.metrics, what=f"promoting {target.reference} to @{alias}")
    return ws.store.set_alias(name, alias, version, actor=actor(ws), reason=reason)


def rollback(ws: Workspace, reference: str, *, reason: str | None = None
             ) -> AuditEvent | ApprovalRequest:
    """Point ``name@alias`` back at the version before (a protected alias: the request
    opened instead)."""
    ref = parse_reference(reference)
    if ref.alias is None:
        raise ValueError(f"rollback needs an alias, like {ref.model}@production")
    return ws.store.rollback_alias(ref.model, ref.alias, actor=actor(ws), reason=reason)
