"""Scoring extracted records against gold: micro P/R/F1 per task, dataset and language."""
