"""Import throughput and peak memory for CoNLL, UIE, OneIE, DuIE and DuEE files of growing size.

Writes synthetic files of each format (at every ``--sizes`` MB) into a temporary folder, imports
each in a fresh child process (ontology aliases, exact offsets, writing canonical JSONL, as
``knowcoder data import`` does) and reports lines/s, MB/s and the child's peak RSS. Importers
stream, so peak RSS should stay flat as the file grows.

    python benchmarks/bench_import.py --sizes 10,50 --json out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ONTOLOGY = """name: bench
languages: [en, zh]
entities:
  - {name: Person, aliases: {"*": [PER, 人物]}}
  - {name: Organization, aliases: {"*": [ORG, 企业]}}
relations:
  - {name: Employment, aliases: {"*": [ORG-AFF, 任职]}}
  - {name: Founder, aliases: {"*": [{label: 创始人, swap: true}]}}
events:
  - name: StartPosition
    aliases: {"*": ["Personnel:Start-Position", 组织关系-加盟]}
    roles:
      - {name: employee, aliases: {"*": [加盟者]}}
      - {name: employer, aliases: {"*": [所加盟组织]}}
"""

TOKENS = ["Ada", "Park", "joined", "Acme", "Corp", "in", "Paris", "last", "week", "."]


def _conll_block(n: int) -> str:
    tags = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "O", "O", "O", "O"]
    return "".join(f"{t} NNP O {g}\n" for t, g in zip(TOKENS, tags, strict=True)) + "\n"


def _uie_line(n: int) -> str:
    return (
        json.dumps(
            {
                "tokens": TOKENS,
                "entity": [
                    {"type": "PER", "offset": [0, 1], "text": "Ada Park"},
                    {"type": "ORG", "offset": [3, 4], "text": "Acme Corp"},
                ],
                "relation": [
                    {
                        "type": "ORG-AFF",
                        "args": [{"type": "PER", "offset": [0, 1]}, {"type": "ORG", "offset": [3, 4]}],
                    }
                ],
            }
        )
        + "\n"
    )


def _oneie_line(n: int) -> str:
    return (
        json.dumps(
            {
                "doc_id": "d",
                "sent_id": f"s{n}",
                "tokens": TOKENS,
                "entity_mentions": [
                    {"id": "e1", "entity_type": "PER", "start": 0, "end": 2, "text": "Ada Park"},
                    {"id": "e2", "entity_type": "ORG", "start": 3, "end": 5, "text": "Acme Corp"},
                ],
                "relation_mentions": [
                    {
                        "relation_type": "ORG-AFF",
                        "arguments": [
                            {"entity_id": "e1", "role": "Arg-1"},
                            {"entity_id": "e2", "role": "Arg-2"},
                        ],
                    }
                ],
                "event_mentions": [
                    {
                        "event_type": "Personnel:Start-Position",
                        "trigger": {"start": 2, "end": 3, "text": "joined"},
                        "arguments": [{"entity_id": "e1", "role": "Employee"}],
                    }
                ],
            }
        )
        + "\n"
    )


def _duie_line(n: int) -> str:
    return (
        json.dumps(
            {
                "text": "王芳于2001年创办了星河科技，此后一直担任董事长。",
                "spo_list": [
                    {
                        "predicate": "创始人",
                        "subject": "星河科技",
                        "subject_type": "企业",
                        "object": {"@value": "王芳"},
                        "object_type": {"@value": "人物"},
                    },
                    {
                        "predicate": "任职",
                        "subject": "王芳",
                        "subject_type": "人物",
                        "object": {"@value": "星河科技"},
                        "object_type": {"@value": "企业"},
                    },
                ],
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def _duee_line(n: int) -> str:
    return (
        json.dumps(
            {
                "id": f"e{n}",
                "text": "王芳加盟星河科技，出任首席技术官。",
                "event_list": [
                    {
                        "event_type": "组织关系-加盟",
                        "trigger": "加盟",
                        "trigger_start_index": 2,
                        "arguments": [
                            {"argument_start_index": 0, "role": "加盟者", "argument": "王芳", "alias": []},
                            {
                                "argument_start_index": 4,
                                "role": "所加盟组织",
                                "argument": "星河科技",
                                "alias": [],
                            },
                        ],
                        "class": "组织关系",
                    }
                ],
            },
            ensure_ascii=False,
        )
        + "\n"
    )


FORMATS = {
    "conll": (_conll_block, "en"),
    "uie": (_uie_line, "en"),
    "oneie": (_oneie_line, "en"),
    "duie": (_duie_line, "zh"),
    "duee": (_duee_line, "zh"),
}


def write_file(path: Path, fmt: str, megabytes: float) -> None:
    make = FORMATS[fmt][0]
    target = int(megabytes * 1024 * 1024)
    written, n = 0, 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            chunk = "".join(make(n + k) for k in range(1000))
            handle.write(chunk)
            written += len(chunk.encode("utf-8"))
            n += 1000


CHILD = """
import resource, sys, time
from knowcoder.data.importers import import_dataset
from knowcoder.data.jsonl import write_instances
from knowcoder.schema.ontology import load_ontology
fmt, path, out, onto, lang = sys.argv[1:6]
stream, report = import_dataset(fmt, path, ontology=load_ontology(onto), dataset="bench", lang=lang)
start = time.perf_counter()
write_instances(out, stream)
elapsed = time.perf_counter() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # this process only, kB on Linux
print(elapsed, report.records_read, report.instances_written, peak_kb)
"""


def run_one(fmt: str, path: Path, workdir: Path, ontology: Path) -> dict[str, float]:
    out = workdir / f"{path.stem}.out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, fmt, str(path), str(out), str(ontology), FORMATS[fmt][1]],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{fmt}: import failed with exit code {proc.returncode}")
    seconds, records, _instances, peak_kb = stdout.split()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    out.unlink()
    return {
        "megabytes": round(size / 1e6, 1),
        "lines": lines,
        "records": int(records),
        "seconds": round(float(seconds), 2),
        "lines_per_s": round(lines / float(seconds)),
        "mb_per_s": round(size / 1e6 / float(seconds), 2),
        "peak_rss_mb": round(int(peak_kb) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50", help="file sizes in MB, comma-separated")
    parser.add_argument("--formats", default=",".join(FORMATS), help="formats to measure")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ontology = workdir / "ontology.yaml"
        ontology.write_text(ONTOLOGY, encoding="utf-8")
        for fmt in args.formats.split(","):
            for size in sizes:
                path = workdir / f"{fmt}-{size:g}mb.data"
                write_file(path, fmt, size)
                row = {"format": fmt, **run_one(fmt, path, workdir, ontology)}
                path.unlink()
                results.append(row)
                print(
                    f"{fmt:>6} {row['megabytes']:>6} MB  {row['lines_per_s']:>9,} lines/s  "
                    f"{row['mb_per_s']:>6} MB/s  peak RSS {row['peak_rss_mb']} MB",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
