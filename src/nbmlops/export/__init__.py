"""Exporting a notebook as a job: the job folder, its spec, schedulers' files, running it.

* :mod:`~nbmlops.export.spec`: ``job.yaml`` — what a job is (notebook, parameters,
  schedule, gates, …), read and validated with errors that name the field;
* :mod:`~nbmlops.export.notebook`: the notebook cleaned for batch (a ``parameters`` cell,
  ``nbmlops:skip`` cells dropped, outputs cleared, content hash pinned);
* :mod:`~nbmlops.export.targets`: the files each scheduler needs (cron, systemd, GitHub
  Actions, Airflow);
* :mod:`~nbmlops.export.runner`: ``nbmlops jobs run`` — papermill in a real kernel, the job
  recorded as the parent run of the notebook's runs, gates, on-success actions, timeout
  and retries;
* :mod:`~nbmlops.export.suite`: ``nbmlops jobs run --all`` and ``nbmlops ci`` — several
  job folders (and notebooks exported as throwaway jobs) run one after another.
"""
