"""Recognising a file's format from its start, and refusing a ``--format`` that plainly differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowcoder.data.importers.sniff import refuse_other_format, sniff_format
from knowcoder.errors import DataFormatError


def write(tmp_path: Path, text: str, name: str = "data.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"text": "x", "spo_list": []}\n', ("duie", "DuIE triples in 'spo_list'")),
        ('{"id": 1, "event_list": []}\n', ("duee", "DuEE events in 'event_list'")),
        (
            '{"doc_key": "a", "sentences": [["A"]]}\n',
            ("dygiepp", "DyGIE++ documents ('doc_key', 'sentences')"),
        ),
        ('{"tokens": ["A"], "event_mentions": []}\n', ("oneie", "OneIE 'event_mentions'")),
        ('{"tokens": ["A"], "relation": []}\n', ("uie", "UIE 'tokens' with 'relation'")),
        ('{"text": "A", "answer": "[]"}\n', ("instruction", "'text' with an 'answer'")),
        (
            '\ufeff  [ {"conversations": []}, {"x": 1} ]',
            ("universalner", "UniversalNER / Pile-NER 'conversations'"),
        ),
        ("EU B-ORG\nrejects O\n\nGerman B-MISC\n", ("conll", "whitespace-separated token and tag columns")),
    ],
)
def test_a_plain_record_names_its_format_and_why(tmp_path, text, found):
    assert sniff_format(write(tmp_path, text)) == found


@pytest.mark.parametrize(
    "text",
    ["", "   \n", '{"text": "x"}\n', "{not json\n", "[1, 2]", "[oops", "one-column\nline\n"],
)
def test_nothing_recognisable_is_none(tmp_path, text):
    assert sniff_format(write(tmp_path, text)) is None


def test_a_wrong_format_is_refused_in_one_line_with_both_ways_out(tmp_path):
    path = write(tmp_path, '{"tokens": ["A"], "entity_mentions": []}\n')
    with pytest.raises(DataFormatError) as caught:
        refuse_other_format(path, "uie")
    assert str(caught.value) == (
        f"{path}:1: --format: this file looks like format 'oneie' (OneIE 'entity_mentions'), not 'uie'; "
        "import it with --format oneie (or pass --no-sniff if it really is 'uie')"
    )


def test_the_right_format_an_unknown_file_and_a_plugin_format_pass(tmp_path):
    oneie = write(tmp_path, '{"tokens": ["A"], "entity_mentions": []}\n')
    refuse_other_format(oneie, "oneie")
    refuse_other_format(oneie, "my-plugin-format")  # no signature: never refused
    refuse_other_format(write(tmp_path, '{"sentence": "A"}\n', "other.json"), "uie")
