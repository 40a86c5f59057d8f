"""Decoding: generating ``results = [...]`` code from a model, optionally held to the prompt's schema."""
