from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from knowcoder.versioning import DataVersionError, check_versioned, data_versions, file_md5

from .conftest import REPO


def dvc(root, *args):
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory):
    """A git + DVC repository with one tracked folder and a local remote, like the project's own."""
    root = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "a.jsonl").write_text('{"id": "a"}\n')
    (root / "data" / "raw" / "b.jsonl").write_text('{"id": "b"}\n')
    (root / "notes.yaml").write_text("x: 1\n")
    dvc(root, "add", "-q", "data/raw")
    dvc(root, "remote", "add", "-d", "store", str(root / "store"))
    dvc(root, "push", "-q")
    subprocess.run(["git", "add", "notes.yaml"], cwd=root, check=True)
    return root


@pytest.fixture
def repo(dvc_repo, tmp_path):
    """A fresh copy per test, so tests can change files."""
    copy = tmp_path / "repo"
    shutil.copytree(dvc_repo, copy, symlinks=True)
    dvc(copy, "remote", "modify", "store", "url", str(dvc_repo / "store"))
    return copy


@pytest.mark.slow
def test_versions_carry_dvc_md5_and_the_tracking_file(repo):
    versions = data_versions(["data/raw/a.jsonl", "notes.yaml", "data/raw/b.jsonl"], root=repo)
    dvc_hash = yaml.safe_load((repo / "data/raw.dvc").read_text())["outs"][0]["md5"]
    manifest = json.loads((repo / ".dvc/cache/files/md5" / dvc_hash[:2] / dvc_hash[2:]).read_text())
    by_path = {f"data/raw/{entry['relpath']}": entry["md5"] for entry in manifest}
    assert [(v.path, v.tracked_by) for v in versions] == [
        ("data/raw/a.jsonl", "data/raw.dvc"),
        ("notes.yaml", "git"),
        ("data/raw/b.jsonl", "data/raw.dvc"),
    ]
    assert versions[0].md5 == by_path["data/raw/a.jsonl"]  # the md5 DVC itself recorded
    assert versions[2].md5 == by_path["data/raw/b.jsonl"]
    assert versions[0].dvc_hash == dvc_hash and versions[1].dvc_hash is None


@pytest.mark.slow
def test_a_missing_input_is_pulled_from_the_remote(repo):
    before = file_md5(repo / "data/raw/a.jsonl")
    shutil.rmtree(repo / "data/raw")
    shutil.rmtree(repo / ".dvc/cache")
    versions = check_versioned(["data/raw/a.jsonl"], root=repo)
    assert versions[0].md5 == before


@pytest.mark.slow
def test_a_changed_input_is_refused_unless_its_new_version_is_recorded(repo):
    raw = repo / "data/raw/a.jsonl"
    raw.write_text('{"id": "changed"}\n')
    with pytest.raises(DataVersionError, match=r"data/raw\.dvc no longer matches .*dvc add"):
        check_versioned(["data/raw/a.jsonl"], root=repo)
    assert raw.read_text() == '{"id": "changed"}\n'  # the refusal touched nothing
    old = yaml.safe_load((repo / "data/raw.dvc").read_text())["outs"][0]["md5"]
    versions = check_versioned(["data/raw/a.jsonl"], root=repo, record=True)
    new = yaml.safe_load((repo / "data/raw.dvc").read_text())["outs"][0]["md5"]
    assert new != old and versions[0].dvc_hash == new
    assert versions[0].md5 == file_md5(raw)


def test_an_untracked_missing_input_is_a_one_line_error(repo):
    with pytest.raises(DataVersionError, match=r"nowhere\.jsonl does not exist and no \.dvc file tracks it"):
        check_versioned(["nowhere.jsonl"], root=repo)


def test_the_bundled_remote_holds_every_raw_file_the_repository_tracks():
    """A fresh clone gets its data from data/dvc-store: each version data/raw.dvc names must be there."""
    dvc_hash = yaml.safe_load((REPO / "data/raw.dvc").read_text())["outs"][0]["md5"]
    store = REPO / "data/dvc-store/files/md5"
    manifest = json.loads((store / dvc_hash[:2] / dvc_hash[2:]).read_text())
    assert {entry["relpath"] for entry in manifest} >= {
        "sample/en.jsonl",
        "sample/zh.jsonl",
        "parallel/en_zh.jsonl",
    }
    for entry in manifest:
        stored = store / entry["md5"][:2] / entry["md5"][2:]
        assert file_md5(stored) == entry["md5"]
        assert file_md5(REPO / "data/raw" / entry["relpath"]) == entry["md5"]
