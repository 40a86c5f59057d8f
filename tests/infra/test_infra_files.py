"""The team stack's files: compose services and wiring, the worker image, the work-pool job templates."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from ..conftest import REPO

INFRA = REPO / "infra"
POOLS = INFRA / "work-pools"
SECRET = re.compile(r"PASSWORD|SECRET|AUTH_STRING|ACCESS_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def template(name: str) -> dict:
    return json.loads((POOLS / f"{name}.json").read_text(encoding="utf-8"))


def rendered(name: str) -> dict:
    """The pool's job configuration with every variable at its default, as a worker renders it."""
    from prefect.utilities.templating import apply_values

    pool = template(name)
    defaults = {k: v["default"] for k, v in pool["variables"]["properties"].items() if "default" in v}
    return apply_values(pool["job_configuration"], defaults)


# ---- docker-compose.yml ---------------------------------------------------------------------
def test_the_stack_has_its_services(services):
    assert set(services) == {
        "postgres", "minio", "create-bucket", "mlflow", "prefect-server", "prefect-init",
        "worker-gpu", "worker-cpu",
    }  # fmt: skip


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart(services):
    for name in ("postgres", "minio", "mlflow", "prefect-server", "worker-gpu", "worker-cpu"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("create-bucket", "prefect-init"):
        assert services[name]["restart"] == "no", name


def test_mlflow_runs_with_basic_auth_on_postgres_and_the_bucket(services):
    mlflow = services["mlflow"]
    env = mlflow["environment"]
    assert mlflow["build"]["dockerfile"] == "docker/mlflow.Dockerfile"
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://") and env[
        "MLFLOW_BACKEND_STORE_URI"
    ].endswith("@postgres:5432/mlflow")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://${MLFLOW_BUCKET:-mlflow}/artifacts"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"].startswith("${MLFLOW_ADMIN_PASSWORD:?")
    assert {"postgres", "create-bucket"} <= set(mlflow["depends_on"])
    script = (INFRA / "mlflow" / "entrypoint.sh").read_text(encoding="utf-8")
    assert "--app-name basic-auth" in script and "--serve-artifacts" in script
    dockerfile = (INFRA / "docker" / "mlflow.Dockerfile").read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["mlflow-entrypoint"]' in dockerfile and "COPY mlflow/entrypoint.sh" in dockerfile


def test_the_bucket_job_creates_the_artifact_bucket_once_minio_is_healthy(services):
    job = services["create-bucket"]
    assert job["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert 'mc mb --ignore-existing "store/$${MLFLOW_BUCKET}"' in job["command"][0]


def test_prefect_server_keeps_its_state_in_postgres(services):
    env = services["prefect-server"]["environment"]
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("@postgres:5432/prefect")
    assert "prefect" in services["postgres"]["environment"]["KNOWCODER_DATABASES"].split()


@pytest.mark.parametrize("name", ["worker-gpu", "worker-cpu", "prefect-init"])
def test_workers_reach_both_servers(services, name):
    env = services[name]["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"].startswith("${")
    assert services[name]["depends_on"]["prefect-server"] == {"condition": "service_healthy"}


def test_the_gpu_worker_reserves_the_gpus_and_polls_the_gpu_pool(services):
    worker = services["worker-gpu"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}
    assert worker["command"][:4] == ["--pool", "${GPU_POOL:-gpu}", "--type", "process"]
    assert worker["depends_on"]["mlflow"] == {"condition": "service_healthy"}


def test_the_init_job_creates_the_pools_from_the_templates_then_deploys(services):
    command = services["prefect-init"]["command"][0]
    assert command.count("--base-job-template infra/work-pools/process.json") == 2
    assert command.endswith("knowcoder deploy --source /opt/knowcoder")


def test_no_secret_is_written_in_the_compose_file(services):
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET.search(key):
                assert str(value).startswith("${"), f"{name}.{key} is hard-coded"
            if "://" in str(value) and "@" in str(value):
                assert "${POSTGRES_PASSWORD:?" in str(value), f"{name}.{key} embeds a password"


def test_every_required_variable_is_in_the_env_example():
    text = (INFRA / "docker-compose.yml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = (INFRA / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert required == {
        "POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MLFLOW_ADMIN_PASSWORD",
        "MLFLOW_SECRET_KEY", "PREFECT_AUTH_STRING",
    }  # fmt: skip
    assert required <= listed
    assert not re.search(r"^[A-Z_]*(PASSWORD|SECRET_KEY|AUTH_STRING)=\S", example, flags=re.MULTILINE)


@pytest.mark.parametrize("script", ["mlflow/entrypoint.sh", "postgres/init-databases.sh"])
def test_the_shell_scripts_parse(script):
    subprocess.run(["sh", "-n", str(INFRA / script)], check=True)


def test_the_mlflow_entrypoint_refuses_to_start_without_its_settings(tmp_path):
    result = subprocess.run(
        ["sh", str(INFRA / "mlflow" / "entrypoint.sh")],
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "MLFLOW_BACKEND_STORE_URI" in result.stderr and "postgresql://" in result.stderr


# ---- the worker image -----------------------------------------------------------------------
def test_the_worker_image_has_cuda_torch_the_project_and_starts_a_worker():
    dockerfile = (INFRA / "docker" / "worker.Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:[\w.-]+$", dockerfile, flags=re.MULTILINE)
    assert "FROM ${CUDA_IMAGE}" in dockerfile
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cu" in dockerfile
    assert 'pip install --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"' in dockerfile
    assert 'pip install -c constraints.txt ".[deepspeed]"' in dockerfile
    assert dockerfile.index("TORCH_SPEC}") < dockerfile.index('constraints.txt ".[deepspeed]"')
    assert 'ENTRYPOINT ["prefect", "worker", "start", "--with-healthcheck"]' in dockerfile
    for source in re.findall(r"^COPY (?!\. \.)(.+) \./\S*$", dockerfile, flags=re.MULTILINE):
        for path in source.split():
            assert (REPO / path).exists(), f"COPY {path}: not in the repository"
    ignored = (INFRA / "docker" / "worker.Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "artifacts", "mlruns", "infra/.env"} <= set(ignored)


# ---- work-pool job templates ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["process", "docker", "kubernetes"])
def test_each_template_is_what_prefect_work_pool_create_accepts(name):
    from prefect.server.schemas.actions import validate_base_job_template

    pool = template(name)
    assert set(pool) == {"job_configuration", "variables"}
    assert pool["variables"]["type"] == "object"
    validate_base_job_template(pool)  # every placeholder is a declared variable


def test_the_process_template_is_prefects_default():
    from prefect.workers.process import ProcessWorker

    assert template("process") == ProcessWorker.get_default_base_job_template()


def test_the_docker_template_requests_gpus_through_device_requests():
    gpus = template("docker")["variables"]["properties"]["gpus"]
    assert (gpus["type"], gpus["default"]) == ("integer", 1)
    kwargs = rendered("docker")["container_create_kwargs"]
    assert kwargs["device_requests"] == [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}]
    assert kwargs["shm_size"] == "16g"
    assert rendered("docker")["image"] == "knowcoder/worker:latest"


def test_the_kubernetes_template_sets_the_gpu_limit_from_a_variable():
    gpus = template("kubernetes")["variables"]["properties"]["gpus"]
    assert (gpus["type"], gpus["default"], gpus["minimum"]) == ("integer", 1, 1)
    pod = rendered("kubernetes")["job_manifest"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["restartPolicy"] == "Never" and container["name"] == "prefect-job"
