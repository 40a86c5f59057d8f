"""Distant-supervision speed: MB/s per core with a 1,000,000-name gazetteer over ~80 MB of text.

Builds a deterministic synthetic gazetteer (multi-word English names of people, companies and
places, ~10 % Chinese names over 3,000 distinct characters), writes it as TSV and times
``Gazetteer.load`` (parse + both automata). Then generates an English and a Chinese corpus (90 % / 10 %
of the bytes) in a temporary folder and, pinned to one core, times three stages: the bare automaton
scan as ``find_all`` feeds it (the floor: the word automaton over the word view of batches of
sentences for English, the name automaton over their UTF-8 bytes for Chinese), ``annotate`` in memory
(matching, leftmost-longest, validated ``Instance`` objects) and ``annotate_file`` end to end
(reading, annotating, writing shards). MB/s is given per CPU-second (what one core does) and per
wall-second (lower when other processes share the core). Nothing is kept on disk afterwards.

Usage: python benchmarks/bench_annotate.py [--names N] [--mb MB] [--seed S] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knowcoder.corpus.annotate import Gazetteer, annotate, annotate_file
from knowcoder.corpus.gazetteer import word_view
from knowcoder.schema.ontology import load_ontology

REPO = Path(__file__).resolve().parents[1]
ONSETS = ["b", "br", "c", "ch", "d", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "r", "s", "st"]
ONSETS += ["t", "v", "w"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "y"]
CODAS = ["", "", "n", "r", "s", "l", "th", "nd", "rk", "ck"]
FUNCTION_WORDS = ["the", "of", "and", "in", "to", "a", "was", "for", "on", "with", "as", "by", "at", "from"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
SCAN_BATCH = 512  # sentences per automaton pass, about what annotate_file reads at once
ZH_COMMON = "的一是在了不和有大这主中人上为们地个用工时要动国产以我到他会作来分生对于学下级就年阶义发成部"


def rss_mb() -> float:
    """Resident memory now (Linux), in MB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def word(rng: random.Random) -> str:
    """A pronounceable pseudo-word of one to three syllables."""
    syllables = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(1, 3)))
    return syllables + rng.choice(CODAS)


def make_names(count: int, rng: random.Random) -> list[tuple[str, str, str | None]]:
    """``count`` distinct (name, type, lang) rows: ~90 % English, ~10 % Chinese (lang zh)."""
    firsts = sorted({word(rng).capitalize() for _ in range(4_000)})
    lasts = sorted({word(rng).capitalize() for _ in range(60_000)})
    stems = sorted({word(rng).capitalize() for _ in range(80_000)})
    suffixes = ["Systems", "Group", "Holdings", "Labs", "Corp"]
    english: list[tuple[Callable[[], str], str]] = [
        (lambda: f"{rng.choice(firsts)} {rng.choice(lasts)}", "PER"),
        (lambda: f"{rng.choice(firsts)} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {rng.choice(lasts)}", "Person"),
        (lambda: f"{rng.choice(stems)} {rng.choice(suffixes)}", "Company"),
        (lambda: f"{rng.choice(stems)} {rng.choice(stems)} {rng.choice(['Inc', 'Bank', 'Partners'])}", "ORG"),
        (lambda: f"University of {rng.choice(stems)}", "University"),
        (lambda: f"{rng.choice(['Lake', 'Mount', 'Port', 'New', 'East'])} {rng.choice(stems)}", "LOC"),
        (lambda: f"{rng.choice(stems)}{rng.choice(['ville', 'ton', 'burg', 'field'])}", "City"),
        (lambda: rng.choice(stems), "Location"),
    ]
    # thousands of distinct first characters, as in a real Chinese gazetteer
    hanzi = "".join(chr(code) for code in rng.sample(range(0x4E00, 0x9FA6), 3_000))
    chinese: list[tuple[Callable[[], str], str]] = [
        (lambda: rng.choice(SURNAMES) + "".join(rng.choices(hanzi, k=rng.randint(1, 2))), "人物"),
        (lambda: "".join(rng.choices(hanzi, k=2)) + rng.choice(["科技", "集团", "公司"]), "公司"),
        (lambda: "".join(rng.choices(hanzi, k=2)) + "市", "City"),
    ]
    rows: dict[str, tuple[str, str, str | None]] = {}
    while len(rows) < count:
        zh = rng.random() < 0.1
        make, label = rng.choice(chinese if zh else english)
        name = make()
        rows.setdefault(name, (name, label, "zh" if zh else None))
    return list(rows.values())


def make_corpus(path: Path, target_bytes: int, names: list[str], rng: random.Random, zh: bool) -> list[str]:
    """Sentences of filler words with known names (8 % of slots) and unknown capitalised ones (3 %)."""
    fillers = [word(rng) for _ in range(5_000)] + FUNCTION_WORDS * 40
    hanzi = ZH_COMMON * 20 + "".join(chr(code) for code in rng.sample(range(0x4E00, 0x9FA6), 2_000))
    sentences: list[str] = []
    size = 0
    while size < target_bytes:
        parts: list[str] = []
        for _ in range(rng.randint(4, 10) if zh else rng.randint(8, 24)):
            roll = rng.random()
            if roll < 0.08:
                parts.append(rng.choice(names))
            elif roll < 0.11:  # prefixes of these match names and must fail the boundary check
                parts.append(word(rng).capitalize() + " " + word(rng).capitalize())
            elif zh:
                parts.append("".join(rng.choices(hanzi, k=rng.randint(2, 6))))
            else:
                parts.append(rng.choice(fillers))
        text = "".join(parts) + "。" if zh else " ".join(parts) + "."
        sentences.append(text[0].upper() + text[1:])
        size += len(sentences[-1].encode("utf-8")) + 1
    path.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return sentences


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """``(result, wall seconds, CPU seconds)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--mb", type=float, default=80.0, help="corpus size in MB (10^6 bytes)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, so the numbers are per core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(args.seed)
    ontology = load_ontology(REPO / "data/ontology.yaml")
    results: dict[str, Any] = {"names": args.names, "cores": len(os.sched_getaffinity(0))}
    totals: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as tmp:
        folder = Path(tmp)
        rows = make_names(args.names, rng)
        tsv = folder / "names.tsv"
        tsv.write_text("".join(f"{n}\t{t}\t{lang}\n" if lang else f"{n}\t{t}\n" for n, t, lang in rows))
        pools = {
            lang: [n for n, _, row_lang in rows if row_lang == (lang if lang == "zh" else None)]
            for lang in ("en", "zh")
        }
        del rows
        before = rss_mb()
        gazetteer, results["load_build_s"], _ = timed(Gazetteer.load, tsv, ontology)
        results["gazetteer_rss_mb"] = round(rss_mb() - before, 1)
        results["automaton_mb"] = round(gazetteer.automaton.get_stats()["total_size"] / 1e6, 1)
        results["word_automaton_mb"] = round(gazetteer.word_automaton.get_stats()["total_size"] / 1e6, 1)
        for lang, share in (("en", 0.9), ("zh", 0.1)):
            corpus = folder / f"{lang}.txt"
            sentences = make_corpus(corpus, int(args.mb * 1e6 * share), pools[lang], rng, zh=lang == "zh")
            size = corpus.stat().st_size

            def scan(sentences: list[str] = sentences, lang: str = lang) -> int:  # as find_all feeds it
                hits = 0
                for at in range(0, len(sentences), SCAN_BATCH):
                    joined = "\n".join(["", *sentences[at : at + SCAN_BATCH], ""])
                    if lang == "zh":
                        hits += sum(1 for _ in gazetteer.automaton.iter(joined.encode().decode("latin-1")))
                    else:  # the English corpus is ASCII: no bytes to decode
                        hits += sum(1 for _ in gazetteer.word_automaton.iter(word_view(joined)))
                return hits

            def in_memory(sentences: list[str] = sentences, lang: str = lang) -> int:
                instances = annotate(sentences, gazetteer, lang=lang, dataset="bench")
                return sum(len(instance.entities or ()) for instance in instances)

            hits, *scan_s = timed(scan)
            mentions, *memory_s = timed(in_memory)
            report, *file_s = timed(annotate_file, corpus, folder / lang, gazetteer, lang=lang, dataset="b")
            assert report.mentions == mentions
            results[f"{lang}_mb"] = round(size / 1e6, 1)
            results[f"{lang}_sentences"] = report.sentences_read
            results[f"{lang}_automaton_hits_per_sentence"] = round(hits / report.sentences_read, 2)
            results[f"{lang}_mentions_per_sentence"] = round(mentions / report.sentences_read, 2)
            for stage, (wall, cpu) in (("scan", scan_s), ("annotate", memory_s), ("file", file_s)):
                results[f"{lang}_{stage}_mb_per_cpu_s"] = round(size / cpu / 1e6, 2)
                results[f"{lang}_{stage}_mb_per_wall_s"] = round(size / wall / 1e6, 2)
                for key, seconds in (("cpu", cpu), ("wall", wall)):
                    totals[f"{stage}_{key}"] = totals.get(f"{stage}_{key}", 0.0) + seconds
            results[f"{lang}_file_mentions_per_cpu_s"] = round(mentions / file_s[1])
            totals["bytes"] = totals.get("bytes", 0.0) + size
            del sentences
        for stage in ("scan", "annotate", "file"):
            for key in ("cpu", "wall"):
                results[f"all_{stage}_mb_per_{key}_s"] = round(
                    totals["bytes"] / totals[f"{stage}_{key}"] / 1e6, 2
                )
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for key, value in results.items():
        print(f"{key:>36}: {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
