"""The pipeline's stages, shared by the CLI, ``dvc.yaml`` and the Prefect flow.

- ``base``: the contract (``Stage``, ``StageContext``, ``StageOutput`` and each stage's typed info);
- ``pipeline``: the stage table (one entry per stage), selection, fingerprints and stamps;
- one module per stage, each with its plain functions and the table's ``run``/``log`` hooks:
  ``data``, ``corpus``, ``train`` (pretrain, sft, align), ``evaluate``, ``register``.

Paths come from ``knowcoder.artifacts``; MLflow run handling from ``knowcoder.tracking.runs``.
"""
