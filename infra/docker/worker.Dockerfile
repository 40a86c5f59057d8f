# GPU worker image: CUDA, a CUDA build of torch, the project with DeepSpeed, and `prefect worker start`.
# Build from the repository root:
#   docker build -f infra/docker/worker.Dockerfile -t knowcoder/worker:latest .
# Flow runs start in /opt/knowcoder (deployments from `knowcoder deploy --source /opt/knowcoder`).
# The devel image carries nvcc, which DeepSpeed needs to build its fused ops on first use.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu22.04
FROM ${CUDA_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev build-essential git ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    HF_HOME=/opt/hf-cache
RUN python3.11 -m venv "${VIRTUAL_ENV}" && pip install --upgrade "pip>=24"

# torch first, from the CUDA index (constraints.txt pins everything else; torch is the machine's choice)
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
RUN pip install --index-url "${TORCH_INDEX}" "${TORCH_SPEC}"

WORKDIR /opt/knowcoder
# the package first (its layer survives edits to params, data and docs) ...
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY flows ./flows
RUN pip install -c constraints.txt ".[deepspeed]"
# ... then the rest the flows read at run time: params.yaml, data/ (DVC-tracked), infra/deepspeed, .git
COPY . .
RUN dvc pull --quiet data/raw.dvc \
    && git config --global --add safe.directory /opt/knowcoder

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD curl --fail --silent http://localhost:8080/health || exit 1
ENTRYPOINT ["prefect", "worker", "start", "--with-healthcheck"]
CMD ["--pool", "gpu", "--type", "process"]
