"""Tests mirror ``src/knowcoder`` file for file: each module has ``tests/<package>/test_<module>.py``."""

from __future__ import annotations

from .conftest import REPO

SRC = REPO / "src" / "knowcoder"
TESTS = REPO / "tests"


def mirror(module) -> str:
    relative = module.relative_to(SRC)
    return str(relative.parent / f"test_{relative.name}")


def test_every_module_has_its_same_name_test_file():
    modules = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py")
    assert len(modules) > 100  # the walk found the package
    missing = [str(p.relative_to(SRC)) for p in modules if not (TESTS / mirror(p)).is_file()]
    assert missing == [], f"add tests/<package>/test_<module>.py for: {', '.join(missing)}"


def test_the_mirror_rule_maps_packages_and_top_level_modules():
    assert mirror(SRC / "parser.py") == "test_parser.py"
    assert mirror(SRC / "tasks" / "ner" / "task.py") == "tasks/ner/test_task.py"
