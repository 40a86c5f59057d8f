"""The stage contract: outputs round-trip through JSON with their typed info."""

from __future__ import annotations

import json

import pytest

from knowcoder.stages.base import (
    DataInfo,
    EvaluateInfo,
    NoInfo,
    RegisterInfo,
    StageOutput,
    TrainInfo,
)


@pytest.mark.parametrize(
    "info",
    [
        NoInfo(),
        DataInfo(versions=[{"path": "data/raw", "md5": "x"}], summary="s.json"),
        TrainInfo(resumed=True, resumed_from=8),
        EvaluateInfo(["heldout", "sample-test"]),
        RegisterInfo("m", "3", "models:/m/3", True, "2", {"promote": True}, "| a |", "run"),
    ],
)
def test_an_output_survives_json_with_its_info_type(info):
    output = StageOutput("s", "fp", {"a": "/x"}, {"m": 1.5}, info, 2.0)
    text = json.dumps(output.to_dict())
    back = StageOutput.from_dict(json.loads(text), type(info))
    assert back == output and type(back.info) is type(info)


def test_the_stamp_format_is_flat_json():
    output = StageOutput("sft", "fp", {}, {}, TrainInfo(resumed=False, resumed_from=None))
    assert output.to_dict() == {
        "stage": "sft",
        "fingerprint": "fp",
        "outputs": {},
        "metrics": {},
        "info": {"resumed": False, "resumed_from": None},
        "wall_s": 0.0,
    }
