"""A small in-test corpus of class definitions, sentences and targets, in English and Chinese."""

from __future__ import annotations

CLASS_DEFS = [
    'class {name}(Entity):\n    """\n    Description: {desc}\n    Examples: {examples}\n    """\n'.format(
        **row
    )
    for row in (
        {"name": "Person", "desc": "A human individual.", "examples": "Ada Park, Marie Curie"},
        {"name": "City", "desc": "A large town.", "examples": "Seville, Vienna"},
        {"name": "Company", "desc": "A business that sells goods.", "examples": "Acme Corp, Orion Systems"},
        {"name": "Date", "desc": "A calendar date.", "examples": "12 May 2022, 1984"},
    )
]
SENTENCES = [
    "Maria Lopez was born in Seville in 1984.",
    "Kenji Watanabe left Orion Systems in March 2021.",
    "李娜1982年出生于湖北武汉。",
    "王磊于2020年3月离开了星河科技。",
]
TARGETS = [
    'results = [Person("Maria Lopez"), City("Seville"), Date("1984")]',
    'results = [Person("Kenji Watanabe"), Company("Orion Systems"), Date("March 2021")]',
    'results = [Person("李娜"), Date("1982年"), City("武汉")]',
    'results = [Person("王磊"), Date("2020年3月"), Company("星河科技")]',
]
CORPUS = [*CLASS_DEFS, *SENTENCES, *TARGETS] * 8
TINY_VOCAB = 400
