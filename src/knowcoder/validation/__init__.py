"""Data validation with Great Expectations: reject bad records, fail the stage on too many."""

from knowcoder.validation.stage import (
    ExpectationSummary,
    Reject,
    ValidationFailed,
    ValidationResult,
    validate_file,
)

__all__ = ["ExpectationSummary", "Reject", "ValidationFailed", "ValidationResult", "validate_file"]
