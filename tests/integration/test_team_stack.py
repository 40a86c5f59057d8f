"""The team stack on one machine: Prefect server, MLflow server, a process worker, deployments, serving.

Every server starts on a free port with its state under the test's temporary folder; every process
is stopped at the end, whatever happened. A model is logged and registered straight to the MLflow
server (a tiny random-weight model: fast, and enough to exercise every hand-over), the ``evaluate``
deployment is applied from the repository source to a process pool built from
``infra/work-pools/process.json``, triggered through the Prefect API and run by the worker; then
``knowcoder serve`` serves the champion over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mlflow
import pytest

from ..conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "knowcoder-ie"
SUITE = "sample-test"
POOL = "knowcoder-test-cpu"
GPU_POOL = "knowcoder-test-gpu"
TEXT = "Ada Park joined Acme Corp in Paris."
BIN = Path(sys.executable).parent
#: `knowcoder serve`, also before main.py registers the command group (the result is the same parser)
KNOWCODER = [
    sys.executable,
    "-c",
    "import sys; from knowcoder.cli import deploy, main; "
    "main.COMMAND_GROUPS = tuple(dict.fromkeys((*main.COMMAND_GROUPS, deploy))); sys.exit(main.main())",
]
SERVING_OPTIONS = {
    "system": False,
    "descriptions": False,
    "max_examples": 1,
    "max_new_tokens": 16,
    "batch_size": 8,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Process:
    """A process this test started, in a session of its own so that its children stop with it."""

    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
            os.killpg(self.popen.pid, signal.SIGKILL)


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    prefect_url: str = ""
    mlflow_url: str = ""
    processes: list[Process] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], *, cwd: Path | None = None, env: dict | None = None
    ) -> Process:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=cwd or self.root,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def wait_http(process: Process, url: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail naming the process and its log when it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            pytest.fail(
                f"{process.name} exited with {process.popen.returncode} before {url} answered:\n"
                + process.tail()
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{process.name}: {url} did not answer within {timeout:.0f}s:\n{process.tail()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Prefect and MLflow servers on free ports, started side by side; stopped at the end whatever happens."""
    root = tmp_path_factory.mktemp("team-stack")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    stack = Stack(root, env)
    try:
        prefect_port, mlflow_port = free_port(), free_port()
        prefect = stack.start(
            "prefect-server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
        )
        tracking = stack.start(
            "mlflow-server",
            [
                str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
                "--workers", "1",
                "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination", str(root / "mlflow-artifacts"),
            ],
        )  # fmt: skip
        stack.prefect_url = f"http://127.0.0.1:{prefect_port}/api"
        stack.mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        wait_http(prefect, f"{stack.prefect_url}/health", timeout=180)
        wait_http(tracking, f"{stack.mlflow_url}/health", timeout=180)
        stack.env |= {"PREFECT_API_URL": stack.prefect_url, "MLFLOW_TRACKING_URI": stack.mlflow_url}
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def prefect_api(stack):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.prefect_url}):
        yield


@pytest.fixture(scope="module")
def tracking(stack):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(stack.mlflow_url)
    try:
        yield mlflow.MlflowClient()
    finally:
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def pools(stack, prefect_api):
    """The work pools, created from the templates in infra/work-pools/ by the real server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    created = {}
    with get_client(sync_client=True) as client:
        for name, kind in (
            (POOL, "process"),
            (GPU_POOL, "process"),
            ("k8s", "kubernetes"),
            ("docker", "docker"),
        ):
            template = json.loads(
                (REPO / "infra" / "work-pools" / f"{kind}.json").read_text(encoding="utf-8")
            )
            pool = WorkPoolCreate(name=name, type=kind, base_job_template=template)
            created[name] = client.create_work_pool(pool)
    return created


@pytest.fixture(scope="module")
def challenger(stack, tracking):
    """Version 1 of knowcoder-ie, logged to the MLflow server, alias challenger (what CI evaluates)."""
    from knowcoder.modeling.tiny import build_tiny_model, save_model_dir
    from knowcoder.modeling.tokenizer import train_tokenizer
    from knowcoder.prompts import PromptBuilder
    from knowcoder.schema.ontology import load_ontology
    from knowcoder.serving.predictor import ServingConfig
    from knowcoder.serving.pyfunc import log_pyfunc_model

    ontology_path = REPO / "data" / "ontology.yaml"
    config = ServingConfig.from_dict(SERVING_OPTIONS)
    builder = PromptBuilder(load_ontology(ontology_path), config.prompt_options())
    prompts = [
        builder.prompt(TEXT, task, types) for task, types in (("ner", ["Person"]), ("re", ["Employment"]))
    ]
    tokenizer = train_tokenizer(prompts, vocab_size=300, min_frequency=1)
    model = build_tiny_model(tokenizer, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model_dir = save_model_dir(model, tokenizer, stack.root / "tiny-model")
    experiment = tracking.create_experiment("knowcoder-models")
    with mlflow.start_run(experiment_id=experiment):
        info = log_pyfunc_model(model_dir, ontology_path, config.to_dict(), registered_model_name=NAME)
    version = str(info.registered_model_version)
    tracking.set_registered_model_alias(NAME, "challenger", version)
    return version


@pytest.fixture(scope="module")
def worker(stack, pools):
    """A process worker polling the evaluation pool; started early, its start overlaps what follows."""
    return stack.start(
        "worker", [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process"]
    )


@pytest.fixture(scope="module")
def deployed(stack, prefect_api, pools, worker):
    """Both deployments applied from the repository source; evaluate on the pool the worker polls."""
    from flows.deployments import deploy

    from knowcoder.config import load_params

    overrides = [f"deployment.evaluate_pool={POOL}", f"deployment.gpu_pool={GPU_POOL}"]
    params = load_params(REPO / "params.yaml", profile="smoke", overrides=overrides)
    return deploy(params, source_dir=REPO)


@pytest.fixture(scope="module")
def evaluation(stack, prefect_api, worker, deployed, challenger):
    """A run of the evaluate deployment triggered through the API, awaited (bounded) to its end."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    parameters = {"profile": "smoke", "overrides": [f"paths.artifacts={stack.root / 'artifacts'}"]}
    flow_run = run_deployment("knowcoder-evaluate/evaluate", parameters=parameters, timeout=0)
    deadline = time.monotonic() + 300
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run.id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if worker.popen.poll() is not None:
                pytest.fail(f"the worker exited with {worker.popen.returncode}:\n{worker.tail()}")
            if time.monotonic() > deadline:
                state = flow_run.state.name if flow_run.state else "no state"
                pytest.fail(
                    f"flow run {flow_run.name} still {state} after 300s; worker log:\n{worker.tail()}"
                )
            time.sleep(1)


def test_the_servers_accept_the_work_pool_templates(pools):
    assert {name: pool.type for name, pool in pools.items()} == {
        POOL: "process", GPU_POOL: "process", "k8s": "kubernetes", "docker": "docker",
    }  # fmt: skip
    assert pools["k8s"].base_job_template["variables"]["properties"]["gpus"]["default"] == 1


def test_the_retrain_deployment_keeps_its_schedule_and_enqueueing_limit(deployed, prefect_api):
    from prefect.client.orchestration import get_client

    assert set(deployed) == {"knowcoder-pipeline/retrain", "knowcoder-evaluate/evaluate"}
    with get_client(sync_client=True) as client:
        retrain = client.read_deployment_by_name("knowcoder-pipeline/retrain")
    (schedule,) = retrain.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * 0", "UTC")
    assert retrain.work_pool_name == GPU_POOL and retrain.parameters["profile"] == "7b"
    assert retrain.global_concurrency_limit is not None and retrain.global_concurrency_limit.limit == 1
    assert retrain.concurrency_options is not None
    assert retrain.concurrency_options.collision_strategy.value == "ENQUEUE"


def test_the_evaluate_deployment_runs_on_the_worker_and_completes(evaluation, worker):
    assert evaluation.state.is_completed(), (
        f"{evaluation.state.name}: {evaluation.state.message}\n{worker.tail()}"
    )


def test_the_evaluation_is_tracked_on_the_mlflow_server(evaluation, tracking, challenger):
    experiment = tracking.get_experiment_by_name("knowcoder")
    (run,) = tracking.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`prefect.flow_run_id` = '{evaluation.id}'"
    )
    assert run.info.status == "FINISHED" and run.info.run_name == f"ci-evaluate-{SUITE}"
    assert run.data.tags["ci.model_uri"] == f"models:/{NAME}@challenger"
    assert run.data.tags["ci.passed"] == "true"  # no champion yet: nothing to regress against
    assert "ner.f1" in run.data.metrics
    assert tracking.get_model_version(NAME, challenger).tags[f"ci.{SUITE}.passed"] == "true"


@pytest.fixture(scope="module")
def served(stack, tracking, challenger, evaluation):
    """``knowcoder serve`` on the champion (the challenger, promoted after CI passed)."""
    tracking.set_registered_model_alias(NAME, "champion", challenger)
    port = free_port()
    process = stack.start(
        "serve",
        [*KNOWCODER, "serve", "--model", f"models:/{NAME}@champion", "--port", str(port)],
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(process, f"{url}/health", timeout=180)
    return url


def test_the_champion_is_served_over_http(served):
    health = httpx.get(f"{served}/health", timeout=10).json()
    assert health["status"] == "ok" and health["model"] == f"models:/{NAME}@champion"
    answer = httpx.post(f"{served}/predict", json={"text": TEXT, "types": ["Person"]}, timeout=120)
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert prediction["text"] == TEXT and set(prediction["report"]) == {"ner"}
    assert {"entities", "relations", "events"} <= set(prediction)


def test_bad_requests_get_a_4xx_that_says_what_is_wrong(served):
    missing = httpx.post(f"{served}/predict", json={"types": ["Person"]}, timeout=60)
    assert missing.status_code == 422
    assert missing.json() == {"error": "body.text: is missing; pass the sentence to extract from"}
    unknown = httpx.post(f"{served}/predict", json={"text": TEXT, "types": ["Persn"]}, timeout=60)
    assert unknown.status_code == 422
    assert unknown.json()["error"].startswith("row 0.types: unknown class 'Persn' in ontology 'sample'")
