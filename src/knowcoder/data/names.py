"""Generated names for synthetic data: an unbounded vocabulary, so models must copy, not recall.

With a few dozen filler names per class, a small model learns the names by heart and writes
remembered ones instead of the span in the sentence (it scores 0 on held-out names). Names
built from syllables (English) or from surname, given-name and stem characters (Chinese) rarely
repeat, so the only way to get them right is to copy them from the sentence. Every named class
of the lexicon has a generator — people, organizations, places, facilities, products, works —
and so do dates and amounts of money (fresh numbers in the lexicon's formats). Weapons and
nationalities stay closed classes: they are common words, which a model may well remember.
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


MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ZH_SOUNDS = "阿巴卡达尔多利亚尼斯坦维拉图克马索瓦萨塔纳佩罗"


def _en_place(kind: str) -> Callable[[random.Random], str]:
    forms: dict[str, tuple[str, ...]] = {
        "City": ("{w}", "{w}", "Port {w}", "San {w}", "{w}ton", "New {w}"),
        "Country": ("{w}ia", "{w}land", "{w}stan", "{w}"),
        "River": ("{w}", "{w} River"),
        "Mountain": ("Mount {w}", "{w} Peak", "Mont {w}"),
        "Facility": ("{w} Tower", "{w} Station", "{w} Bridge", "{w} Stadium", "{w} Airport", "{w} Hospital"),
        "Product": ("{w} Phone", "{w} Pad", "{w} Watch", "{w} EV", "{w} X2", "{w} Lens"),
        "WorkOfArt": ("The {w} Road", "The {w}", "Letters to {w}", "City of {w}"),
    }

    def make(rng: random.Random) -> str:
        return rng.choice(forms[kind]).format(w=_word(rng, 2, 3))

    return make


def _zh_place(kind: str) -> Callable[[random.Random], str]:
    suffixes: dict[str, tuple[str, ...]] = {
        "City": ("", "", "港", "城"),
        "Country": ("", "国"),
        "River": ("河", "江"),
        "Mountain": ("山", "峰", "雪山"),
        "Facility": ("大厦", "火车站", "大桥", "体育场", "机场", "医院"),
        "Product": ("手机", "耳机", "手表", "电动车", "无人机", "台灯"),
        "WorkOfArt": ("之路", "的港湾", "之光", "来信"),
    }
    sounds = kind == "Country"

    def make(rng: random.Random) -> str:
        chars = _ZH_SOUNDS if sounds else _ZH_STEMS
        stem = "".join(rng.choice(chars) for _ in range(rng.randint(3, 5) if sounds else 2))
        return stem + rng.choice(suffixes[kind])

    return make


def _en_date(rng: random.Random) -> str:
    year = rng.randint(1950, 2030)
    return str(year) if rng.random() < 0.4 else f"{rng.choice(MONTHS)} {year}"


def _zh_date(rng: random.Random) -> str:
    year = rng.randint(1950, 2030)
    return f"{year}年" if rng.random() < 0.4 else f"{year}年{rng.randint(1, 12)}月"


def _en_money(rng: random.Random) -> str:
    currency = rng.choice("$€£¥")
    if rng.random() < 0.2:
        return f"{currency}{rng.randint(1, 999) * 1000:,}"
    amount = rng.choice((str(rng.randint(1, 999)), f"{rng.randint(1, 99)}.{rng.randint(1, 9)}"))
    return f"{currency}{amount} {rng.choice(('million', 'billion'))}"


def _zh_money(rng: random.Random) -> str:
    unit = rng.choice(("万", "亿"))
    amount = rng.randint(1, 9999) if unit == "万" else rng.randint(1, 99)
    return f"{amount}{unit}{rng.choice(('元', '美元', '欧元', '英镑', '日元'))}"


_ORGS = ("Company", "University", "GovernmentAgency", "SportsTeam", "Organization")
_PLACES = ("City", "Country", "River", "Mountain", "Facility", "Product", "WorkOfArt")
GENERATORS: dict[tuple[str, str], Callable[[random.Random], str]] = {
    ("Person", "en"): _en_person,
    ("Person", "zh"): _zh_person,
    **{(kind, "en"): _en_org(kind) for kind in _ORGS},
    **{(kind, "zh"): _zh_org(kind) for kind in _ORGS},
    **{(kind, "en"): _en_place(kind) for kind in _PLACES},
    **{(kind, "zh"): _zh_place(kind) for kind in _PLACES},
    ("Date", "en"): _en_date,
    ("Date", "zh"): _zh_date,
    ("Money", "en"): _en_money,
    ("Money", "zh"): _zh_money,
}


def generated_name(entity_type: str, lang: str, rng: random.Random) -> str | None:
    """A fresh name of ``entity_type`` in ``lang``, or ``None`` when no generator covers it."""
    make = GENERATORS.get((entity_type, lang.split("-")[0]))
    return make(rng) if make is not None else None
