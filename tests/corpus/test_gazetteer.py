"""The gazetteer: loading names and relations, and its matching rules (word boundaries,
leftmost-longest, languages, case), checked against a brute-force reference.

Offsets are worked out by hand from the fixture sentences under tests/fixtures/annotate/.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from knowcoder.corpus.gazetteer import Gazetteer, base_lang, fold_case, is_word_char, word_view
from knowcoder.errors import InputError

from .conftest import HERE, only, small, spans

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
    for text, matches in zip(texts, found, strict=True):
        assert [(s, e) for s, e, _ in matches] == brute_force(text, names, lang, case_sensitive)
        assert matches == gazetteer.find(text, lang)
        assert all((text if case_sensitive else fold_case(text))[s:e] in folded for s, e, _ in matches)
