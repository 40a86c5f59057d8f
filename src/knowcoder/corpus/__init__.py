"""Corpus builders for the training stages."""
