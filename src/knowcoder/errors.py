"""User-facing errors: each renders as one line naming the file, line and field at fault."""

from __future__ import annotations

from pathlib import Path


class KnowCoderError(Exception):
    """Base class for errors caused by user input or configuration.

    The CLI prints ``str(error)`` on one line and exits non-zero; anything that is not a
    ``KnowCoderError`` is a bug and keeps its traceback.
    """


class InputError(KnowCoderError):
    """Bad content in a file the user supplied; locates it as ``path:line: field: message``."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = " ".join(str(message).split())  # always one line
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class OntologyError(InputError):
    """The ontology file is malformed or inconsistent."""


class DataFormatError(InputError):
    """An instance file or an imported dataset is malformed."""


class LabelError(InputError):
    """A dataset label does not map to any ontology class."""


class ConfigError(InputError):
    """``params.yaml`` or a command-line override is invalid."""


def describe(error: BaseException, limit: int = 300) -> str:
    """A library exception as one line for a user: ``Type: message``, whitespace folded, cut at ``limit``."""
    text = " ".join(str(error).split())[:limit]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
