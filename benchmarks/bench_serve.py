"""Load benchmark of ``knowcoder serve`` on loopback: req/s and p50/p99 latency, sequential vs micro-batched.

Builds the tiny random-weight model of the serving tests, logs it to a throwaway SQLite MLflow store,
and starts the server twice in a subprocess on a free 127.0.0.1 port: once with ``--max-batch 1``
(every request generated alone, the old behaviour behind a lock) and once micro-batched (the
default). Each is driven by 1 and by 8 concurrent clients for a bounded number of requests. Last,
a 10 MB body is sent beside a small request, to show the size limit answers at once (413) and the
small request does not wait behind it.

    .venv/bin/python benchmarks/bench_serve.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TEXTS = ("Ada Park joined Acme Corp in Paris.", "Li Ming was hired by Bo Bank.", "Bo Li left Bo Bank in May.")
OPTIONS = {"system": False, "descriptions": False, "max_examples": 1, "max_new_tokens": 16, "batch_size": 64}
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "48"))


def logged_model(root: Path) -> tuple[str, str]:
    import mlflow

    from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
    from knowcoder.modeling.tokenizer import train_tokenizer
    from knowcoder.prompts import PromptBuilder
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.serving.predictor import ServingConfig
    from knowcoder.serving.pyfunc import log_pyfunc_model

    ontology = REPO / "data" / "ontology.yaml"
    config = ServingConfig.from_dict(OPTIONS)
    builder = PromptBuilder(load_ontology(ontology), config.prompt_options())
    tokenizer = train_tokenizer([builder.prompt(t, "ner", ["Person"]) for t in TEXTS], vocab_size=300)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model_dir = save_model_dir(model, tokenizer, root / "model")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("bench", artifact_location=(root / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = log_pyfunc_model(model_dir, ontology, config.to_dict(), registered_model_name="bench")
    return uri, f"models:/bench/{info.registered_model_version}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(tracking: str, model: str, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "HF_HUB_OFFLINE": "1"}
    argv = [
        sys.executable,
        "-m",
        "knowcoder.cli.main",
        "serve",
        "--model",
        model,
        "--port",
        str(port),
        *extra,
    ]
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the server did not start: {process.stderr.read().decode()[-2000:]}")


def drive(url: str, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        body = {"text": TEXTS[i % len(TEXTS)], "types": ["Person", "Organization"]}
        started = time.perf_counter()
        answer = httpx.post(f"{url}/predict", json=body, timeout=120)
        took = time.perf_counter() - started
        answer.raise_for_status()
        with lock:
            latencies.append(took)

    one(0)  # warm-up
    latencies.clear()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "req_per_s": round(requests / wall, 2),
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
    }


def big_beside_small(url: str) -> dict[str, float | int]:
    """A 10 MB request and a small one at the same time: the small one's latency and both statuses."""
    big = json.dumps({"text": "Ada Park joined Acme Corp. " * 400_000})
    result: dict[str, float | int] = {}

    def send_big() -> None:
        started = time.perf_counter()
        answer = httpx.post(
            f"{url}/predict", content=big, headers={"content-type": "application/json"}, timeout=120
        )
        result.update(big_status=answer.status_code, big_s=round(time.perf_counter() - started, 3))

    thread = threading.Thread(target=send_big)
    thread.start()
    time.sleep(0.05)
    started = time.perf_counter()
    small = httpx.post(f"{url}/predict", json={"text": TEXTS[0], "types": ["Person"]}, timeout=120)
    result.update(small_status=small.status_code, small_s=round(time.perf_counter() - started, 3))
    thread.join()
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tracking, model = logged_model(Path(scratch))
        report: dict[str, dict] = {}
        for mode, extra in (("sequential", ["--max-batch", "1"]), ("micro-batched", [])):
            process, url = serve(tracking, model, *extra)
            try:
                for clients in (1, 8):
                    report[f"{mode}, {clients} client(s)"] = drive(url, clients, REQUESTS)
                if mode == "micro-batched":
                    report["10 MB request beside a small one"] = big_beside_small(url)
            finally:
                process.terminate()
                process.wait(timeout=30)
        for name, numbers in report.items():
            print(f"{name:32s} {json.dumps(numbers)}")


if __name__ == "__main__":
    main()
