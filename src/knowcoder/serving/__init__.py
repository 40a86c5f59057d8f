"""Serving a trained model: text and wanted classes in, records out (the MLflow wrapper is in ``pyfunc``)."""

from knowcoder.serving.predictor import PredictionInputError, Predictor, ServingConfig

__all__ = ["PredictionInputError", "Predictor", "ServingConfig"]
