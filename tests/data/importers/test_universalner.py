"""The UniversalNER / Pile-NER importer on records cut from the real files.

Offsets are worked out by hand from the fixture text (tests/fixtures/importers/SOURCE.md says
where each line comes from).
"""

from __future__ import annotations

from pathlib import Path

from .cases import run_real as run
from .cases import spans


def test_universalner_array_merges_one_question_records_per_sentence() -> None:
    instances, report = run("universalner", "universalner.json", "mit_restaurant", "en")
    assert report.records_read == 16 and report.instances_written == 2
    assert [i.id for i in instances] == ["mit-restaurant_0", "mit-restaurant_8"]
    assert spans(instances[0]) == [
        (2, 11, "Rating", "four star"),
        (23, 29, "Location", "with a"),
        (30, 33, "Amenity", "bar"),
    ]
    assert spans(instances[1]) == [(4, 9, "Cuisine", "asian"), (18, 24, "Location", "around")]


def test_universalner_reads_json_lines_too(tmp_path: Path) -> None:
    path = tmp_path / "pile.jsonl"
    path.write_text(
        '{"id": "p1", "conversations": [{"from": "human", "value": "Text: Ada met Bob."},'
        ' {"from": "gpt", "value": "I\'ve read this text."},'
        ' {"from": "human", "value": "What describes Amenity in the text?"},'
        ' {"from": "gpt", "value": "[\\"Bob\\", \\"Ada\\"]"}]}\n',
        encoding="utf-8",
    )
    (instance,), _ = run("universalner", path, "pile", "en")
    assert spans(instance) == [(0, 3, "Amenity", "Ada"), (8, 11, "Amenity", "Bob")]
