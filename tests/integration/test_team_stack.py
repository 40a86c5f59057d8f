"""The team stack on one machine: PostgreSQL, MLflow, Prefect, a process worker, deployments, serving.

What ``infra/docker-compose.yml`` runs, without Docker: PostgreSQL (installed with apt when the
machine lacks it and the test runs as root), the MLflow server started by the image's own
entrypoint (``infra/mlflow/entrypoint.sh``: PostgreSQL backend and auth database, proxied
artifacts, basic auth), the Prefect server and a process worker. Every server starts on a free
loopback port with its state under the test's temporary folder; every process is stopped at the
end, whatever happened. Clients authenticate as the admin user, as the compose workers do.

A model is logged and registered straight to the MLflow server (a tiny random-weight model: fast,
and enough to exercise every hand-over), the ``evaluate`` deployment is applied from the
repository source to a process pool built from ``infra/work-pools/process.json``, triggered
through the Prefect API and run by the worker; ``knowcoder serve`` serves the champion over HTTP.
Then the smoke-profile pipeline runs against the same servers: registration, promotion, a cached
second run, and ``ci-evaluate`` of the champion against itself and of a model that is not there.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
SUITE = "heldout"  # evaluation.suite: the held-out synthetic test split
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
ADMIN, ADMIN_PASSWORD = "admin", "integration-admin-password"  # MLflow wants 12+ characters
DB_USER, DB_PASSWORD = "knowcoder", "integration-db-password"
SMOKE = ["--profile", "smoke"]
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
    database: str = ""  # postgresql://user:password@127.0.0.1:port (no database name)
    processes: list[Process] = field(default_factory=list)
    cleanup: list = field(default_factory=list)

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
        for step in self.cleanup:
            step()


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


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs; installs PostgreSQL with apt when it is missing."""

    def found() -> Path | None:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).resolve().parent
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        return Path(versions[-1]).parent if versions else None

    if found() is None:
        apt = shutil.which("apt-get")
        if apt is None or os.geteuid() != 0:
            pytest.skip(
                "PostgreSQL is not installed and cannot be: "
                + ("no apt-get on this machine" if apt is None else "apt-get needs root")
                + "; install PostgreSQL (its initdb on PATH) to run the team-stack test"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", "--no-install-recommends", "postgresql"]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run([apt, "update"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    location = found()
    assert location is not None, "apt-get installed postgresql, but no initdb was found"
    return location


def as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run ``argv`` as the ``postgres`` user."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def start_postgres(stack: Stack) -> str:
    """A PostgreSQL server on a free loopback port with the databases of the compose file; its URI base."""
    bin_dir = postgres_bin()
    # outside the test's tmp folder, which only root may enter; removed when the stack stops
    home = Path(tempfile.mkdtemp(prefix="knowcoder-pg-"))
    stack.cleanup.append(lambda: shutil.rmtree(home, ignore_errors=True))
    password_file = home / "password"
    password_file.write_text(DB_PASSWORD, encoding="utf-8")
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
        shutil.chown(password_file, "postgres")
    initdb = as_postgres(
        [str(bin_dir / "initdb"), "-D", str(home / "data"), "-U", DB_USER, "--auth=scram-sha-256",
         f"--pwfile={password_file}", "-E", "UTF8", "--no-locale"]
    )  # fmt: skip
    subprocess.run(initdb, check=True, capture_output=True)
    port = free_port()
    server = stack.start(
        "postgres",
        as_postgres([str(bin_dir / "postgres"), "-D", str(home / "data"), "-h", "127.0.0.1",
                     "-p", str(port), "-k", str(home)]),
    )  # fmt: skip
    base = f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{port}"
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=2) as connection:
                for database in ("mlflow", "mlflow_auth"):
                    connection.execute(f'CREATE DATABASE "{database}"')
            return base
        except psycopg.OperationalError:
            if server.popen.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not accept connections:\n{server.tail()}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """PostgreSQL, then the Prefect and MLflow servers on free ports; stopped at the end whatever happens."""
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
    saved = {key: os.environ.get(key) for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    try:
        database = stack.database = start_postgres(stack)
        prefect_port, mlflow_port = free_port(), free_port()
        prefect = stack.start(
            "prefect-server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
        )
        # the image's entrypoint, with the environment the compose file gives it
        tracking = stack.start(
            "mlflow-server",
            ["sh", str(REPO / "infra" / "mlflow" / "entrypoint.sh")],
            env={
                "MLFLOW_BACKEND_STORE_URI": f"{database}/mlflow",
                "MLFLOW_AUTH_DATABASE_URI": f"{database}/mlflow_auth",
                "MLFLOW_ARTIFACTS_DESTINATION": str(root / "mlflow-artifacts"),
                "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
                "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "integration-secret-key",
                "MLFLOW_AUTH_CONFIG_PATH": str(root / "mlflow-basic-auth.ini"),
                "MLFLOW_HOST": "127.0.0.1",
                "MLFLOW_PORT": str(mlflow_port),
                "MLFLOW_WORKERS": "1",
            },
        )
        stack.prefect_url = f"http://127.0.0.1:{prefect_port}/api"
        stack.mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        wait_http(prefect, f"{stack.prefect_url}/health", timeout=180)
        wait_http(tracking, f"{stack.mlflow_url}/health", timeout=180)
        credentials = {"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
        stack.env |= {"PREFECT_API_URL": stack.prefect_url, "MLFLOW_TRACKING_URI": stack.mlflow_url}
        stack.env |= credentials
        os.environ.update(credentials)  # this process's MLflow client, as the workers' environment does
        yield stack
    finally:
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    assert "ner/f1" in run.data.metrics
    assert run.data.tags["ci.model_version"] == challenger and run.data.tags["git.commit"]
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


def test_the_tracking_server_runs_on_postgresql_and_requires_credentials(stack, tracking):
    anonymous = httpx.get(f"{stack.mlflow_url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
    assert anonymous.status_code == 401
    import psycopg

    experiment = tracking.get_experiment_by_name("knowcoder")
    with psycopg.connect(f"{stack.database}/mlflow") as connection:
        row = connection.execute(
            "SELECT name FROM experiments WHERE experiment_id = %s", (int(experiment.experiment_id),)
        ).fetchone()
    assert row == ("knowcoder",)


def knowcoder(stack: Stack, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The console script against the stack, from the repository root (params name the bundled data)."""
    overrides = ["--set", f"paths.artifacts={stack.root / 'pipeline-artifacts'}"]
    return subprocess.run(
        [*KNOWCODER, *SMOKE, *overrides, *argv],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def printed_json(stdout: str) -> dict:
    """The JSON summary the command printed last (Prefect may print its own lines before it)."""
    start = stdout.rindex("\n{\n") + 1 if not stdout.startswith("{\n") else 0
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


@pytest.fixture(scope="module")
def pipeline(stack, tracking, served):
    """``knowcoder pipeline`` (smoke profile) against the PostgreSQL-backed server, after serving began."""
    done = knowcoder(stack, "pipeline")
    assert done.returncode == 0, done.stderr[-3000:]
    return printed_json(done.stdout)


def test_the_pipeline_registers_and_promotes_on_the_team_server(pipeline, tracking):
    version = pipeline["registry"]["version"]
    assert pipeline["registry"]["champion"] is True  # the tiny champion has no metrics to defend
    assert str(tracking.get_model_version_by_alias(NAME, "champion").version) == version
    registered = tracking.get_model_version(NAME, version)
    assert registered.tags["eval.run_id"] == pipeline["run_id"]
    parent = tracking.get_run(pipeline["run_id"])
    assert "ner/f1" in parent.data.metrics and parent.data.tags["mlflow.source.git.commit"]
    # artifacts went through the server (proxied), not to a path the client can see
    assert tracking.get_run(pipeline["run_id"]).info.artifact_uri.startswith("mlflow-artifacts:/")


def test_a_second_run_reuses_the_registration_it_finds_in_the_registry(stack, pipeline, tracking):
    before = len(tracking.search_model_versions(f"name = '{NAME}'"))
    done = knowcoder(stack, "pipeline", "--start-at", "evaluate")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = printed_json(done.stdout)
    assert summary["stages"]["register"]["cached"] is True
    assert summary["registry"]["version"] == pipeline["registry"]["version"]
    assert len(tracking.search_model_versions(f"name = '{NAME}'")) == before


def test_ci_evaluate_of_the_champion_against_itself_is_not_a_win(stack, pipeline):
    done = knowcoder(stack, "ci-evaluate", "--model", f"models:/{NAME}@champion")
    assert done.returncode == 0, done.stderr[-3000:]
    result = printed_json(done.stdout)
    assert result["passed"] is True and result["model_version"] == pipeline["registry"]["version"]
    assert "a model is not compared with itself" in result["reason"]
    assert "beats the champion" not in done.stderr


def test_ci_evaluate_of_a_missing_model_fails_in_one_line(stack, pipeline):
    done = knowcoder(stack, "ci-evaluate", "--model", f"models:/{NAME}@nonexistent")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"knowcoder: error: --model: models:/{NAME}@nonexistent does not exist in the registry at "
        f"{stack.mlflow_url} (no model '{NAME}' with alias 'nonexistent'); register one first "
        "(knowcoder pipeline) or pass --model with a version that exists"
    ]
