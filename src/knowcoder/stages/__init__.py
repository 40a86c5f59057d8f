"""Pipeline stages as plain functions of Params, shared by the CLI, dvc.yaml and the Prefect flows."""
