"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from knowcoder.config import Params, load_params
from knowcoder.schema.ontology import Ontology, load_ontology


def params_from(args: argparse.Namespace) -> Params:
    return load_params(args.params, profile=args.profile, overrides=args.overrides)


def ontology_from(args: argparse.Namespace, params: Params | None = None) -> Ontology:
    path = getattr(args, "ontology", None) or (params or params_from(args)).paths.ontology
    return load_ontology(path)


def split_names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
