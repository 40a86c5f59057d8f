"""The importer registry: every format yields valid spans, and the errors every format shares.

Each format's own behaviour is tested in tests/data/importers/test_<format>.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.importers import IMPORTERS, import_dataset, token_separator
from knowcoder.data.instance import Entity, Span
from knowcoder.errors import ConfigError, DataFormatError, LabelError

from .importers.cases import FIXTURES, ONTOLOGY, REAL_ONTOLOGY, run, write

# one well-formed sample per registered format: (file, dataset, lang)
SAMPLES = {
    "conll": ("en.conll", "conll03", "en"),
    "uie": ("uie.jsonl", "uie_ds", "en"),
    "oneie": ("oneie.jsonl", "ace05", "en"),
    "instruction": ("instruction.jsonl", "instr", "en"),
}
# formats whose fixtures need the real-dataset ontology (tests/data/importers/cases.py)
REAL_SAMPLES = {
    "duie": ("duie.jsonl", "duie", "zh"),
    "duee": ("duee.jsonl", "duee", "zh"),
    "universalner": ("universalner.json", "mit_restaurant", "en"),
    "iepile": ("iepile.jsonl", "iepile", "zh"),
    "instructie": ("instructie.jsonl", "instructie", "en"),
    "dygiepp": ("dygiepp_scierc.jsonl", "scierc", "en"),
}


# ---- the registry ------------------------------------------------------------------------------


def test_samples_cover_exactly_the_registered_importers() -> None:
    # the knowcoder format reads the released data (tests/data/importers/test_knowcoder.py)
    assert set(SAMPLES) | set(REAL_SAMPLES) == set(IMPORTERS) - {"knowcoder"}


@pytest.mark.parametrize("fmt", sorted({*SAMPLES, *REAL_SAMPLES}))
def test_every_registered_importer_yields_spans_inside_their_text(fmt: str) -> None:
    # given a well-formed sample of the format
    name, dataset, lang = SAMPLES.get(fmt) or REAL_SAMPLES[fmt]
    ontology = ONTOLOGY if fmt in SAMPLES else REAL_ONTOLOGY
    # when it is imported
    stream, report = import_dataset(
        fmt, FIXTURES / name, ontology=ontology, dataset=dataset, lang=lang, drop_unmapped=True
    )
    instances = list(stream)
    # then every span lies inside its instance text and the report counts every record
    assert instances
    assert report.records_read >= 1 and report.instances_written == len(instances)
    for instance in instances:
        spans: list[Span] = list(instance.entities or [])
        for event in instance.events or []:
            spans += [event.trigger, *event.arguments]
        for span in spans:
            assert 0 <= span.start < span.end <= len(instance.text)
        for relation in instance.relations or []:
            assert max(relation.head, relation.tail) < len(instance.entities or [])


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"format: unknown import format 'brat'; known formats: conll, "):
        run("brat", "en.conll", "d", "en")


def test_unknown_option_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"options.tagcolumn: .*'tagcolumn'; its options: "
        r"scheme, strip_segmentation, tag_column, token_column",
    ):
        run("conll", "en.conll", "d", "en", tagcolumn=2)


def test_missing_file_is_a_data_format_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope\.conll: no such file"):
        run("conll", tmp_path / "nope.conll", "d", "en")


def test_file_that_is_not_utf8_is_reported_as_an_encoding_error_naming_the_line(tmp_path: Path) -> None:
    # given a CoNLL file whose third line is GBK, not UTF-8
    path = tmp_path / "gbk.conll"
    path.write_bytes(b"Ada B-PER\n\n" + "李明 B-PER\n".encode("gbk"))
    with pytest.raises(
        DataFormatError, match=r"gbk\.conll:3: <encoding>: not valid UTF-8 \(byte 1 of the line\)"
    ):
        run("conll", path, "d", "en")


@pytest.mark.parametrize(
    ("lang", "separator"), [("en", " "), ("zh", ""), ("zh-CN", ""), ("ja", ""), ("th", "")]
)
def test_languages_without_spaces_join_tokens_with_nothing(lang: str, separator: str) -> None:
    assert token_separator(lang) == separator


# ---- labels ------------------------------------------------------------------------------------


def test_unmapped_label_raises_label_error_naming_file_line_and_label() -> None:
    # given MISC, which no class of the test ontology aliases, on line 3
    with pytest.raises(LabelError) as caught:
        run("conll", "en_misc.conll", "conll03", "en")
    message = str(caught.value)
    assert message.startswith(f"{FIXTURES / 'en_misc.conll'}:3: tag: label 'MISC' maps to no entity class")
    assert message.endswith("or import with --drop-unmapped")


def test_unmapped_labels_are_dropped_and_counted_per_label_when_asked() -> None:
    instances, report = run("conll", "en_misc.conll", "conll03", "en", drop_unmapped=True)
    # "Ada met German fans in Rome ." keeps Ada 0-3 and Rome 23-27; "Euro fans" keeps nothing
    assert [i.entities for i in instances] == [
        [Entity(start=0, end=3, type="Person"), Entity(start=23, end=27, type="Location")],
        [],
    ]
    assert report.dropped == {"MISC": 2}
    assert report.to_dict()["dropped_total"] == 2


def test_label_of_the_wrong_kind_is_unmapped(tmp_path: Path) -> None:
    # given an entity tag that names a relation class
    path = write(tmp_path, "kind.conll", "Ada B-Employment\n")
    with pytest.raises(LabelError, match=r"kind\.conll:1: tag: .*\(it names relation class 'Employment'\)"):
        run("conll", path, "d", "en")
