"""Generated names for synthetic data: an unbounded vocabulary, so models must copy, not recall.

With a few dozen filler names per class, a small model learns the names by heart and writes
remembered ones instead of the span in the sentence (it scores 0 on held-out names). Names
built from syllables (English) or from surname and given-name characters (Chinese) rarely
repeat, so the only way to get them right is to copy them from the sentence.
"""

from __future__ import annotations

import random
from collections.abc import Callable

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "dor",
    "vel",
    "san",
    "tor",
    "bri",
    "el",
    "an",
    "is",
    "ur",
    "ve",
    "na",
    "ri",
    "so",
    "tha",
    "mar",
    "ko",
    "len",
    "dra",
    "fin",
    "gal",
    "ho",
    "jun",
    "pe",
    "lis",
    "qua",
    "ro",
    "sen",
    "ti",
    "val",
    "wen",
    "xa",
    "yo",
    "zel",
    "bau",
    "cor",
    "dun",
    "fer",
    "gri",
    "hal",
    "im",
    "jor",
    "kel",
    "mon",
    "nor",
    "pal",
    "ras",
    "sol",
    "tam",
    "ul",
    "vor",
    "wil",
)
_ZH_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_ZH_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建波宁凯浩宇晨欣悦琳瑶雪婷佳怡"
    "博文俊昊然子轩梓涵一诺依睿思远志诚嘉懿晓峰鑫毅岚薇蕾翔航铭哲楠颖晴露阳帆坤"
)
_ZH_STEMS = "华宏远盛泰嘉瑞恒信安达鼎晟禾峰海川云星辰光明启航新元博锦卓越东南西北天地金银丰和润"

_EN_SUFFIX = {
    "Company": ("Corp", "Labs", "Systems", "Group", "Holdings", "Tech", "Foods", "Motors", "Media", "Energy"),
    "SportsTeam": ("FC", "United", "Rovers", "Athletic", "City"),
}
_ZH_SUFFIX = {
    "Company": ("科技", "集团", "物流", "软件", "银行", "能源", "传媒", "制药"),
    "University": ("大学", "理工大学", "师范大学"),
    "GovernmentAgency": ("局", "管理局", "委员会"),
    "SportsTeam": ("队", "俱乐部", "联队"),
    "Organization": ("协会", "联盟", "基金会"),
}


def _word(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(low, high))).capitalize()


def _en_person(rng: random.Random) -> str:
    return f"{_word(rng, 1, 2)} {_word(rng, 2, 3)}"


def _zh_person(rng: random.Random) -> str:
    return rng.choice(_ZH_SURNAMES) + "".join(rng.choice(_ZH_GIVEN) for _ in range(rng.randint(1, 2)))


def _en_org(kind: str) -> Callable[[random.Random], str]:
    def make(rng: random.Random) -> str:
        stem = _word(rng, 2, 3)
        if kind == "University":
            return rng.choice((f"{stem} University", f"University of {stem}"))
        if kind == "GovernmentAgency":
            return rng.choice((f"Ministry of {stem}", f"{stem} Authority"))
        if kind == "Organization":
            return rng.choice((f"{stem} Alliance", f"{stem} Movement", f"{stem} Foundation"))
        return f"{stem} {rng.choice(_EN_SUFFIX[kind])}"

    return make


def _zh_org(kind: str) -> Callable[[random.Random], str]:
    def make(rng: random.Random) -> str:
        stem = "".join(rng.choice(_ZH_STEMS) for _ in range(2))
        return stem + rng.choice(_ZH_SUFFIX[kind])

    return make


_ORGS = ("Company", "University", "GovernmentAgency", "SportsTeam", "Organization")
GENERATORS: dict[tuple[str, str], Callable[[random.Random], str]] = {
    ("Person", "en"): _en_person,
    ("Person", "zh"): _zh_person,
    **{(kind, "en"): _en_org(kind) for kind in _ORGS},
    **{(kind, "zh"): _zh_org(kind) for kind in _ORGS},
}


def generated_name(entity_type: str, lang: str, rng: random.Random) -> str | None:
    """A fresh name of ``entity_type`` in ``lang``, or ``None`` when no generator covers it."""
    make = GENERATORS.get((entity_type, lang.split("-")[0]))
    return make(rng) if make is not None else None
