"""How the data stages scale: corpus building by instances, annotation by megabytes, on 1 and 2 workers.

Corpus: the SFT corpus (the costliest builder) of 10k, 100k and 1M instances, made by repeating
the bundled sample and synthetic instances under new ids. Annotation: 10, 100 and 1000 MB of
text made by repeating the annotation fixture's sentences, with its gazetteer and KB. Each run is
one ``knowcoder.distributed`` job on a local Dask cluster of 1 or 2 worker processes (started
inside the timing, as a real run does); wall time, peak resident memory of this process and every
child (Dask workers included, sampled every 0.1 s), the growth exponent (slope of log time over
log size, least squares) and the 1 -> 2 worker speedup go to a JSON file and a PNG plot.

Usage: python benchmarks/bench_scaling.py [--instances 10000,100000,1000000] [--mb 10,100,1000]
       [--workers 1,2] [--shard-size 25000] [--annotate-shard-size 250000] [--out artifacts/bench/scaling]
       python benchmarks/bench_scaling.py --replot artifacts/bench/scaling/scaling.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
SAMPLE_INPUTS = [REPO / "data/raw/sample/en.jsonl", REPO / "data/raw/sample/zh.jsonl"]
ANNOTATE = REPO / "tests/fixtures/annotate"


class PeakMemory:
    """Peak RSS, sampled in a thread: summed over this process and all its descendants (``peak``),
    of this process alone (``own``: where a stage runs in process) and of the largest single child
    (``child``: a Dask worker, the scheduler or the temporary Prefect server)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self.own = 0
        self.child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            own = me.memory_info().rss
            total = own
            for process in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # a process may end between list and read
                    rss = process.memory_info().rss
                    total += rss
                    self.child = max(self.child, rss)
            self.own = max(self.own, own)
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(run: Callable[[], Any]) -> dict[str, float]:
    with PeakMemory() as memory:
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(memory.peak / 2**20, 1),
        "peak_rss_own_mb": round(memory.own / 2**20, 1),
        "peak_rss_largest_child_mb": round(memory.child / 2**20, 1),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) over log(size): 1.0 is linear growth."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 3) if den else None


# ---- inputs -------------------------------------------------------------------------------------
def validated_instances(root: Path, count: int) -> Path:
    """A validated-input folder holding ``count`` train instances (the samples, repeated, new ids)."""
    from knowcoder.data.jsonl import read_instances

    base = [i for path in SAMPLE_INPUTS for i in read_instances(path) if i.split in (None, "train")]
    path = root / "data" / "validated" / "scaled" / "valid.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for k in range(count):
            instance = base[k % len(base)]
            handle.write(instance.model_copy(update={"id": f"scaled-{k:08d}"}).to_json() + "\n")
    return path


def sentences(path: Path, megabytes: int) -> Path:
    lines = [line for line in (ANNOTATE / "en.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    block = ("\n".join(lines) + "\n").encode("utf-8")
    target = megabytes * 1_000_000
    with open(path, "wb") as handle:
        written = 0
        while written < target:
            handle.write(block)
            written += len(block)
    return path


# ---- runs ---------------------------------------------------------------------------------------
def corpus_run(root: Path, count: int, workers: int, shard_size: int) -> dict[str, Any]:
    from knowcoder.config import load_params
    from knowcoder.stages.corpus import build_corpus

    params = load_params(
        REPO / "params.yaml",
        overrides=[
            f"paths.ontology={REPO / 'data/ontology.yaml'}",
            f"paths.artifacts={root}",
            "corpus.inputs=[scaled]",
            f"data.workers={workers}",
            f"data.shard_size={shard_size}",
        ],
    )
    numbers = measure(lambda: build_corpus(params, "sft"))
    with open(root / "corpus" / "sft.jsonl", "rb") as handle:
        numbers["rows"] = sum(1 for _ in handle)
    return numbers


def annotate_run(text: Path, out: Path, workers: int, shard_size: int) -> dict[str, Any]:
    from knowcoder.corpus.annotate import Gazetteer, annotate_file
    from knowcoder.schema.ontology import load_ontology

    gazetteer = Gazetteer.load(
        ANNOTATE / "names.tsv",
        load_ontology(REPO / "data/ontology.yaml"),
        relations=ANNOTATE / "relations.tsv",
    )
    options = {
        "lang": "en",
        "dataset": "wiki",
        "overwrite": True,
        "workers": workers,
        "shard_lines": shard_size,
    }
    numbers = measure(lambda: annotate_file(text, out, gazetteer, **options))
    coverage = json.loads((out / "coverage.json").read_text())
    numbers["instances"] = coverage["instances"]
    return numbers


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for stage in sorted({run["stage"] for run in runs}):
        mine = [run for run in runs if run["stage"] == stage]
        by_workers: dict[str, Any] = {}
        for workers in sorted({run["workers"] for run in mine}):
            points = [(run["size"], run["seconds"]) for run in mine if run["workers"] == workers]
            by_workers[str(workers)] = {"growth_exponent": slope(points)}
        speedups = {}
        for size in sorted({run["size"] for run in mine}):
            times = {run["workers"]: run["seconds"] for run in mine if run["size"] == size}
            if 1 in times and 2 in times:
                speedups[str(size)] = round(times[1] / times[2], 2)
        summary[stage] = {"by_workers": by_workers, "speedup_1_to_2": speedups}
    return summary


def plot(runs: list[dict[str, Any]], path: Path) -> bool:
    """Wall time (top) and peak memory (bottom: this process, the largest child) against size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    stages = sorted({run["stage"] for run in runs})
    figure, axes = plt.subplots(2, len(stages), figsize=(5 * len(stages), 8), squeeze=False)
    for column, stage in enumerate(stages):
        mine = [run for run in runs if run["stage"] == stage]
        timing, memory = axes[0][column], axes[1][column]
        for workers in sorted({run["workers"] for run in mine}):
            points = sorted((run["size"], run) for run in mine if run["workers"] == workers)
            sizes = [size for size, _ in points]
            timing.loglog(sizes, [r["seconds"] for _, r in points], marker="o", label=f"{workers} worker(s)")
            for key, style in (("peak_rss_own_mb", "-"), ("peak_rss_largest_child_mb", "--")):
                if all(key in r for _, r in points):
                    label = f"{workers} worker(s), {'this process' if style == '-' else 'largest child'}"
                    memory.semilogx(sizes, [r[key] for _, r in points], style, marker="o", label=label)
        unit = "instances" if stage == "corpus-sft" else "MB of text"
        timing.set(xlabel=unit, ylabel="wall seconds", title=stage)
        memory.set(xlabel=unit, ylabel="peak RSS (MB)", title=f"{stage}: memory", ylim=(0, None))
        timing.legend()
        memory.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", default="10000,100000,1000000")
    parser.add_argument("--mb", default="10,100,1000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--shard-size", type=int, default=25_000, help="corpus: input instances per shard")
    parser.add_argument("--annotate-shard-size", type=int, default=250_000, help="annotation: lines a shard")
    parser.add_argument("--out", default="artifacts/bench/scaling")
    parser.add_argument(
        "--replot", default=None, help="draw the PNG of an existing scaling.json, run nothing"
    )
    args = parser.parse_args()
    if args.replot:
        source = Path(args.replot)
        done = plot(json.loads(source.read_text(encoding="utf-8"))["runs"], source.with_suffix(".png"))
        print(f"wrote {source.with_suffix('.png')}" if done else "matplotlib is not installed")
        return
    instances = [int(x) for x in args.instances.split(",") if x]
    megabytes = [int(x) for x in args.mb.split(",") if x]
    workers = [int(x) for x in args.workers.split(",") if x]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="knowcoder-scaling-") as tmp:
        root = Path(tmp)
        for count in instances:
            validated_instances(root, count)
            for n in workers:
                numbers = corpus_run(root, count, n, args.shard_size)
                runs.append({"stage": "corpus-sft", "size": count, "workers": n, **numbers})
                print(json.dumps(runs[-1]), flush=True)
        for mb in megabytes:
            text = sentences(root / f"text-{mb}.txt", mb)
            for n in workers:
                numbers = annotate_run(text, root / f"weak-{mb}", n, args.annotate_shard_size)
                runs.append({"stage": "annotate", "size": mb, "workers": n, **numbers})
                print(json.dumps(runs[-1]), flush=True)
            text.unlink()
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "note": "2 cores shared with other work: times include waiting for a core, and 2 workers "
            "can at best halve a run only when the cores are otherwise idle",
        },
        "shard_size": {"corpus": args.shard_size, "annotate": args.annotate_shard_size},
        "runs": runs,
        "summary": summarise(runs),
    }
    (out / "scaling.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plotted = plot(runs, out / "scaling.png")
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out / 'scaling.json'}" + (f" and {out / 'scaling.png'}" if plotted else ""))


if __name__ == "__main__":
    main()
