"""Distant supervision: matching rules, relations, sharding, coverage numbers and input errors.

Offsets are worked out by hand from the fixture sentences under tests/fixtures/annotate/.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from knowcoder.corpus.annotate import CoverageReport, Gazetteer, annotate, annotate_file
from knowcoder.corpus.gazetteer import base_lang, fold_case, is_word_char, word_view
from knowcoder.data.jsonl import read_instances
from knowcoder.errors import ConfigError, DataFormatError, InputError
from knowcoder.schema.ontology import load_ontology

from ..conftest import FIXTURES, REPO

HERE = FIXTURES / "annotate"


@pytest.fixture(scope="module")
def ontology():
    return load_ontology(REPO / "data/ontology.yaml")


@pytest.fixture(scope="module")
def gazetteer(ontology):
    return Gazetteer.load(HERE / "names.tsv", ontology, relations=HERE / "relations.tsv")


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spans(instance):
    return [(e.start, e.end, e.type, instance.span_text(e)) for e in instance.entities]


def only(records, gazetteer, lang="en", **options):
    (instance,) = annotate(records, gazetteer, lang=lang, dataset="t", **options)
    return instance


def small(ontology, *rows, **options):
    gazetteer = Gazetteer(ontology, **options)
    for row in rows:
        gazetteer.add(*row)
    return gazetteer.build()


# ---- loading --------------------------------------------------------------------------------------


def test_gazetteer_maps_aliases_and_merges_rows(gazetteer):
    # 19 name rows, 14 distinct names; PER -> Person, 人物 -> Person, 公司 -> Company, ORG -> Organization
    assert len(gazetteer) == 14
    assert gazetteer.type_of("Al") == "Person"
    assert gazetteer.type_of("李明") == "Person"
    assert gazetteer.type_of("华为") == "Company"
    assert gazetteer.type_of("Acme Corp") == "Organization"
    assert gazetteer.type_of("Springfield") == "City"  # Location then City: one chain, the specific wins
    assert gazetteer.type_of("Washington") is None  # Person and City: ambiguous
    assert gazetteer.ambiguous_names == 1
    assert gazetteer.type_of("Alcoa") is None


def test_ambiguous_first_policy_keeps_the_first_rows_type(ontology):
    gazetteer = small(ontology, ("Washington", "PER"), ("Washington", "City"), ambiguous="first")
    assert gazetteer.type_of("Washington") == "Person"
    assert gazetteer.ambiguous_names == 0


def test_names_load_from_jsonl_too(ontology, tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_text('{"name": "Ada Park", "type": "PER"}\n{"name": "巴黎", "type": "城市", "lang": "zh"}\n')
    gazetteer = Gazetteer.load(path, ontology)
    assert (gazetteer.type_of("Ada Park"), gazetteer.type_of("巴黎")) == ("Person", "City")


def test_bad_gazetteer_line_names_file_line_and_field(ontology):
    with pytest.raises(InputError) as caught:
        Gazetteer.load(HERE / "bad_names.tsv", ontology)
    assert str(caught.value) == (
        f"{HERE / 'bad_names.tsv'}:4: type: unknown entity type 'Planet'; "
        "use an entity class name or alias of the ontology (e.g. Person, PER)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Ada Park\n", "names.tsv:1: type: missing; expected name<TAB>type[<TAB>lang]"),
        (b"Ada Park\tPerson\ten\textra\n", "names.tsv:1: <columns>: 4 tab-separated fields; expected"),
        (b"Ada Park\tEmployment\n", "names.tsv:1: type: 'Employment' names the relation class 'Employment'"),
        (b"Ada Park\tPerson\n\tCity\n", "names.tsv:2: name: empty; expected name<TAB>type[<TAB>lang]"),
        (b"Ada Park\tPerson\n\xff\n", "names.tsv:2: <encoding>: not valid UTF-8"),
    ],
)
def test_malformed_name_rows(ontology, tmp_path, content, message):
    path = tmp_path / "names.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        Gazetteer.load(path, ontology)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_jsonl_name_row_with_unknown_key_is_an_error(ontology, tmp_path):
    path = tmp_path / "names.jsonl"
    path.write_text('{"name": "Ada Park", "typ": "PER"}\n')
    with pytest.raises(InputError, match=r"names.jsonl:1: typ: unknown field"):
        Gazetteer.load(path, ontology)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "New York\tworks for\tAcme Corp",
            "rel.tsv:1: head: Employment takes a head of type Person, but 'New York' is a City",
        ),
        ("Ada Park\tworks for\tGlobex", "rel.tsv:1: tail: 'Globex' is not a gazetteer name"),
        ("Ada Park\tknows\tAcme Corp", "rel.tsv:1: relation: unknown relation type 'knows'"),
    ],
)
def test_relation_kb_must_fit_the_signature(ontology, tmp_path, row, message):
    path = tmp_path / "rel.tsv"
    path.write_text(row + "\n")
    with pytest.raises(InputError) as caught:
        Gazetteer.load(HERE / "names.tsv", ontology, relations=path)
    assert str(caught.value).startswith(f"{tmp_path}/{message}")


def test_names_cannot_be_added_after_build(ontology):
    gazetteer = small(ontology, ("Ada Park", "PER"))
    with pytest.raises(RuntimeError, match="before build"):
        gazetteer.add("Acme Corp", "ORG")


# ---- matching -------------------------------------------------------------------------------------


def test_overlaps_resolve_leftmost_longest(gazetteer):
    # "New York" 4-12, "New York Times" 4-18, "York" 8-12 and "Times Square" 13-25 all match; the longest
    # at the leftmost start wins, so "Times Square" (longer than "New York", but starting later) is dropped.
    # "Al" inside "Alcoa" (36-41) fails the word boundary; the final "Al" is 48-50.
    instance = only(["The New York Times Square office of Alcoa hired Al."], gazetteer)
    assert spans(instance) == [(4, 18, "Company", "New York Times"), (48, 50, "Person", "Al")]


def test_leftmost_wins_over_longer_and_equal_lengths(ontology):
    gazetteer = small(
        ontology, ("New York", "City"), ("York Times", "Company"), ("Ab Cd", "ORG"), ("Cd Ef", "LOC")
    )
    instance = only(["New York Times and Ab Cd Ef"], gazetteer)
    # "New York" 0-8 beats "York Times" 4-14; "Ab Cd" 19-24 beats the equally long "Cd Ef" 22-27
    assert spans(instance) == [(0, 8, "City", "New York"), (19, 24, "Organization", "Ab Cd")]


def test_a_name_overlapping_two_found_ones_loses_to_the_first(ontology):
    gazetteer = small(ontology, ("New York", "City"), ("Times", "Company"), ("York Times Square", "LOC"))
    # "York Times Square" 4-21 ends last but starts inside "New York" 0-8, which starts first
    assert [(s, e) for s, e, _ in gazetteer.find("New York Times Square", "en")] == [(0, 8), (9, 14)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alcoa", []),
        ("xAl", []),
        ("Al_x", []),
        ("Al2", []),
        ("Al", [(0, 2)]),
        ("(Al), Al-Qaeda; «Al»", [(1, 3), (6, 8), (17, 19)]),
        ("Alé Al\u0301 Al", [(8, 10)]),  # é is a letter, U+0301 a combining mark: both inside the word
    ],
)
def test_english_word_boundaries(ontology, text, expected):
    gazetteer = small(ontology, ("Al", "PER"))
    assert [(s, e) for s, e, _ in gazetteer.find(text, "en")] == expected


def test_chinese_text_needs_no_spaces(gazetteer):
    # 李明 0-2; 纽约时报 3-7 covers 纽约 3-5; 华为 14-16. The KB says 李明 works for 华为.
    instance = only([{"text": "李明在纽约时报工作，后来加入华为。", "lang": "zh"}], gazetteer)
    assert spans(instance) == [
        (0, 2, "Person", "李明"),
        (3, 7, "Company", "纽约时报"),
        (14, 16, "Company", "华为"),
    ]
    assert [(r.type, r.head, r.tail) for r in instance.relations] == [("Employment", 0, 2)]


def test_latin_words_inside_chinese_keep_their_boundaries(gazetteer):
    # "Al" in "Alcoa" 0-5 sits between two ASCII letters; "Al" at 9-11 touches Chinese only
    instance = only([{"text": "Alcoa在巴黎，Al在纽约。", "lang": "zh-CN"}], gazetteer)
    assert spans(instance) == [(6, 8, "City", "巴黎"), (9, 11, "Person", "Al"), (12, 14, "City", "纽约")]


def test_language_restricted_names_only_match_their_language(gazetteer):
    # 巴黎 is listed for zh only, so an English sentence keeps just Ada Park 0-8
    instance = only(["Ada Park visited 巴黎."], gazetteer)
    assert spans(instance) == [(0, 8, "Person", "Ada Park")]


def test_case_sensitive_by_default_and_foldable(ontology):
    text = "ALCOA and new york; NEW YORK either."
    assert small(ontology, ("New York", "City")).find(text, "en") == []
    folding = small(ontology, ("New York", "City"), ("Σ", "LOC"), case_sensitive=False)
    assert [(s, e) for s, e, _ in folding.find(text, "en")] == [(10, 18), (20, 28)]
    # İ lowercases to two characters; folding keeps one per character so offsets do not move
    assert [(s, e) for s, e, _ in folding.find("İ new york ς", "en")] == [(2, 10), (11, 12)]


def test_fold_case_keeps_every_offset():
    assert fold_case("İSTANBUL ΟΔΥΣΣΕΥΣ") == "İstanbul οδυσσευσ"
    assert fold_case("Ada PARK") == "ada park"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["New", "York", "Times", "Al", "Alcoa", "纽约", "时报", " ", ",", "x"]), max_size=12
    )
)
def test_find_equals_a_brute_force_reference(ontology, words):
    # Given every occurrence found by str.find, filtered by boundaries and chosen leftmost-longest
    names = {"New York": "City", "New York Times": "Company", "York": "City", "Al": "PER", "纽约": "City"}
    gazetteer = small(ontology, *names.items())
    text = "".join(words)

    def inside(i):  # the edge before text[i] splits a word
        return 0 < i < len(text) and is_word_char(text[i - 1]) and is_word_char(text[i])

    occurrences = sorted(
        (start, -len(name), name)
        for name in names
        for start in range(len(text))
        if text.startswith(name, start) and not inside(start) and not inside(start + len(name))
    )
    expected, covered = [], 0
    for start, negative, name in occurrences:
        if start >= covered:
            covered = start - negative
            expected.append((start, covered, name))
    # Then find agrees span for span
    assert [(s, e, text[s:e]) for s, e, _ in gazetteer.find(text, "en")] == expected


def test_empty_gazetteer_finds_nothing(ontology):
    assert Gazetteer(ontology).find("Ada Park", "en") == []


def test_word_view_replaces_non_word_characters_in_place():
    assert word_view("Al-Qaeda, «Al» é\u0301_x 2") == "Al Qaeda   Al  é\u0301_x 2"


def test_case_folding_never_changes_whether_a_character_is_a_word_character():
    # The word automaton scans the word view of folded text, while boundaries are defined on the text
    # itself; the two agree because no character that folds to one character changes kind.
    changed = [
        hex(code)
        for code in range(0x110000)
        if len(folded := chr(code).casefold()) == 1 and is_word_char(folded) != is_word_char(chr(code))
    ]
    assert changed == []


def test_names_with_punctuation_match_exactly(ontology):
    gazetteer = small(
        ontology,
        ("Yahoo!", "Company"),
        ("U.S.", "Country"),
        ("C++", "Product"),
        ("Al", "PER"),
        ("(Al)", "WorkOfArt"),
        ("Al)", "Facility"),
        ("Al-Qaeda", "ORG"),
        ("Al Qaeda", "Miscellaneous"),
        ("Qaeda", "LOC"),
    )
    text = "Yahoo!Japan, the U.S. and C++ met (Al) Al-Qaeda; Al Qaeda, Al.Qaeda"
    found = [
        (s, e, text[s:e], gazetteer.type_names[gazetteer.type_ids[i]])
        for s, e, i in gazetteer.find(text, "en")
    ]
    # "!" and "J" are no edge inside a word; "(Al)" 34-38 starts before "Al" 35-37; "Al Qaeda" is not
    # "Al-Qaeda" (same word view, other text); "Al.Qaeda" is two names
    assert found == [
        (0, 6, "Yahoo!", "Company"),
        (17, 21, "U.S.", "Country"),
        (26, 29, "C++", "Product"),
        (34, 38, "(Al)", "WorkOfArt"),
        (39, 47, "Al-Qaeda", "Organization"),
        (49, 57, "Al Qaeda", "Miscellaneous"),
        (59, 61, "Al", "Person"),
        (62, 67, "Qaeda", "Location"),
    ]
    assert [
        [(s, e) for s, e, _ in spans] for spans in gazetteer.find_all(["x(Al)", "U.S.A.", "Al)"], "en")
    ] == [
        [(1, 5)],
        [(0, 4)],
        [(0, 3)],  # "Al)" ends after the key " Al " that finds it, and still beats "Al"
    ]


def test_a_name_with_spaces_needs_spaces_in_the_text(ontology):
    # all three have the word view "New York"; only the last is the name
    gazetteer = small(ontology, ("New York", "City"))
    assert [(s, e) for s, e, _ in gazetteer.find("New-York, New\tYork, New York", "en")] == [(20, 28)]


def test_no_match_crosses_from_one_sentence_to_the_next(ontology):
    # the sentences of a batch are searched joined by newlines, which a name may hold as well
    gazetteer = small(ontology, ("Al\nQaeda", "ORG"))
    for lang in ("en", "zh"):
        assert gazetteer.find_all(["Al", "Qaeda", "Al\nQaeda"], lang) == [[], [], [(0, 8, 0)]]


def test_names_too_long_to_pack_are_found_too(ontology):
    # names of 128 characters or more keep their length outside the automaton's 32-bit value
    words, word = "Al " * 50 + "Qaeda", "X" * 200  # 155 and 200 characters
    other, shares = "Ab " * 50 + "Cd", "Ab-" + "Ab " * 49 + "Cd"  # one word view; `other` is keyed first
    gazetteer = small(
        ontology, (words, "ORG"), (word, "PER"), ("Qaeda", "LOC"), (shares, "PER"), (other, "ORG")
    )
    text = f"{words} and {word}, {word}x; {words.replace(' ', '-', 1)} {shares}"
    found = [(s, e, gazetteer.type_names[gazetteer.type_ids[i]]) for s, e, i in gazetteer.find(text, "en")]
    # the hyphenated copy of `words` 565-720 is no name, only its last word "Qaeda" 715-720 is
    assert found == [
        (0, 155, "Organization"),
        (160, 360, "Person"),
        (715, 720, "Location"),
        (721, 873, "Person"),
    ]


def test_a_row_without_language_makes_a_name_fit_every_language(ontology):
    gazetteer = small(
        ontology, ("巴黎", "City", "zh"), ("巴黎", "City"), ("Lyon", "City", "fr"), ("Lyon", "City", "de")
    )
    assert [(s, e) for s, e, _ in gazetteer.find("Paris is 巴黎 , Lyon", "en")] == [(9, 11)]
    assert [[(s, e) for s, e, _ in gazetteer.find("Lyon", lang)] for lang in ("fr", "de-AT", "en")] == [
        [(0, 4)],
        [(0, 4)],
        [],
    ]


# Names whose word views collide ("Al-Qaeda", "Al Qaeda", "Al  Qaeda"; "Al", "(Al)", "Al)"), that end in
# punctuation, belong to one language, fold to several characters or hold a combining mark.
NAMES = ["Al", "(Al)", "Al)", "(Al", "Al.", ".Al", "Al-Qaeda", "Al Qaeda", "Al  Qaeda", "Qaeda", "F. Scott"]
NAMES += ["Yahoo!", "C++", "C", "é", "&", "New York", "York", "York Times", "纽约", "纽约时报", "Σ", "ß", "İ"]
NAMES += ["x_y", "Alé", "A\u0301", "ok ok", "Alé-x", "Alé x"]  # one view, not ASCII
NAME_LANGS = {"Yahoo!": "en", "纽约时报": "zh", "ok ok": "de"}
PIECES = ["Al", "(", ")", "-", " ", "  ", ".", "Qaeda", "F", "Scott", "Yahoo", "!", "C", "+", "é", "&", "New"]
PIECES += [
    "York",
    "Times",
    "纽约",
    "时报",
    "Σ",
    "σ",
    "ß",
    "SS",
    "ss",
    "x",
    "_",
    "y",
    "\u0301",
    "A",
    "\t",
    "\n",
]
PIECES += ["İ", "i", "ok", "OK", "al", "aL"]


def brute_force(text, names, lang, case_sensitive):
    """Every occurrence found by str.startswith, kept if its edges are boundaries, then leftmost-longest."""
    spaced = base_lang(lang) not in ("zh", "ja", "th")
    search = text if case_sensitive else fold_case(text)

    def inside(i):  # the edge before text[i] splits a word (a Latin one in zh, ja, th)
        if not 0 < i < len(text):
            return False
        if spaced:
            return is_word_char(text[i - 1]) and is_word_char(text[i])
        return text[i - 1 : i + 1].isalnum() and text[i - 1 : i + 1].isascii()

    occurrences = []
    for name in names:
        if name in NAME_LANGS and base_lang(NAME_LANGS[name]) != base_lang(lang):
            continue
        key = name if case_sensitive else fold_case(name)
        occurrences += [
            (i, -len(key))
            for i in range(len(text))
            if search.startswith(key, i) and not inside(i) and not inside(i + len(key))
        ]
    expected, covered = [], 0
    for start, negative in sorted(occurrences):
        if start >= covered:
            covered = start - negative
            expected.append((start, covered))
    return expected


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=12, unique=True),
    texts=st.lists(st.lists(st.sampled_from(PIECES), max_size=14).map("".join), min_size=1, max_size=5),
    case_sensitive=st.booleans(),
    lang=st.sampled_from(["en", "de", "fr", "zh", "ja"]),  # fr, ja: no row names them
)
@example(names=["Al", "Al)"], texts=["Al)"], case_sensitive=True, lang="en")
@example(names=["New York", "York"], texts=["New-York", "x", "New York"], case_sensitive=True, lang="en")
@example(names=["Alé-x", "Alé x", "x"], texts=["é Alé-x Alé x"], case_sensitive=True, lang="en")
@example(
    names=["Yahoo!", "纽约时报", "纽约", "Al"], texts=["Yahoo!Al纽约时报"], case_sensitive=False, lang="zh"
)
def test_find_all_equals_a_brute_force_reference(ontology, names, texts, case_sensitive, lang):
    # Given a gazetteer of tricky names and a batch of sentences of one language
    gazetteer = small(
        ontology, *((name, "PER", NAME_LANGS.get(name)) for name in names), case_sensitive=case_sensitive
    )
    # When the batch is searched in one pass
    found = gazetteer.find_all(texts, lang)
    # Then each sentence gets what the brute force finds, and what find gives for it alone
    folded = {name if case_sensitive else fold_case(name) for name in names}
    for text, spans in zip(texts, found, strict=True):
        assert [(s, e) for s, e, _ in spans] == brute_force(text, names, lang, case_sensitive)
        assert spans == gazetteer.find(text, lang)
        assert all((text if case_sensitive else fold_case(text))[s:e] in folded for s, e, _ in spans)


# ---- instances and relations ----------------------------------------------------------------------


def test_relations_point_at_entity_indices(gazetteer):
    # Ada Park 0-8, Acme Corp 16-25, New York 29-37: Employment(0 -> 1), HeadquarteredIn(1 -> 2)
    instance = only(["Ada Park joined Acme Corp in New York."], gazetteer)
    assert spans(instance) == [
        (0, 8, "Person", "Ada Park"),
        (16, 25, "Organization", "Acme Corp"),
        (29, 37, "City", "New York"),
    ]
    assert [(r.type, r.head, r.tail) for r in instance.relations] == [
        ("Employment", 0, 1),
        ("HeadquarteredIn", 1, 2),
    ]


def test_relation_uses_first_mentions_once(gazetteer):
    # Acme Corp 0-9, Ada Park 14-22, Ada Park 27-35: one Employment, from entity 1 to entity 0
    instance = only(["Acme Corp and Ada Park and Ada Park."], gazetteer)
    assert [(r.type, r.head, r.tail) for r in instance.relations] == [("Employment", 1, 0)]


def test_relations_are_absent_without_a_kb(ontology):
    instance = only(["Ada Park"], small(ontology, ("Ada Park", "PER")))
    assert instance.relations is None
    assert instance.to_json() == (
        '{"id":"t-00000001","dataset":"t","lang":"en","text":"Ada Park",'
        '"entities":[{"start":0,"end":8,"type":"Person"}]}'
    )


def test_ambiguous_name_claims_its_span_but_is_not_emitted(ontology):
    gazetteer = small(ontology, ("New York", "City"), ("New York", "Person"), ("York", "City"))
    report = CoverageReport()
    instance = only(["New York."], gazetteer, keep_empty=True, report=report)
    assert instance.entities == []  # "York" 4-8 lies inside the ambiguous "New York" 0-8
    assert report.ambiguous_spans == 1


def test_sentences_without_mentions_are_skipped_or_kept(gazetteer):
    texts = ["Nothing to see here.", "York."]
    assert [i.id for i in annotate(texts, gazetteer, lang="en", dataset="t")] == ["t-00000002"]
    kept = list(annotate(texts, gazetteer, lang="en", dataset="t", keep_empty=True))
    assert [(i.id, i.entities, i.relations) for i in kept[:1]] == [("t-00000001", [], [])]


def test_record_errors_and_arguments(gazetteer):
    with pytest.raises(InputError, match=r"^line 2: text: expected the sentence as a string$"):
        list(annotate(["York", {"text": 3}], gazetteer, lang="en", dataset="t"))
    with pytest.raises(ConfigError, match=r"^dataset: must be a non-empty string"):
        annotate(["York"], gazetteer, lang="en", dataset="")


# ---- files, shards and coverage ------------------------------------------------------------------


def test_annotate_file_shards_and_counts(gazetteer, tmp_path):
    # Given 6 lines: 5 sentences (one blank line), one without a mention, 9 mentions, 2 KB relations
    report = annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", shard_size=3)
    # Then two shards of 3 and 1 instances, each a canonical file read_instances accepts
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "coverage.json",
        "shard-00000.jsonl",
        "shard-00001.jsonl",
    ]
    shards = [list(read_instances(tmp_path / f"shard-0000{i}.jsonl")) for i in range(2)]
    assert [[i.id for i in shard] for shard in shards] == [
        ["wiki-00000001", "wiki-00000002", "wiki-00000004"],
        ["wiki-00000006"],
    ]
    assert spans(shards[1][0]) == [(0, 4, "City", "York"), (9, 17, "City", "New York")]
    # Springfield 15-26 is City; Washington 0-10 is ambiguous and dropped
    assert spans(shards[0][2]) == [(15, 26, "City", "Springfield"), (40, 44, "City", "York")]
    expected = {
        "sentences_read": 5,
        "sentences_with_mentions": 4,
        "instances": 4,
        "mentions": 9,
        "mentions_per_type": {"City": 5, "Company": 1, "Organization": 1, "Person": 2},
        "ambiguous_spans": 1,
        "relations": 2,
        "relations_per_type": {"Employment": 1, "HeadquarteredIn": 1},
        "names_total": 14,
        "names_never_matched": 6,  # Times Square, 纽约, 纽约时报, 李明, 华为, 巴黎
        "bytes_read": (HERE / "en.txt").stat().st_size,
        "shards": [
            {
                "file": "shard-00000.jsonl",
                "instances": 3,
                "sha256": sha256_of(tmp_path / "shard-00000.jsonl"),
            },
            {
                "file": "shard-00001.jsonl",
                "instances": 1,
                "sha256": sha256_of(tmp_path / "shard-00001.jsonl"),
            },
        ],
    }
    written = json.loads((tmp_path / "coverage.json").read_text())
    for numbers in (report.to_dict(), written):
        assert {k: v for k, v in numbers.items() if k not in ("seconds", "mb_per_s")} == expected
    assert written["seconds"] > 0 and written["mb_per_s"] == round(report.mb_per_s, 3)


def test_shard_lines_equal_the_validated_instances(gazetteer, tmp_path):
    annotate_file(HERE / "mixed.jsonl", tmp_path, gazetteer, lang="en", dataset="mix")
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in (HERE / "mixed.jsonl").read_text().splitlines() if line.strip()]
    expected = [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset="mix")]
    assert [json.loads(line)["id"] for line in lines] == ["zh-1", "zh-2", "mix-00000003"]
    assert lines == expected


def test_keep_empty_writes_every_sentence_read(gazetteer, tmp_path):
    # Given en.txt: 5 sentences (line 5 is blank), line 3 without a mention
    report = annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", keep_empty=True)
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = (HERE / "en.txt").read_text(encoding="utf-8").splitlines()
    expected = [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset="wiki", keep_empty=True)]
    assert [json.loads(line)["id"] for line in lines] == [f"wiki-0000000{n}" for n in (1, 2, 3, 4, 6)]
    assert lines == expected
    assert (report.sentences_read, report.sentences_with_mentions, report.instances) == (5, 4, 5)


def test_tricky_text_is_serialised_like_pydantic(ontology, tmp_path):
    gazetteer = small(ontology, ("Ada Park", "PER"))
    text = 'Ada Park said "hi" \\ \t \x01 \x7f \u2028 é 😀'
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 'q"1', "text": text}) + "\n", encoding="utf-8")
    annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset='d"s')
    line = (tmp_path / "out" / "shard-00000.jsonl").read_text(encoding="utf-8")
    (instance,) = annotate([{"id": 'q"1', "text": text}], gazetteer, lang="en", dataset='d"s')
    assert line == instance.to_json() + "\n"


def test_default_ids_escape_the_dataset_name(gazetteer, tmp_path):
    # a text file has no ids: each is made of the dataset name, which may hold '%' or '"'
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset='w%s"1')
    lines = (tmp_path / "shard-00000.jsonl").read_text(encoding="utf-8").splitlines()
    records = (HERE / "en.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [i.to_json() for i in annotate(records, gazetteer, lang="en", dataset='w%s"1')]
    assert json.loads(lines[0])["id"] == 'w%s"1-00000001'


def test_runs_are_deterministic(gazetteer, tmp_path):
    reports = [
        annotate_file(HERE / "en.txt", tmp_path / name, gazetteer, lang="en", dataset="wiki", shard_size=2)
        for name in ("a", "b")
    ]
    for shard in ("shard-00000.jsonl", "shard-00001.jsonl"):
        assert (tmp_path / "a" / shard).read_bytes() == (tmp_path / "b" / shard).read_bytes()
    timing = ("seconds", "mb_per_s")
    first, second = ({k: v for k, v in r.to_dict().items() if k not in timing} for r in reports)
    assert first == second


def test_an_earlier_run_is_kept_unless_overwritten(gazetteer, tmp_path):
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", shard_size=1)
    with pytest.raises(InputError, match="holds the output of an earlier run"):
        annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki")
    annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="wiki", overwrite=True)
    # the 4 one-instance shards of the first run are gone; one shard of 4 remains
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coverage.json", "shard-00000.jsonl"]
    assert len(list(read_instances(tmp_path / "shard-00000.jsonl"))) == 4


def test_bad_input_lines_name_file_and_line(gazetteer, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "York"}\n{"text": "York", "lang": ""}\n')
    with pytest.raises(InputError, match=r"in.jsonl:2: lang: expected a non-empty string or no value$"):
        annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="t")
    assert not (tmp_path / "out" / "coverage.json").exists()
    source.write_text('{"text": "York"}\n[1]\n')
    with pytest.raises(DataFormatError, match=r"in.jsonl:2: <json>: expected a JSON object$"):
        annotate_file(source, tmp_path / "out2", gazetteer, lang="en", dataset="t")


def test_text_files_are_read_in_blocks_without_losing_lines(gazetteer, tmp_path):
    # Given 5,000 CRLF lines (about 150 KB: several reading blocks), "York" on every 1,000th
    lines = [
        f"York is line {n}." if n % 1000 == 0 else f"filler line {n} without names" for n in range(1, 5001)
    ]
    source = tmp_path / "big.txt"
    source.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    report = annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="big")
    # Then line numbers run on across blocks and no line keeps its "\r"
    instances = list(read_instances(tmp_path / "out" / "shard-00000.jsonl"))
    assert [(i.id, i.text, spans(i)) for i in instances] == [
        (f"big-{n:08d}", f"York is line {n}.", [(0, 4, "City", "York")]) for n in range(1000, 5001, 1000)
    ]
    assert (report.sentences_read, report.bytes_read) == (5000, source.stat().st_size)


def test_invalid_utf8_in_a_text_file_names_its_line(gazetteer, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"York.\nNew York.\nAda \xff Park\n")
    with pytest.raises(
        DataFormatError, match=r"in.txt:3: <encoding>: not valid UTF-8 \(byte 5 of the line\)$"
    ):
        annotate_file(source, tmp_path / "out", gazetteer, lang="en", dataset="t")


def test_shard_size_must_be_positive(gazetteer, tmp_path):
    with pytest.raises(ConfigError, match=r"^shard_size: must be a positive number of instances, got 0$"):
        annotate_file(HERE / "en.txt", tmp_path, gazetteer, lang="en", dataset="t", shard_size=0)
