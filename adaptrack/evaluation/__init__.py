"""Evaluation toolkit: numbers equal to the reference toolkits', from raw files those toolkits can read.

* :mod:`~adaptrack.evaluation.metrics` — pure functions of arrays: success / precision / normalised precision
  curves and scores under the ``got10k`` (default), ``pysot`` and ``official`` conventions, GOT-10k AO/SR,
  VOT accuracy, robustness and EAO.
* :mod:`~adaptrack.evaluation.protocols` — one-pass and VOT supervised (reset-based) protocols.
* :mod:`~adaptrack.evaluation.runner` — ``run_eval``: trackers x sequences, parallel, resumable, shardable.
* :mod:`~adaptrack.evaluation.report` / :mod:`~adaptrack.evaluation.plots` — tables and PNG plots.

The conventions and file formats are documented in ``docs/evaluation.md``.
"""
