"""Exporters: exact CoNLL output, CoNLL round trips, atomic writes and errors naming the instance."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowcoder.data.exporters import EXPORTERS, conll_rows, export_conll, export_dataset, tokenize
from knowcoder.data.importers import import_dataset
from knowcoder.data.instance import Entity, Instance, Relation
from knowcoder.data.jsonl import read_instances
from knowcoder.errors import ConfigError, DataFormatError
from knowcoder.schema.ontology import load_ontology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"
ONTOLOGY = load_ontology(FIXTURES / "ontology.yaml")
TYPES = ("Person", "Organization", "Location")


def import_conll(path: Path, dataset: str, lang: str) -> list[Instance]:
    instances, _ = import_dataset("conll", path, ontology=ONTOLOGY, dataset=dataset, lang=lang)
    return list(instances)


def sample(
    id_: str = "s-en-000000",
    text: str = "Ada Park joined Acme Corp .",
    entities: list[Entity] | None = None,
    relations: list[Relation] | None = None,
) -> Instance:
    if entities is None:  # Ada Park 0-8, Acme Corp 16-25
        entities = [Entity(start=0, end=8, type="Person"), Entity(start=16, end=25, type="Organization")]
    return Instance(id=id_, dataset="s", lang="en", text=text, entities=entities, relations=relations)


def test_tokenize_splits_on_whitespace_or_per_character() -> None:
    assert tokenize("Ada  Park .", "en") == [(0, 3), (5, 9), (10, 11)]
    assert tokenize("李明 在", "zh") == [(0, 1), (1, 2), (3, 4)]


def test_conll_export_writes_iob2_tags_exactly(tmp_path: Path) -> None:
    # given one instance with two multi-token entities
    target = tmp_path / "out.conll"
    # when it is exported
    written = export_conll(target, [sample()])
    # then each token carries B-/I- of its class and the sentence ends with a blank line
    assert written == 1
    assert target.read_text(encoding="utf-8") == (
        "Ada B-Person\nPark I-Person\njoined O\nAcme B-Organization\nCorp I-Organization\n. O\n\n"
    )


def test_conll_export_of_chinese_tags_each_character(tmp_path: Path) -> None:
    instance = Instance(
        id="m-0",
        dataset="msra",
        lang="zh",
        text="李明在北京",
        entities=[Entity(start=3, end=5, type="Location")],
    )
    assert conll_rows(instance) == [
        ("李", "O"),
        ("明", "O"),
        ("在", "O"),
        ("北", "B-Location"),
        ("京", "I-Location"),
    ]


@pytest.mark.parametrize(
    ("name", "dataset", "lang"), [("en.conll", "conll03", "en"), ("zh.conll", "msra", "zh")]
)
def test_conll_import_export_import_gives_the_same_instances(
    tmp_path: Path, name: str, dataset: str, lang: str
) -> None:
    # given the instances of a CoNLL fixture
    first = import_conll(FIXTURES / name, dataset, lang)
    # when they are exported and imported again
    export_conll(tmp_path / name, first)
    second = import_conll(tmp_path / name, dataset, lang)
    # then nothing changed: ids, text, offsets, classes
    assert second == first
    assert len(first) in (2, 3)


@st.composite
def tagged_sentences(draw: st.DrawFn) -> list[Instance]:
    """Sentences of random tokens with random non-overlapping entities on token boundaries."""
    lang = draw(st.sampled_from(["en", "zh"]))
    instances = []
    for n in range(draw(st.integers(min_value=1, max_value=3))):
        if lang == "zh":
            tokens = draw(st.lists(st.sampled_from("李明在北京阿里巴工作。"), min_size=1, max_size=8))
        else:
            words = st.text(alphabet="abcXYZ.,-'é", min_size=1, max_size=5)
            tokens = draw(st.lists(words, min_size=1, max_size=8))
        separator = "" if lang == "zh" else " "
        starts = [sum(len(t) + len(separator) for t in tokens[:i]) for i in range(len(tokens))]
        entities, i = [], 0
        while i < len(tokens):
            length = draw(st.integers(min_value=0, max_value=3))
            if length == 0:
                i += 1
                continue
            j = min(len(tokens), i + length)
            end = starts[j - 1] + len(tokens[j - 1])
            entities.append(Entity(start=starts[i], end=end, type=draw(st.sampled_from(TYPES))))
            i = j
        instances.append(
            Instance(
                id=f"p-{lang}-{n:06d}", dataset="p", lang=lang, text=separator.join(tokens), entities=entities
            )
        )
    return instances


@settings(max_examples=60, deadline=None)
@given(tagged_sentences())
def test_conll_export_then_import_is_the_identity(instances: list[Instance]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "round.conll"
        export_conll(path, instances)
        assert import_conll(path, "p", instances[0].lang) == instances


def test_entity_off_token_boundaries_names_the_instance_and_leaves_no_file(tmp_path: Path) -> None:
    # given a target that already exists, and a second instance whose entity ends inside "Parker"
    target = tmp_path / "out.conll"
    target.write_text("old\n", encoding="utf-8")
    bad = sample("s-en-000001", "Ada Parker left", entities=[Entity(start=0, end=8, type="Person")])
    # when the export fails part-way
    with pytest.raises(DataFormatError) as caught:
        export_conll(target, [sample(), bad])
    # then the error names the instance and the entity, and the old file is untouched
    assert str(caught.value) == (
        "entities[0]: instance 's-en-000001': entity [0, 8) Person 'Ada Park' does not start and end on "
        "token boundaries, so it has no CoNLL form; export this instance as jsonl"
    )
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.conll"]


def test_overlapping_entities_cannot_be_exported_to_conll() -> None:
    nested = sample(entities=[Entity(start=0, end=8, type="Person"), Entity(start=4, end=8, type="Location")])
    with pytest.raises(
        DataFormatError, match=r"entities\[1\]: instance 's-en-000000': .* overlaps another entity"
    ):
        conll_rows(nested)


def test_empty_text_cannot_be_exported_to_conll() -> None:
    with pytest.raises(DataFormatError, match=r"text: instance 's-en-000000' has no tokens"):
        conll_rows(sample(text=" ", entities=[]))


def test_docstart_token_cannot_be_exported_to_conll() -> None:
    with pytest.raises(DataFormatError, match=r"has a token '-DOCSTART-'"):
        conll_rows(sample(text="-DOCSTART- here", entities=[]))


def test_jsonl_export_keeps_every_list(tmp_path: Path) -> None:
    instance = sample(relations=[Relation(type="Employment", head=0, tail=1)])
    assert export_dataset("jsonl", tmp_path / "out.jsonl", [instance]) == 1
    assert list(read_instances(tmp_path / "out.jsonl")) == [instance]


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_every_exporter_writes_atomically(tmp_path: Path, fmt: str) -> None:
    # given instances that fail half-way through (the generator raises after the first)
    def failing() -> Iterator[Instance]:
        yield sample()
        raise RuntimeError("source broke")

    target = tmp_path / f"out.{fmt}"
    with pytest.raises(RuntimeError, match="source broke"):
        export_dataset(fmt, target, failing())
    # then no output and no temporary file remain
    assert list(tmp_path.iterdir()) == []
    # and the same instance written cleanly produces a non-empty file
    assert export_dataset(fmt, target, [sample()]) == 1
    assert target.read_text(encoding="utf-8").startswith(("Ada B-Person", '{"id":"s-en-000000"'))


def test_unknown_export_format_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"format: unknown export format 'brat'; known formats: conll, jsonl"
    ):
        export_dataset("brat", tmp_path / "x", [])
