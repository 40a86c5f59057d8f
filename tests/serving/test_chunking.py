from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from knowcoder.serving.chunking import Chunk, merge_chunks, place_records, sentence_spans, split_text

TEXT = "Ada Park joined Acme Corp. She lives in Paris. Bo Li left Bo Bank."


def test_a_short_text_is_one_chunk():
    assert split_text(TEXT, 1000, 100) == [Chunk(0, TEXT)]


def test_chunks_end_at_sentences_and_overlap_by_whole_sentences():
    # sentences: [0, 27) "Ada ... Corp. ", [27, 47) "She ... Paris. ", [47, 66) "Bo ... Bank."
    assert sentence_spans(TEXT) == [(0, 27), (27, 47), (47, 66)]
    chunks = split_text(TEXT, 47, 21)
    assert chunks == [Chunk(0, TEXT[0:47]), Chunk(27, TEXT[27:66])]


def test_records_get_offsets_in_the_whole_text_and_overlap_repeats_are_dropped():
    first, second = Chunk(0, TEXT[0:47]), Chunk(27, TEXT[27:66])
    paris = {"type": "Location", "text": "Paris"}
    NER1, NER2 = {"ner": {"n": 1}}, {"ner": {"n": 2}}
    merged = merge_chunks(
        TEXT,
        [
            (first, {"entities": [{"type": "Person", "text": "Ada Park"}, paris], "report": NER1}),
            (second, {"entities": [paris, {"type": "Person", "text": "Bo Li"}], "report": NER2}),
        ],
    )
    assert [(e["text"], e["start"], e["end"]) for e in merged["entities"]] == [
        ("Ada Park", 0, 8),
        ("Paris", 40, 45),
        ("Bo Li", 47, 52),
    ]
    assert merged["chunks"] == 2 and merged["report"] == {"ner": [{"n": 1}, {"n": 2}]}


def test_a_span_the_model_made_up_has_no_offsets():
    placed = place_records({"entities": [{"type": "Person", "text": "Nobody"}]}, Chunk(0, TEXT))
    assert placed["entities"] == [{"type": "Person", "text": "Nobody", "start": None, "end": None}]


@given(st.text(alphabet="ab .!\n", max_size=300), st.integers(1, 60), st.integers(0, 30))
def test_chunks_cover_the_text_in_order_within_the_limit(text, max_chars, overlap):
    chunks = split_text(text, max_chars, overlap)
    assert all(len(c.text) <= max_chars and text[c.start : c.start + len(c.text)] == c.text for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].start + len(chunks[-1].text) == len(text)
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start <= before.start + len(before.text)  # no gap, always progress


def test_a_record_both_chunks_wrote_keeps_the_higher_confidence():
    first, second = Chunk(0, TEXT[0:47]), Chunk(27, TEXT[27:66])
    merged = merge_chunks(
        TEXT,
        [
            (first, {"entities": [{"type": "Location", "text": "Paris", "confidence": 0.4}]}),
            (second, {"entities": [{"type": "Location", "text": "Paris", "confidence": 0.7}]}),
        ],
    )
    assert merged["entities"] == [
        {"type": "Location", "text": "Paris", "confidence": 0.7, "start": 40, "end": 45}
    ]
