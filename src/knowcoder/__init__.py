"""KnowCoder-Ops: code-style information extraction, from ontology to registered model."""

__version__ = "0.1.0"
