"""The DyGIE++ importer on documents cut from the real SciERC file.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from knowcoder.data.instance import Argument, Event, Relation, Span

from .cases import run_real as run
from .cases import spans


def test_dygiepp_document_indices_and_inclusive_ends_become_sentence_offsets() -> None:
    instances, report = run("dygiepp", "dygiepp_ace.jsonl", "ace05_event", "en")
    assert report.records_read == 1 and report.instances_written == 6
    fifth = instances[5]
    assert fifth.id == "CNN_IP_20030329.1600.01-3-5"
    assert fifth.text == "In trucks and on foot they came to the town of Safwan ."
    # document tokens 114 (trucks), 118 (they), 121-124 (the town of Safwan), 124 (Safwan)
    assert spans(fifth) == [
        (3, 9, "Vehicle", "trucks"),
        (22, 26, "Person", "they"),
        (35, 53, "Location", "the town of Safwan"),
        (47, 53, "Location", "Safwan"),
    ]
    # trigger token 119 (came); role 'artifact' is an ace05_event alias of 'traveler'
    assert fifth.events == [
        Event(
            type="Transport",
            trigger=Span(start=27, end=31),
            arguments=[
                Argument(start=3, end=9, role="vehicle", type="Vehicle"),
                Argument(start=22, end=26, role="traveler", type="Person"),
                Argument(start=35, end=53, role="destination", type="Location"),
            ],
        )
    ]
    assert instances[1].events == [Event(type="Attack", trigger=Span(start=56, end=59), arguments=[])]


def test_dygiepp_scierc_relations_point_at_ner_spans() -> None:
    instances, _ = run("dygiepp", "dygiepp_scierc.jsonl", "scierc", "en")
    first = instances[0]
    assert spans(first) == [
        (24, 30, "Method", "method"),
        (44, 70, "OtherScientificTerm", "intrinsic object structure"),
        (75, 97, "Task", "robust visual tracking"),
    ]
    assert first.relations == [
        Relation(type="UsedFor", head=0, tail=1),
        Relation(type="UsedFor", head=1, tail=2),
    ]
    # PART-OF of sentence 4 maps to PartOf only because the scierc scope says so
    assert instances[4].relations == [Relation(type="PartOf", head=0, tail=1)]
