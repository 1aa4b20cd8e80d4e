"""nbmlops: Jupyter-native MLOps.

In a notebook::

    %load_ext nbmlops

    %%track --experiment churn --name baseline
    model = LogisticRegression(C=C).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))

In a script::

    import nbmlops

    with nbmlops.track("churn", "baseline"):
        nbmlops.log_metric("accuracy", 0.91)

    nbmlops.runs("churn", where="metrics.accuracy > 0.8", sort="-metrics.accuracy")

Importing nbmlops is cheap: the API is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nbmlops.errors import (
    ApprovalError,
    ArtifactError,
    ConfigError,
    DeploymentError,
    DriftDetected,
    GateError,
    JobFailed,
    JobSpecError,
    MissingExtraError,
    ModelNotFoundError,
    NbmlopsError,
    NoActiveRunError,
    ParamConflictError,
    PermissionDeniedError,
    QueryError,
    RunNotFoundError,
    SchemaVersionError,
    SignatureError,
    StoreError,
    TuneError,
    UnsafeModelError,
)

__version__ = "0.1.0"

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
    "ParamConflictError",
    "PermissionDeniedError",
    "QueryError",
    "RunNotFoundError",
    "SchemaVersionError",
    "SignatureError",
    "StoreError",
    "TuneError",
    "UnsafeModelError",
    "active_run",
    "approval_requests",
    "approve",
    "audit_events",
    "audit_head",
    "compare",
    "create_monitor",
    "deploy",
    "deployment_logs",
    "deployments",
    "download_artifact",
    "drift",
    "drift_checks",
    "evaluate",
    "export_bundle",
    "export_job",
    "get_deployment",
    "get_run",
    "job_history",
    "job_runs",
    "jobs",
    "lineage",
    "load_model",
    "log_artifact",
    "log_feedback",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "metric_history",
    "model_history",
    "models",
    "monitor_checks",
    "performance",
    "predictions",
    "promote",
    "protect_alias",
    "protections",
    "register",
    "reject",
    "reproduce",
    "rollback",
    "rollout",
    "run_job",
    "run_monitor",
    "run_slice",
    "runs",
    "score_batch",
    "serve",
    "set_tags",
    "stop_deployment",
    "store_info",
    "team_add",
    "team_init",
    "team_list",
    "team_remove",
    "track",
    "tune",
    "unprotect_alias",
    "upgrade_store",
    "verify_audit",
    "whoami",
]

_API = frozenset(n for n in __all__ if n[0].islower())

if TYPE_CHECKING:
    from nbmlops.api import (
        active_run,
        approval_requests,
        approve,
        audit_events,
        audit_head,
        compare,
        deploy,
        deployment_logs,
        deployments,
        download_artifact,
        drift,
        drift_checks,
        evaluate,
        export_bundle,
        export_job,
        get_deployment,
        get_run,
        job_history,
        job_runs,
        jobs,
        lineage,
        load_model,
        log_artifact,
        log_feedback,
        log_input,
        log_metric,
        log_metrics,
        log_model,
        log_param,
        log_params,
        metric_history,
        model_history,
        models,
        performance,
        predictions,
        promote,
        protect_alias,
        protections,
        register,
        reject,
        reproduce,
        rollback,
        rollout,
        run_job,
        run_slice,
        runs,
        score_batch,
        serve,
        set_tags,
        stop_deployment,
        store_info,
        team_add,
        team_init,
        team_list,
        team_remove,
        track,
        tune,
        unprotect_alias,
        upgrade_store,
        verify_audit,
        whoami,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from nbmlops import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nbmlops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbmlops``: register the magics on this IPython shell."""
    from nbmlops._extension import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext nbmlops``: remove the magics and release the kernel's state."""
    from nbmlops._extension import unload

    unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension (the panel's REST API) lives in ``nbmlops.server``."""
    return [{"module": "nbmlops.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Load the REST API (for a server that loads ``nbmlops`` itself as the module)."""
    from nbmlops.server import _load_jupyter_server_extension as load

    load(serverapp)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (the MLOps panel), for ``jupyter labextension``."""
    return [{"src": "labextension", "dest": "nbmlops"}]
