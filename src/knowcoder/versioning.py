"""Data versioning with DVC: fetch the inputs a run needs and say exactly which versions it saw.

The bundled raw data is tracked by ``data/raw.dvc`` and stored in the repository's default DVC
remote (a local folder, ``data/dvc-store``, unless production configures another one). A run
pulls what is missing, refuses inputs that differ from their recorded version (unless asked to
record the new version), and reports one :class:`DataVersion` per input: the file's MD5 as DVC
computes it and the ``.dvc`` file that tracks it. DVC is called through its command line, its
stable interface, with the same interpreter as this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from knowcoder.errors import ConfigError

_NOT_DATA = {"artifacts", "mlruns", "node_modules", "__pycache__"}  # folders never searched for .dvc files


class DataVersionError(ConfigError):
    """An input is missing, or differs from the version DVC recorded for it."""


@dataclass(frozen=True)
class DataVersion:
    """One input of a run: its path, content hash and what versions it."""

    path: str  # as the params name it (relative to the repository root)
    md5: str  # of the file's bytes, as DVC records it; a directory gets DVC's ``<md5>.dir`` hash
    size: int
    tracked_by: str  # the .dvc file, "git", or "untracked"
    dvc_hash: str | None = None  # the hash in the .dvc file of the tracked output that holds it

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dvc(root: Path, *args: str) -> str:
    """Run ``dvc ARGS`` in ``root``; a failure becomes a one-line error with DVC's message."""
    result = subprocess.run(  # noqa: S603 - fixed executable and arguments, no shell
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        reason = next((line for line in message if line.startswith("ERROR")), message[-1] if message else "")
        raise DataVersionError(f"`dvc {' '.join(args)}` failed: {reason}", path=root)
    return result.stdout


def _dvc_files(root: Path) -> dict[Path, tuple[Path, str]]:
    """Each output tracked by a ``.dvc`` file under ``root``: its path -> (the .dvc file, its hash)."""
    found: dict[Path, tuple[Path, str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _NOT_DATA]
        for dvc_file in (Path(folder) / f for f in files if f.endswith(".dvc")):
            spec = yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}
            for out in spec.get("outs") or []:
                found[(dvc_file.parent / out["path"]).resolve()] = (dvc_file, str(out.get("md5", "")))
    return found


def _tracker(path: Path, tracked: dict[Path, tuple[Path, str]]) -> tuple[Path, str] | None:
    resolved = path.resolve()
    for candidate in (resolved, *resolved.parents):
        if candidate in tracked:
            return tracked[candidate]
    return None


def ensure_data(paths: Sequence[str | Path], *, root: str | Path = ".") -> list[str]:
    """Pull from the DVC remote every DVC-tracked input that is missing; return what was pulled."""
    root = Path(root)
    tracked = _dvc_files(root)
    missing: list[str] = []
    for name in paths:
        path = root / name
        if path.exists():
            continue
        owner = _tracker(path, tracked)
        if owner is None:
            raise DataVersionError(f"{name} does not exist and no .dvc file tracks it", path=name)
        missing.append(os.path.relpath(owner[0], root))
    targets = sorted(set(missing))
    if targets:
        _dvc(root, "pull", "--quiet", *targets)
    return targets


def changed_outputs(root: str | Path = ".", targets: Iterable[str] = ()) -> dict[str, object]:
    """``dvc status`` of the given .dvc files (all when empty): what differs from the recorded version."""
    out = _dvc(Path(root), "status", "--json", *targets).strip()
    return json.loads(out) if out else {}


def record_new_version(targets: Sequence[str], *, root: str | Path = ".", push: bool = True) -> None:
    """``dvc add`` (and ``dvc push``) the given paths: the workspace becomes the recorded version."""
    _dvc(Path(root), "add", "--quiet", *targets)
    if push:
        _dvc(Path(root), "push", "--quiet", *targets)


def data_versions(paths: Sequence[str | Path], *, root: str | Path = ".") -> list[DataVersion]:
    """The version of each input as it is now on disk, with what tracks it."""
    root = Path(root)
    tracked = _dvc_files(root)
    git_files = _git_files(root)
    versions: list[DataVersion] = []
    for name in paths:
        path = root / name
        if not path.is_file():
            raise DataVersionError(f"{name} does not exist; run `dvc pull` to fetch the data", path=name)
        owner = _tracker(path, tracked)
        if owner is not None:
            dvc_file, dvc_hash = owner
            by = os.path.relpath(dvc_file, root)
        else:
            dvc_hash = None
            by = "git" if Path(name).as_posix() in git_files else "untracked"
        versions.append(DataVersion(str(name), file_md5(path), path.stat().st_size, by, dvc_hash))
    return versions


def _git_files(root: Path) -> set[str]:
    try:
        result = subprocess.run(
            ["git", "ls-files"],  # noqa: S607 - git from PATH, fixed arguments
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return set()
    return set(result.stdout.splitlines()) if result.returncode == 0 else set()


def check_versioned(
    paths: Sequence[str | Path], *, root: str | Path = ".", record: bool = False
) -> list[DataVersion]:
    """Fetch missing inputs, refuse (or, with ``record``, version) changed ones; return the versions."""
    root = Path(root)
    ensure_data(paths, root=root)
    tracked = _dvc_files(root)
    owners = sorted(
        {
            os.path.relpath(owner[0], root)
            for name in paths
            if (owner := _tracker(root / name, tracked)) is not None
        }
    )
    if owners:
        changed = changed_outputs(root, owners)
        if changed:
            if not record:
                first = next(iter(changed))
                raise DataVersionError(
                    f"{first} no longer matches the data on disk ({changed[first]}); record the new "
                    "version with `dvc add` and `dvc push` (or run the pipeline with --version-data), "
                    "or restore it with `dvc checkout`",
                    path=first,
                )
            record_new_version([str(Path(o).with_suffix("")) for o in owners], root=root)
    return data_versions(paths, root=root)
