"""Errors raised by nbmlops.

Every error nbmlops raises on purpose derives from :class:`NbmlopsError`, carries the
structured fields a caller needs (the run id, the path, the revision), and says in its
message what to do next::

    NbmlopsError
    ├── ConfigError(NbmlopsError, ValueError)        a setting is malformed
    ├── StoreError(NbmlopsError, RuntimeError)       the lineage store failed
    │   └── SchemaVersionError                       the store's schema is not this version's
    ├── RunNotFoundError(NbmlopsError, LookupError)  no run has that id
    ├── NoActiveRunError(NbmlopsError, RuntimeError) log_* called outside a tracked run
    ├── ParamConflictError(NbmlopsError, ValueError) a param re-logged with another value
    ├── ParamValueError(NbmlopsError, ValueError)    a param value cannot be stored as it is
    ├── QueryError(NbmlopsError, ValueError)         a --where / --sort expression is invalid
    ├── ArtifactError(NbmlopsError, ValueError)      an artifact name/blob is unsafe, corrupt or unstorable
    ├── TuneError(NbmlopsError, ValueError)          a search is set up wrongly (estimator, space, …)
    ├── ModelNotFoundError(NbmlopsError, LookupError) no registered model/version/alias by that name
    ├── UnsafeModelError(NbmlopsError, RuntimeError) a model file is untrusted, tampered or misplaced
    ├── SignatureError(NbmlopsError, ValueError)     input does not match a model's signature
    ├── GateError(NbmlopsError, ValueError)          a --require gate failed (registration refused)
    ├── ApprovalError(NbmlopsError, RuntimeError)    an approval request cannot be decided so
    ├── DeploymentError(NbmlopsError, RuntimeError)  a deployment cannot start, stop or be found
    ├── DriftDetected(NbmlopsError, RuntimeError)    fail_on_drift: the data drifted (.report)
    ├── JobSpecError(NbmlopsError, ValueError)       job.yaml or an export option is invalid
    ├── JobFailed(NbmlopsError, RuntimeError)        a job run failed (cell, gate, timeout, action)
    ├── ReproduceError(NbmlopsError, ValueError)     a run cannot be reproduced (no slice, no code)
    └── MissingExtraError(NbmlopsError, ImportError) an optional dependency is not installed

Only ``magics/`` turns these into IPython ``UsageError`` and only ``server/`` into HTTP
status codes.
"""

from __future__ import annotations

__all__ = [
    "ApprovalError",
    "ArtifactError",
    "ConfigError",
    "DeploymentError",
    "DriftDetected",
    "GateError",
    "JobFailed",
    "JobSpecError",
    "MissingExtraError",
    "ModelNotFoundError",
    "NbmlopsError",
    "NoActiveRunError",
    "NoStoreError",
    "ParamConflictError",
    "ParamValueError",
    "PermissionDeniedError",
    "QueryError",
    "ReproduceError",
    "RunNotFoundError",
    "SchemaVersionError",
    "SignatureError",
    "StoreError",
    "TuneError",
    "UnsafeModelError",
]


class NbmlopsError(Exception):
    """Root of every error nbmlops raises on purpose."""


class ConfigError(NbmlopsError, ValueError):
    """A setting (environment variable or ``[tool.nbmlops]``) is malformed."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class StoreError(NbmlopsError, RuntimeError):
    """The lineage store could not be opened, read or written."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NoStoreError(StoreError):
    """Nothing has been recorded here yet: there is no lineage store at the location."""


class SchemaVersionError(StoreError):
    """The store's schema revision is not one this version of nbmlops can use."""

    def __init__(
        self, message: str, *, url: str | None = None, found: str | None, expected: str
    ) -> None:
        super().__init__(message, url=url)
        self.found = found
        self.expected = expected


class PermissionDeniedError(StoreError):
    """The database refused the action: the session's role lacks the one it needs (team
    mode on PostgreSQL). Nothing of the action was written. ``role``: the group role that
    may do it (``nbmlops_writer``, ...), or None when only the database owner may."""

    def __init__(self, message: str, *, url: str | None = None, role: str | None,
                 user: str | None = None) -> None:
        super().__init__(message, url=url)
        self.role = role
        self.user = user


class RunNotFoundError(NbmlopsError, LookupError):
    """No run matches the id (or id prefix) given."""

    def __init__(self, run_id: str, *, reason: str = "no run has that id") -> None:
        super().__init__(
            f"run {run_id!r}: {reason}; list runs with `nbmlops runs list` or `%runs`"
        )
        self.run_id = run_id

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0])


class NoActiveRunError(NbmlopsError, RuntimeError):
    """A ``log_*`` function was called while no run was being tracked."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs an active run: call it inside a `%%track` cell or a "
            "`with nbmlops.track(...):` block (a thread or process started there does "
            "not inherit the run: pass it along and call run.log_metric(...) instead)"
        )


class ParamConflictError(NbmlopsError, ValueError):
    """A param was logged again in the same run with a different value."""

    def __init__(self, run_id: str, key: str, old: object, new: object) -> None:
        super().__init__(
            f"param {key!r} of run {run_id[:8]} is already {old!r}; it cannot become {new!r}. "
            "Params are the inputs of a run and never change: log the new value under "
            "another key, or as a metric if it varies"
        )
        self.run_id = run_id
        self.key = key
        self.old = old
        self.new = new


class ParamValueError(NbmlopsError, ValueError):
    """A param value cannot be stored exactly (bytes, an object, too long): it is refused,
    never turned into something else."""

    def __init__(self, key: str, reason: str, hint: str) -> None:
        super().__init__(f"param {key!r} cannot be stored as it is: {reason}; {hint}")
        self.key = key
        self.reason = reason


class QueryError(NbmlopsError, ValueError):
    """A filter (``--where``) or sort (``--sort``) expression is not valid."""

    def __init__(self, message: str, *, expression: str) -> None:
        super().__init__(f"{message} in {expression!r}")
        self.expression = expression


class ArtifactError(NbmlopsError, ValueError):
    """An artifact name is not allowed, a blob failed verification, or an artifact (a
    model, a file) could not be stored (the artifacts folder is not writable, a model
    cannot be pickled)."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class TuneError(NbmlopsError, ValueError):
    """A hyperparameter search cannot start: the message names the argument at fault."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class ModelNotFoundError(NbmlopsError, LookupError):
    """No registered model, version or alias matches the reference given."""

    def __init__(self, reference: str, *, reason: str) -> None:
        super().__init__(f"model {reference!r}: {reason}; list models with `nbmlops models "
                         "list` or `%register --list`")
        self.reference = reference

    def __str__(self) -> str:
        return str(self.args[0])


class UnsafeModelError(NbmlopsError, RuntimeError):
    """A model file will not be loaded: it is a pickle not marked trusted, its bytes do not
    match the sha256 recorded at registration, or its location is outside the artifact
    root."""

    def __init__(self, message: str, *, reference: str | None = None) -> None:
        super().__init__(message)
        self.reference = reference


class SignatureError(NbmlopsError, ValueError):
    """Input data does not match a model version's signature (the column is named)."""

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class GateError(NbmlopsError, ValueError):
    """A gate (``accuracy>=0.8``) failed, so the registration or promotion was refused."""

    def __init__(self, message: str, *, gate: str, value: float | None) -> None:
        super().__init__(message)
        self.gate = gate
        self.value = value


class ApprovalError(NbmlopsError, RuntimeError):
    """A protected alias's request cannot be opened or decided that way (one's own request,
    a second vote, a request already decided, an alias that moved since)."""

    def __init__(self, message: str, *, request: int | None = None) -> None:
        super().__init__(message)
        self.request = request


class DeploymentError(NbmlopsError, RuntimeError):
    """A deployment cannot be started, stopped or found (the message says what to do)."""

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


class MissingExtraError(NbmlopsError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""

    def __init__(self, feature: str, *, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency {module!r}: "
            f'pip install "nbmlops[{extra}]"'
        )
        self.extra = extra
        self.module = module


class DriftDetected(NbmlopsError, RuntimeError):
    """``fail_on_drift``: the data drifted. The report (already recorded) is ``.report``."""

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class JobSpecError(NbmlopsError, ValueError):
    """``job.yaml`` (or an export option) is not valid; the message names the field."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ReproduceError(NbmlopsError, ValueError):
    """A run cannot be reproduced as asked: it has no slice (recorded without the cell
    journal) or no code. ``run_id`` is the run's full id."""

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class JobFailed(NbmlopsError, RuntimeError):
    """A job run failed: a cell raised, a gate did not pass, it timed out, or an
    on-success action failed. ``run_id`` is the job's run."""

    def __init__(self, message: str, *, run_id: str | None = None, reason: str = "failed"
                 ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.reason = reason
