"""The expectation suites: which GX expectation checks what, and how a failure reads.

Each ``Check`` names one GX expectation on one table of ``tables.py`` and says, per failing row,
why in words. GX decides which rows fail (see ``runner.py``); ``explain`` only phrases its verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from knowcoder.schema.ontology import Kind, Ontology

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation


@dataclass(frozen=True)
class SuiteInputs:
    """What the expectations are parameterized by."""

    ontology: Ontology
    known_languages: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """One expectation on one table; ``explain`` phrases each failing row it is given."""

    name: str
    table: str
    expectation: Callable[[Any, SuiteInputs], Expectation]  # (gx.expectations module, inputs)
    explain: Callable[[pd.DataFrame, SuiteInputs], list[str]]
    rejects_records: bool = True  # False: a failure fails the stage but rejects no record


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")


def _each(template: Callable[[dict[str, Any], SuiteInputs], str]) -> Callable[..., list[str]]:
    def explain(frame: pd.DataFrame, inputs: SuiteInputs) -> list[str]:
        return [template(row, inputs) for row in _rows(frame)]

    return explain


def _type_problem(name: str, wanted: Kind, ontology: Ontology) -> str:
    kind = ontology.kind_of(name)
    if kind is None:
        return f"{name!r} is not defined in the ontology"
    if kind != wanted:
        return f"{name!r} is {_article(kind)} {kind.value} type, not {_article(wanted)} {wanted.value} type"
    return f"{name!r} is the abstract base class; use one of its subclasses"


def _article(kind: Kind) -> str:
    return "a" if kind == Kind.RELATION else "an"


def _duplicate_ids(frame: pd.DataFrame, inputs: SuiteInputs) -> list[str]:
    # GX flags every occurrence of a repeated id, so the failing rows hold all its lines
    lines = frame.groupby("id")["line"].apply(list).to_dict()
    return [
        f"id {row['id']!r} is used on lines {', '.join(map(str, lines[row['id']]))}" for row in _rows(frame)
    ]


def _allowed(types: Sequence[str]) -> str:
    return ", ".join(types) if types else "anything"


def _role_names(event: str, ontology: Ontology) -> str:
    return ", ".join(role.name for role in ontology.roles(event)) or "none"


def _role_types(event: str, role: str, ontology: Ontology) -> tuple[str, ...]:
    return next((spec.types for spec in ontology.roles(event) if spec.name == role), ())


def _index_check(side: str) -> Check:
    return Check(
        name=f"relation_{side}_index_valid",
        table="relations",
        expectation=lambda E, _: E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="n_entities", column_B=side
        ),
        explain=_each(
            lambda r, _: (
                f"{r['where']}: {side} {r[side]} is not an index into entities "
                f"(the record has {r['n_entities']})"
            )
        ),
    )


def _type_check(side: str) -> Check:
    def message(r: dict[str, Any], inputs: SuiteInputs) -> str:
        heads, tails = inputs.ontology.relation_signature(r["type"])
        allowed = heads if side == "head" else tails
        return (
            f"{r['where']}: {side} has type {r[f'{side}_type']}, but {r['type']} takes "
            f"{_allowed(allowed)} as {side}"
        )

    return Check(
        name=f"relation_{side}_type_allowed",
        table="relations",
        expectation=lambda E, _: E.ExpectColumnValuesToBeInSet(column=f"{side}_fits", value_set=[True]),
        explain=_each(message),
    )


RECORD_CHECKS: tuple[Check, ...] = (
    Check(
        name="record_parses",
        table="records",
        expectation=lambda E, _: E.ExpectColumnValuesToBeInSet(column="parsed", value_set=[True]),
        explain=_each(lambda r, _: f"line {r['line']}: {r['field']}: {r['problem']}"),
    ),
    Check(
        name="file_not_empty",
        table="records",
        expectation=lambda E, _: E.ExpectTableRowCountToBeBetween(min_value=1),
        explain=lambda frame, _: ["the file holds no records"],
        rejects_records=False,
    ),
    Check(
        name="text_not_blank",
        table="instances",
        expectation=lambda E, _: E.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S"),
        explain=_each(lambda r, _: "text is empty or whitespace only"),
    ),
    Check(
        name="lang_known",
        table="instances",
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="lang", value_set=list(inputs.known_languages)
        ),
        explain=_each(
            lambda r, inputs: f"language code {r['lang']!r} is not one of {', '.join(inputs.known_languages)}"
        ),
    ),
    Check(
        name="id_unique",
        table="instances",
        expectation=lambda E, _: E.ExpectColumnValuesToBeUnique(column="id"),
        explain=_duplicate_ids,
    ),
    Check(
        name="span_start_before_end",
        table="spans",
        expectation=lambda E, _: E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="end", column_B="start"),
        explain=_each(lambda r, _: f"{r['where']}: start {r['start']} is not before end {r['end']}"),
    ),
    Check(
        name="span_end_within_text",
        table="spans",
        expectation=lambda E, _: E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="text_len", column_B="end", or_equal=True
        ),
        explain=_each(
            lambda r, _: (
                f"{r['where']}: end {r['end']} is past the end of the text ({r['text_len']} characters)"
            )
        ),
    ),
    Check(
        name="span_text_matches",
        table="spans",
        expectation=lambda E, _: E.ExpectColumnPairValuesToBeEqual(
            column_A="given", column_B="covered", ignore_row_if="either_value_is_missing"
        ),
        explain=_each(
            lambda r, _: (
                f"{r['where']}: text {r['given']!r} differs from "
                f"text[{r['start']}:{r['end']}] = {r['covered']!r}"
            )
        ),
    ),
    Check(
        name="span_not_padded",
        table="spans",
        expectation=lambda E, _: E.ExpectColumnValuesToNotMatchRegex(column="covered", regex=r"^\s|\s$"),
        explain=_each(lambda r, _: f"{r['where']}: span {r['covered']!r} starts or ends with whitespace"),
    ),
    Check(
        name="entity_type_defined",
        table="spans",
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="entity_type", value_set=inputs.ontology.names(Kind.ENTITY)
        ),
        explain=_each(
            lambda r, inputs: (
                f"{r['where']}: " + _type_problem(r["entity_type"], Kind.ENTITY, inputs.ontology)
            )
        ),
    ),
    Check(
        name="relation_type_defined",
        table="relations",
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="type", value_set=inputs.ontology.names(Kind.RELATION)
        ),
        explain=_each(
            lambda r, inputs: f"{r['where']}: " + _type_problem(r["type"], Kind.RELATION, inputs.ontology)
        ),
    ),
    _index_check("head"),
    _index_check("tail"),
    _type_check("head"),
    _type_check("tail"),
    Check(
        name="event_type_defined",
        table="events",
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="type", value_set=inputs.ontology.names(Kind.EVENT)
        ),
        explain=_each(
            lambda r, inputs: f"{r['where']}: " + _type_problem(r["type"], Kind.EVENT, inputs.ontology)
        ),
    ),
    Check(
        name="argument_role_defined",
        table="arguments",
        # one "Event.role" column, not a column-pair expectation: GX checks pairs row by row
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="event_role",
            value_set=[
                f"{event}.{role.name}"
                for event in inputs.ontology.names(Kind.EVENT)
                for role in inputs.ontology.roles(event)
            ],
        ),
        explain=_each(
            lambda r, inputs: (
                f"{r['where']}: {r['event']} has no role {r['role']!r} "
                f"(its roles: {_role_names(r['event'], inputs.ontology)})"
            )
        ),
    ),
    Check(
        name="argument_type_defined",
        table="arguments",
        expectation=lambda E, inputs: E.ExpectColumnValuesToBeInSet(
            column="arg_type", value_set=inputs.ontology.names(Kind.ENTITY)
        ),
        explain=_each(
            lambda r, inputs: f"{r['where']}: " + _type_problem(r["arg_type"], Kind.ENTITY, inputs.ontology)
        ),
    ),
    Check(
        name="argument_type_allowed",
        table="arguments",
        expectation=lambda E, _: E.ExpectColumnValuesToBeInSet(column="type_fits", value_set=[True]),
        explain=_each(
            lambda r, inputs: (
                f"{r['where']}: type {r['arg_type']} is not allowed for {r['event']}.{r['role']} "
                f"(allowed: {_allowed(_role_types(r['event'], r['role'], inputs.ontology))})"
            )
        ),
    ),
)

SPLIT_CHECK = Check(
    name="split_min_size",
    table="splits",
    expectation=lambda E, _: E.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="count", column_B="minimum", or_equal=True
    ),
    explain=_each(
        lambda r, _: f"split {r['split']!r} has {r['count']} valid records, below its minimum {r['minimum']}"
    ),
    rejects_records=False,
)
