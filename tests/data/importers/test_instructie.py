"""The InstructIE importer on records cut from the real file.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from knowcoder.data.instance import Relation

from .cases import run_real as run
from .cases import spans


def test_instructie_places_triples_and_keeps_the_domain() -> None:
    (instance,), _ = run("instructie", "instructie.jsonl", "instructie", "en")
    assert spans(instance) == [
        (0, 7, "AstronomicalObject", "NGC1313"),
        (118, 136, "Date", "September 27, 1826"),
        (102, 114, "Person", "James Dunlop"),
        (44, 53, "AstronomicalObject", "Reticulum"),
    ]
    assert instance.relations == [
        Relation(type="DiscoveryTime", head=0, tail=1),
        Relation(type="DiscoveredBy", head=0, tail=2),
        Relation(type="LocatedIn", head=0, tail=3),
    ]
    assert instance.meta == {"cate": "Astronomy"}
