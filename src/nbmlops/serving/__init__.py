"""Serving registered models: a REST server, batch scoring, prediction logs, bundles.

A served process imports this package and what it needs below it (the store, the
registry's loader, pandas, the model's own libraries): never IPython, ipywidgets or the
notebook machinery, so that a server starts fast and lean. Modules:

* :mod:`~nbmlops.serving.model`: a loaded version as the server uses it, and request
  payloads (records, columns, MLflow's shapes) turned into model input;
* :mod:`~nbmlops.serving.app`: the ASGI application (Starlette) and its endpoints;
* :mod:`~nbmlops.serving.sources`: where the model comes from (the store, following an
  alias, or an exported bundle) and how a moved alias is switched to;
* :mod:`~nbmlops.serving.predlog`: the bounded, sampled Parquet log of what was served;
* :mod:`~nbmlops.serving.server`: running uvicorn in the foreground, recording the
  deployment; :mod:`~nbmlops.serving.manage`: starting, listing and stopping servers in
  the background;
* :mod:`~nbmlops.serving.batch`: scoring files in chunks (pandas or dask);
* :mod:`~nbmlops.serving.bundle`: a self-contained folder that serves a version.

``python -m nbmlops.serving TARGET`` serves a model reference from the store
(``churn@production``) or a bundle folder.
"""
