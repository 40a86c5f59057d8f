"""``knowcoder deploy`` and ``knowcoder serve``: the team deployment and the HTTP model server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from knowcoder.cli.common import params_from, print_json

DEPLOYMENT_NAMES = ("retrain", "evaluate")


def register(commands: argparse._SubParsersAction) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="apply the Prefect deployments (scheduled retraining on the GPU pool, CI evaluation on demand)",
        description="Builds the deployments from the `deployment` section of the parameters and applies them "
        "to the Prefect API in PREFECT_API_URL. Workers load the flows from --source: a git URL, or a folder "
        "that exists at the same path on the workers. Work pools must exist first "
        "(prefect work-pool create NAME --type process --base-job-template infra/work-pools/process.json).",
    )
    deploy.add_argument(
        "--source",
        default=None,
        help="repository root or git URL the workers load the flows from (default: the folder of --params)",
    )
    deploy.add_argument(
        "--only", action="append", choices=DEPLOYMENT_NAMES, default=None, help="one deployment (repeatable)"
    )
    deploy.add_argument("--dry-run", action="store_true", help="print the deployments as JSON; apply nothing")
    deploy.set_defaults(handler=run_deploy)

    serve = commands.add_parser(
        "serve",
        help="serve a packaged model over HTTP: POST /predict, GET /health",
        description='POST /predict with {"text": "...", "types": ["Person"], "ontology": null} or '
        '{"inputs": [{...}, ...]} answers {"predictions": [...]}, one record dict per input. The model is '
        "loaded before the port opens; models:/ URIs read MLFLOW_TRACKING_URI (or tracking.uri). "
        "Alternative without this package's server: mlflow models serve -m models:/knowcoder-ie@champion",
    )
    serve.add_argument("--model", required=True, help="models:/NAME@ALIAS, runs:/RUN/model or a model folder")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default: %(default)s)")
    serve.add_argument(
        "--token",
        default=os.environ.get("KNOWCODER_SERVE_TOKEN"),
        help="require Authorization: Bearer TOKEN on /predict (default: $KNOWCODER_SERVE_TOKEN; none)",
    )
    # limits: None keeps the default of knowcoder.serving.server.ServeLimits (importing it here is slow)
    serve.add_argument("--max-body-bytes", type=int, help="413 beyond this many bytes (default 1 MiB)")
    serve.add_argument("--max-text-chars", type=int, help="413 for a longer text (default 20000)")
    serve.add_argument("--max-inputs", type=int, help="413 beyond this many inputs per request (default 64)")
    serve.add_argument("--max-batch", type=int, help="text chunks generated for together (default 64)")
    serve.add_argument(
        "--max-wait-ms", type=float, help="how long a request waits for others to share its batch (default 5)"
    )
    serve.set_defaults(handler=run_serve)


def run_deploy(args: argparse.Namespace) -> int:
    from flows.deployments import build_deployments, deploy, describe

    params = params_from(args)
    source = args.source or str(Path(args.params).resolve().parent)
    params_path = _params_path(args.params, source)
    if args.dry_run:
        built = build_deployments(params, source_dir=source, params_path=params_path, names=args.only)
        print_json([describe(d) for d in built])
        return 0
    applied = deploy(params, source_dir=source, params_path=params_path, names=args.only)
    for name, deployment_id in applied.items():
        print(f"applied {name} ({deployment_id})", file=sys.stderr)
    print_json(applied)
    return 0


def _params_path(params: str, source: str) -> str:
    """``--params`` as the workers see it: relative to a local ``source`` when it lies inside it."""
    path = Path(params)
    if not path.is_absolute() or "://" in source:
        return params
    try:
        return str(path.resolve().relative_to(Path(source).resolve()))
    except ValueError:
        return params


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from knowcoder.serving.server import ServeLimits, create_app
    from knowcoder.tracking.mlflow_io import tracking_uri

    params = params_from(args)
    given = {
        "max_body_bytes": args.max_body_bytes,
        "max_text_chars": args.max_text_chars,
        "max_inputs": args.max_inputs,
        "max_batch_texts": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
    }
    limits = ServeLimits(**{key: value for key, value in given.items() if value is not None})
    # loads the model first: a wrong name fails before the port opens
    app = create_app(args.model, tracking_uri=tracking_uri(params.tracking), limits=limits, token=args.token)
    print(
        f"serving {args.model} on http://{args.host}:{args.port} (POST /predict, GET /health)",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
