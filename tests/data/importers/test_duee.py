"""The DuEE 1.0 importer on lines cut from the real file; offsets are the dataset's own ``*_start_index``.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.instance import Argument, Event, Span
from knowcoder.errors import DataFormatError

from .cases import run_real as run


def test_duee_offsets_are_the_datasets_own_and_one_span_fills_two_roles() -> None:
    instances, _ = run("duee", "duee.jsonl", "duee", "zh")
    first = instances[0]
    assert first.id == "6d5b61216556ea335377a60923cf3ea5"
    assert first.entities is None
    site = (14, 30)  # 青岛地铁1号线胜利桥站施工围挡处: 坍塌主体 of one event, 地点 of the next
    assert first.events == [
        Event(
            type="Collapse",
            trigger=Span(start=32, end=34),
            arguments=[
                Argument(start=0, end=4, role="time"),
                Argument(start=site[0], end=site[1], role="collapsed"),
                Argument(start=37, end=39, role="deaths"),
            ],
        ),
        Event(
            type="Die",
            trigger=Span(start=43, end=45),
            arguments=[
                Argument(start=0, end=4, role="time"),
                Argument(start=39, end=43, role="victim"),
                Argument(start=site[0], end=site[1], role="place"),
            ],
        ),
        Event(
            type="Collapse",
            trigger=Span(start=82, end=84),
            arguments=[
                Argument(start=52, end=57, role="time"),
                Argument(start=67, end=82, role="collapsed"),
                Argument(start=85, end=87, role="deaths"),
            ],
        ),
        Event(
            type="Die",
            trigger=Span(start=93, end=95),
            arguments=[
                Argument(start=52, end=57, role="time"),
                Argument(start=87, end=91, role="victim"),
                Argument(start=67, end=82, role="place"),
            ],
        ),
    ]
    assert first.text[32:34] == "塌陷" and first.text[14:30] == "青岛地铁1号线胜利桥站施工围挡处"


def test_duee_start_index_that_misses_its_text_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"text": "雀巢裁员4000人", "event_list": [{"event_type": "组织关系-裁员", "trigger": "裁员",'
        ' "trigger_start_index": 3, "arguments": []}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError) as caught:
        run("duee", path, "duee", "zh")
    assert str(caught.value) == (
        f"{path}:1: event_list[0].trigger_start_index: trigger_start_index 3 does not point at "
        "'裁员' (the text there is '员4')"
    )
