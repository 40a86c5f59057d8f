"""README "Team setup" steps 3 and 4, the command lines as written, against a real Prefect server.

A Prefect server starts on a free loopback port with its home in the test's folder; the lines of
steps 3 (work pools, deployments) and 4 (a worker) are read from the README's code block and run
with ``bash`` from the repository root, ``.venv/bin`` first on ``PATH`` and ``KNOWCODER_SOURCE``
naming this checkout (the workers' copy of the repository, ``/opt/knowcoder`` in the image). The
pools, the deployments and the worker are then read back through the Prefect API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from .test_team_stack import Stack, free_port, wait_http

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def readme_steps(*numbers: int) -> dict[int, list[str]]:
    """The command lines under ``# <n>.`` in the README's team-setup block, per step."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Team setup") :]
    block = section[
        section.index("```bash") + len("```bash") : section.index("```", section.index("```bash") + 7)
    ]
    steps: dict[int, list[str]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("# ") and line[2:3].isdigit():
            current = int(line[2 : line.index(".")].rstrip("ab"))
            steps.setdefault(current, [])
        elif line.strip() and not line.startswith("#") and current in numbers:
            steps[current].append(line)
    return {n: steps[n] for n in numbers}


@pytest.fixture(scope="module")
def prefect(tmp_path_factory):
    root = tmp_path_factory.mktemp("team-setup")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_HEARTBEAT_SECONDS": "2",
        "KNOWCODER_SOURCE": str(REPO),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    stack = Stack(root, env)
    try:
        server = stack.start(
            "prefect-server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        )
        wait_http(server, f"{env['PREFECT_API_URL']}/health", timeout=180)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def steps(prefect):
    """Step 3 run line by line (each must exit 0), then step 4's worker started in the background."""
    lines = readme_steps(3, 4)
    assert any(line.startswith("prefect work-pool create") for line in lines[3]), lines
    assert any(line.startswith("knowcoder deploy") for line in lines[3]), lines
    (worker_line,) = lines[4]
    for line in lines[3]:
        done = subprocess.run(
            ["bash", "-c", line], cwd=REPO, env=prefect.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    worker = prefect.start("worker", ["bash", "-c", f"exec {worker_line}"], cwd=REPO)
    return lines, worker


def api(prefect, method: str, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.request(method, f"{prefect.env['PREFECT_API_URL']}{path}", json=body, timeout=30)


def test_step_3_creates_the_pools_from_the_process_template(prefect, steps):
    template = json.loads((REPO / "infra" / "work-pools" / "process.json").read_text(encoding="utf-8"))
    for name in ("gpu", "cpu"):
        pool = api(prefect, "GET", f"/work_pools/{name}")
        assert pool.status_code == 200, pool.text
        assert pool.json()["type"] == "process"
        assert pool.json()["base_job_template"] == template


def test_step_3_applies_both_deployments_to_their_pools(prefect, steps):
    found = api(prefect, "POST", "/deployments/filter", {}).json()
    by_name = {d["name"]: d for d in found}
    assert set(by_name) == {"retrain", "evaluate"}
    assert by_name["retrain"]["work_pool_name"] == "gpu" and by_name["evaluate"]["work_pool_name"] == "cpu"
    assert by_name["retrain"]["entrypoint"] == "flows/pipeline.py:pipeline_flow"
    assert by_name["evaluate"]["entrypoint"] == "flows/evaluate.py:evaluate_flow"
    assert [s["schedule"]["cron"] for s in by_name["retrain"]["schedules"]] == ["0 3 * * 0"]


def test_step_4_starts_a_worker_that_polls_the_gpu_pool(prefect, steps):
    _, worker = steps
    deadline = time.monotonic() + 120
    workers: list = []
    while time.monotonic() < deadline and not workers:
        assert worker.popen.poll() is None, worker.tail()
        workers = api(prefect, "POST", "/work_pools/gpu/workers/filter", {}).json()
        time.sleep(1)
    assert workers, worker.tail()
    assert workers[0]["status"] == "ONLINE"
