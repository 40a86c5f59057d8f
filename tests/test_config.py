from __future__ import annotations

import pytest
import yaml

from knowcoder.config import load_params, parse_override
from knowcoder.errors import ConfigError

from .conftest import REPO

PARAMS = """
profile: tiny
base:
  data:
    synth: {train: 10, dev: 2, test: 2}
  prompt: {style: knowcoder}
profiles:
  tiny: {}
  big:
    data:
      synth: {train: 1000}
"""


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS, encoding="utf-8")
    return path


def test_profile_deep_merges_over_base(params_file):
    tiny = load_params(params_file)
    big = load_params(params_file, profile="big")
    assert (tiny.data.synth.train, tiny.data.synth.dev) == (10, 2)
    assert (big.data.synth.train, big.data.synth.dev) == (1000, 2)
    assert big.profile == "big"
    assert tiny.digest() != big.digest()


def test_overrides_are_typed_and_applied_last(params_file):
    params = load_params(
        params_file, overrides=["data.synth.train=7", "data.synth.languages=[en]", "prompt.style=released"]
    )
    assert params.data.synth.train == 7
    assert params.data.synth.languages == ["en"]
    assert params.prompt.style == "released"
    assert (
        load_params(params_file, overrides=["evaluation.batch_tokens=null"]).evaluation.batch_tokens is None
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.synth.trian=3"], "data.synth.trian: unknown key"),
        (["data.synth.train=-1"], "data.synth.train: Input should be greater than or equal to 0"),
        (["prompt.style=fancy"], "prompt.style: Value error, unknown style 'fancy'"),
        (["nonsense"], "--set: override 'nonsense' must look like key.path=value"),
        (["evaluation.batch_tokens=0"], "evaluation.batch_tokens: Input should be greater than 0"),
    ],
)
def test_bad_values_name_the_key(params_file, overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_params(params_file, overrides=overrides)
    assert message in str(caught.value)


def test_unknown_profile_and_top_level_key(params_file, tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'huge'; defined: tiny, big"):
        load_params(params_file, profile="huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text("bsae: {}\nprofiles: {tiny: {}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['bsae'\]"):
        load_params(bad)


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=x=y") == (["a"], "x=y")


def _leaves(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


SHIPPED = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("profile", sorted(SHIPPED["profiles"]))
def test_every_shipped_profile_validates_with_its_own_values_over_the_base(profile):
    params = load_params(REPO / "params.yaml", profile=profile)
    assert params.profile == profile
    dumped = params.model_dump(mode="json")
    overlay = dict(_leaves(SHIPPED["profiles"][profile] or {}))
    for path, value in overlay.items():
        found = dumped
        for key in path:
            found = found[key]
        assert found == value, ".".join(path)
    # and a base value the profile does not touch stays the base's
    untouched = [(p, v) for p, v in _leaves(SHIPPED["base"]) if p not in overlay and p[0] != "paths"]
    for path, value in untouched:
        found = dumped
        for key in path:
            found = found[key]
        assert found == value, ".".join(path)
