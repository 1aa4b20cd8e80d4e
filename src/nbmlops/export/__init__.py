"""Exporting a notebook as a job: the job folder, its spec, schedulers' files, running it.

* :mod:`~nbmlops.export.spec`: ``job.yaml`` — what a job is (notebook, parameters,
  schedule, gates, …), read and validated with errors that name the field;
* :mod:`~nbmlops.export.notebook`: the notebook cleaned for batch (a ``parameters`` cell,
  ``nbmlops:skip`` cells dropped, outputs cleared, content hash pinned);
* :mod:`~nbmlops.export.targets`: the files each scheduler needs (cron, systemd, GitHub
  Actions, Airflow, and any target a plugin adds);
* :mod:`~nbmlops.export.runner`: ``nbmlops jobs run`` — papermill in a real kernel, the job
  recorded as the parent run of the notebook's runs, gates, on-success actions, timeout
  and retries;
* :mod:`~nbmlops.export.suite`: ``nbmlops jobs run --all`` and ``nbmlops ci`` — several
  job folders (and notebooks exported as throwaway jobs) run one after another.

Export targets are plugins: :func:`register_target` adds one at run time, an installed
package adds one through an entry point in the group ``nbmlops.export_targets`` (an object
following :class:`ExportTarget`), and :func:`target_names` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nbmlops._lazy import surface
from nbmlops.plugins import NameView

if TYPE_CHECKING:
    from nbmlops.export.spec import JobSpec, check_schedule
    from nbmlops.export.targets import ExportTarget, TargetJob
    from nbmlops.export.targets import instructions as target_instructions
    from nbmlops.export.targets import register as register_target
    from nbmlops.export.targets import write as write_targets


def target_names() -> Sequence[str]:
    """The export targets' names (the built-ins first), as a live view read when it is
    used: holding it, as the CLI's ``--target`` choices do, loads no plugin."""
    return NameView(_target_names)


def _target_names() -> tuple[str, ...]:
    from nbmlops.export.targets import names

    return names()


# register_target(name, target): add (or replace) the export target ``name``;
# write_targets(spec, targets, job_dir=, project_root=, python=, verb=): the schedulers'
# files for a folder that ``nbmlops VERB FOLDER`` runs (a monitor's too)
_WHERE = {**dict.fromkeys(("ExportTarget", "TargetJob", "register_target", "write_targets",
                           "target_instructions"), "targets"),
          **dict.fromkeys(("JobSpec", "check_schedule"), "spec")}
__getattr__, __dir__ = surface(__name__, _WHERE, {"register_target": "register",
                                                  "write_targets": "write",
                                                  "target_instructions": "instructions"})

__all__ = ["ExportTarget", "JobSpec", "TargetJob", "check_schedule", "register_target",
           "target_instructions", "target_names", "write_targets"]
