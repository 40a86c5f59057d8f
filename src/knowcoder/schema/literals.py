"""Python string literals for prompts and targets, exactly invertible by ``ast``."""

from __future__ import annotations

import keyword

_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
for _code in [*range(0x20), 0x7F]:
    _ESCAPES.setdefault(_code, f"\\x{_code:02x}")


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code in _ESCAPES:
        return _ESCAPES[code]
    if ch.isprintable() or ch == " ":
        return ch
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def py_str(value: str) -> str:
    """A double-quoted Python literal for ``value``; non-ASCII letters (Chinese) stay readable."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    if value.isascii():
        return f'"{value.translate(_ESCAPES)}"'
    return '"' + "".join(_escape_char(ch) for ch in value) + '"'


def docstring_text(value: str) -> str:
    """Make free text safe inside a triple-quoted docstring without changing how it reads."""
    return value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').replace("\n", " ").strip()


def py_identifier(name: str) -> str:
    """``name`` as code can write it: a keyword role (``from``) gets a trailing ``_`` (PEP 8)."""
    return f"{name}_" if keyword.iskeyword(name) else name


def from_py_identifier(name: str) -> str:
    """The inverse of :func:`py_identifier`: ``from_`` reads back as the role ``from``."""
    return name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
