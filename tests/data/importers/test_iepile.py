"""The IEPile importer on records cut from the real file.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from knowcoder.data.instance import Argument, Event, Relation, Span

from .cases import run_real as run
from .cases import spans


def test_iepile_merges_records_of_one_input_and_reads_each_task() -> None:
    instances, report = run("iepile", "iepile.jsonl", "iepile", "zh", drop_unmapped=True)
    assert report.records_read == 8 and report.instances_written == 5
    # NER: 广州松日队 11-16 and 青岛海牛队 5-10, in the answer's order
    assert spans(instances[1]) == [
        (11, 16, "Organization", "广州松日队"),
        (5, 10, "Organization", "青岛海牛队"),
    ]
    # SPO over three records: 楚留香新传 主演 张智尧; 张智尧 饰演 楚留香 (classes from the schema)
    assert spans(instances[2]) == [
        (50, 55, "WorkOfArt", "楚留香新传"),
        (45, 48, "Person", "张智尧"),
        (15, 18, "Person", "楚留香"),
    ]
    assert instances[2].relations == [
        Relation(type="Starring", head=0, tail=1),
        Relation(type="Portrays", head=1, tail=2),
    ]
    # EE: "NAN" is no argument
    assert instances[3].events == [
        Event(
            type="Layoff",
            trigger=Span(start=15, end=17),
            arguments=[Argument(start=10, end=13, role="time"), Argument(start=17, end=22, role="headcount")],
        )
    ]
    # RE gives no classes: arguments get the base class Entity
    assert spans(instances[4]) == [(21, 25, "Entity", "喜剧之王"), (26, 29, "Entity", "周星驰")]
    assert report.dropped["票房"] == 1
