"""DuIE 2.0 and DuEE 1.0 in ``supervised-zh``: label sets checked against the released schemas.

The schemas are copies of the released files (tests/fixtures/benchmarks/, SOURCE.md there): every
DuIE predicate (and extra object slot) and subject/object type, every DuEE event type and role,
must map to exactly one class of the bundled ontology, with the schema's argument types, and the
ontology must hold nothing else. A label the suite meant to leave out would be listed in
``DROPPED`` with its reason; none is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowcoder.cli.main import main
from knowcoder.data.importers import import_dataset
from knowcoder.schema.ontology import Kind, Ontology
from knowcoder.suites import label_set, load_suite, suite_metrics

from ..conftest import FIXTURES, REPO

SCHEMAS = FIXTURES / "benchmarks"
DROPPED: dict[str, str] = {}  # schema label -> why the suite does not score it


def suite_ontology(dataset: str) -> Ontology:
    suite = load_suite("supervised-zh")
    return suite.load_ontology(next(d for d in suite.datasets if d.name == dataset))


def duie_schema() -> list[dict]:
    return json.loads((SCHEMAS / "duie_schema.json").read_text(encoding="utf-8"))


def duee_schema() -> list[dict]:
    lines = (SCHEMAS / "duee_event_schema.json").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def entity_class(ontology: Ontology, label: str) -> str | None:
    """As the importers resolve an entity type: the kind-qualified alias first."""
    return ontology.resolve_label(f"entity:{label}", "duie") or ontology.resolve_label(label, "duie")


def test_the_released_schemas_have_the_published_sizes():
    duie, duee = duie_schema(), duee_schema()
    assert len(duie) == 48
    assert sum(len(item["object_type"]) for item in duie) == 55  # 48 main slots + 7 extra slots
    assert len(duee) == 65
    assert len({item["class"] for item in duee}) == 9
    assert sum(len(item["role_list"]) for item in duee) == 217


def test_every_duie_predicate_and_slot_is_one_relation_with_the_schema_types():
    ontology = suite_ontology("duie")
    mapped = []
    for item in duie_schema():
        subject = entity_class(ontology, item["subject_type"])
        for slot, object_type in item["object_type"].items():
            label = item["predicate"] if slot == "@value" else f"{item['predicate']}_{slot}"
            if label in DROPPED:
                continue
            name = ontology.resolve_label(label, "duie")
            assert name is not None and ontology.kind_of(name) == Kind.RELATION, label
            obj = entity_class(ontology, object_type)
            swapped = ontology.relation_swapped(label, "duie")
            head, tail = (obj, subject) if swapped else (subject, obj)
            assert ontology.relation_signature(name) == ((head,), (tail,)), label
            mapped.append(name)
    # one class per label, and no class the schema does not have
    assert len(mapped) == len(set(mapped)) == 55
    assert sorted(mapped) == sorted(ontology.names(Kind.RELATION))


def test_duie_directions_follow_the_schema_subjects():
    ontology = suite_ontology("duie")
    # the subject of 父亲 is the child, of 导演 the film: those classes have the other side as head
    for label in ("父亲", "母亲", "创始人", "导演", "作者"):
        assert ontology.relation_swapped(label, "duie"), label
    for label in ("毕业院校", "饰演", "饰演_inWork", "票房_inArea", "获奖_period"):
        assert not ontology.relation_swapped(label, "duie"), label


def test_every_duie_type_is_one_entity_class_and_climate_is_both_kinds():
    ontology = suite_ontology("duie")
    types = {t for item in duie_schema() for t in [item["subject_type"], *item["object_type"].values()]}
    classes = {entity_class(ontology, t) for t in types}
    assert len(types) == len(classes) == 26
    assert classes == set(ontology.names(Kind.ENTITY))
    assert all(ontology.kind_of(name) == Kind.ENTITY for name in classes)
    # 气候 names a type and a predicate: the plain label is the relation
    assert ontology.resolve_label("气候", "duie") == "HasClimate"
    assert entity_class(ontology, "气候") == "Climate"
    assert len(label_set(ontology, "re")) == 55 + 26


def test_every_duee_event_type_and_role_maps_with_its_class_as_parent():
    ontology = suite_ontology("duee")
    mapped = []
    for item in duee_schema():
        event_type = item["event_type"]
        if event_type in DROPPED:
            continue
        name = ontology.resolve_label(event_type, "duee")
        assert name is not None and ontology.kind_of(name) == Kind.EVENT, event_type
        parent = ontology[name].parent
        assert ontology.resolve_label(item["class"], "duee") is None  # classes are not labels
        roles = [ontology.resolve_role(name, role["role"], "duee") for role in item["role_list"]]
        assert None not in roles, (event_type, item["role_list"])
        # exactly the schema's roles, in its order
        assert roles == [role.name for role in ontology.roles(name)], event_type
        mapped.append((name, parent))
    assert len({name for name, _ in mapped}) == 65
    parents = {parent for _, parent in mapped}
    assert len(parents) == 9
    assert sorted(name for name, _ in mapped) == sorted(label_set(ontology, "ed"))
    assert sorted([*parents, *(name for name, _ in mapped)]) == sorted(ontology.names(Kind.EVENT))


def test_the_real_duie_records_import_with_every_slot_and_direction():
    ontology = suite_ontology("duie")
    instances, report = import_dataset(
        "duie", SCHEMAS / "duie_train.jsonl", ontology=ontology, dataset="duie", lang="zh"
    )
    rows = []
    for instance in instances:
        text = instance.text
        spans = [(e.type, text[e.start : e.end]) for e in instance.entities]
        rows.append([(r.type, spans[r.head], spans[r.tail]) for r in instance.relations])
    assert report.dropped_total == 0
    assert rows[1] == [
        ("StarsIn", ("Person", "张智尧"), ("FilmOrTVWork", "楚留香新传")),
        ("PlaysCharacterInWork", ("Entertainer", "张智尧"), ("FilmOrTVWork", "楚留香新传")),
        ("PlaysCharacter", ("Entertainer", "张智尧"), ("Person", "楚留香")),
    ]
    assert rows[3] == [
        ("HasClimate", ("AdministrativeRegion", "平畅河"), ("Climate", "暖温带东亚季风区大陆性气候"))
    ]
    assert rows[4] == [
        ("WonAward", ("Entertainer", "海岩"), ("Award", "北京电视春燕奖“最佳编剧”")),
        ("WonAwardEdition", ("Entertainer", "海岩"), ("Number", "13")),
    ]
    assert rows[5] == [
        ("ReleasedIn", ("FilmOrTVWork", "守护者联盟"), ("Place", "中国")),
        ("ReleaseDate", ("FilmOrTVWork", "守护者联盟"), ("Date", "11月16日")),
    ]


# ---- the suite run on the real DuIE cut and the DuEE records ---------------------------------


def gold_records(dataset: str, fmt: str, path: Path) -> dict[str, dict]:
    """Per instance id: the gold RE relations, or ED triggers and EAE events, as prediction records."""
    ontology = suite_ontology(dataset)
    instances, _ = import_dataset(fmt, path, ontology=ontology, dataset=dataset, lang="zh")
    out = {}
    for instance in instances:
        text = instance.text
        if instance.relations is not None:
            entity = [{"type": e.type, "text": text[e.start : e.end]} for e in instance.entities]
            out[instance.id] = {
                "re": [
                    {"type": r.type, "head": entity[r.head], "tail": entity[r.tail]}
                    for r in instance.relations
                ]
            }
        else:
            events = instance.events
            out[instance.id] = {
                "ed": [{"type": e.type, "trigger": text[e.trigger.start : e.trigger.end]} for e in events],
                "eae": [
                    {
                        "type": e.type,
                        "trigger": text[e.trigger.start : e.trigger.end],
                        "arguments": [{"role": a.role, "text": text[a.start : a.end]} for a in e.arguments],
                    }
                    for e in events
                ],
            }
    return out


@pytest.fixture
def zh_data(tmp_path) -> Path:
    folder = tmp_path / "data"
    (folder / "DuIE2.0").mkdir(parents=True)
    (folder / "DuIE2.0" / "duie_dev.json").write_bytes((SCHEMAS / "duie_train.jsonl").read_bytes())
    (folder / "duee_dev.json").write_bytes((FIXTURES / "importers" / "duee.jsonl").read_bytes())
    # two sentences of the raw weiboNER_2nd_conll.test, segmentation digits and all
    (folder / "weiboNER_2nd_conll.test").write_bytes((FIXTURES / "importers" / "weibo.conll").read_bytes())
    return folder


def test_supervised_zh_scores_duie_and_duee_exactly(capsys, tmp_path, zh_data):
    # DuIE: 13 gold relations in the 6 real records. Predicted: all but FatherOf(周宣帝, 宇文娥英)
    #   (FN 1), plus HasClimate(平畅河, 海洋性气候) (FP 1): TP 12 -> F1 = 24 / (24 + 1 + 1) = 92.3
    duie = gold_records("duie", "duie", zh_data / "DuIE2.0" / "duie_dev.json")
    ids = sorted(duie)
    duie[ids[2]]["re"] = [r for r in duie[ids[2]]["re"] if r["type"] != "FatherOf"]
    duie[ids[3]]["re"].append(
        {
            "type": "HasClimate",
            "head": {"type": "AdministrativeRegion", "text": "平畅河"},
            "tail": {"type": "Climate", "text": "海洋性气候"},
        }
    )
    # DuEE: 5 gold events, 14 gold arguments. ED misses Die "遇难": TP 4, FN 1 -> 8 / 9 = 88.9.
    #   EAE calls 被困工人 a place instead of the deceased: TP 13, FP 1, FN 1 -> 26 / 28 = 92.9
    duee = gold_records("duee", "duee", zh_data / "duee_dev.json")
    collapse = duee["6d5b61216556ea335377a60923cf3ea5"]
    collapse["ed"] = [e for e in collapse["ed"] if e["trigger"] != "遇难"]
    died = next(e for e in collapse["eae"] if e["trigger"] == "遇难")
    died["arguments"] = [
        {"role": "place", "text": a["text"]} if a["role"] == "deceased" else a for a in died["arguments"]
    ]
    # Weibo: 李开复 (PER.NAM) and 驾校 (ORG.NOM), both found -> 100.0
    weibo = {
        "weibo-zh-000000": {"ner": [{"type": "PersonName", "text": "李开复"}]},
        "weibo-zh-000001": {"ner": [{"type": "OrganizationNominal", "text": "驾校"}]},
    }
    rows = [
        {"id": f"{instance_id}:{task}", "task": task, "records": records}
        for by_task in (duie, duee, weibo)
        for instance_id, tasks in by_task.items()
        for task, records in tasks.items()
    ]
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    argv = ["suite", "run", "supervised-zh", "--data-dir", str(zh_data), "--pred", str(pred)]
    code = main(["--params", str(REPO / "params.yaml"), *argv, "--out-dir", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert json.loads(stdout) == {
        "msra.ner": None,
        "weibo.ner": 100.0,
        "duie.re": 92.3,
        "duee.ed": 88.9,
        "duee.eae": 92.9,
    }
    summary = json.loads((out / "suite.json").read_text(encoding="utf-8"))
    assert summary["details"]["duie.re"] == {
        "f1": 92.3,
        "precision": 92.3,
        "recall": 92.3,
        "tp": 12,
        "fp": 1,
        "fn": 1,
        "instances": 6,
    }
    assert (summary["details"]["duee.eae"]["tp"], summary["details"]["duee.eae"]["fp"]) == (13, 1)
    assert summary["datasets"]["duie"]["file"] == "DuIE2.0/duie_dev.json"
    assert summary["datasets"]["duie"]["rejected"] == 0
    # what ci-evaluate logs to MLflow: percent values under suite/<suite>/<dataset>/<task>/...
    metrics = suite_metrics(summary)
    assert metrics["suite/supervised-zh/duie/re/f1"] == 92.3
    assert metrics["suite/supervised-zh/duee/ed/recall"] == 80.0
    assert sorted({name.rsplit("/", 1)[0] for name in metrics}) == [
        "suite/supervised-zh/duee/eae",
        "suite/supervised-zh/duee/ed",
        "suite/supervised-zh/duie/re",
        "suite/supervised-zh/weibo/ner",
    ]
    table = (out / "suite.md").read_text(encoding="utf-8")
    assert "| **this run** | **-** | **100.0** | **92.3** | **88.9** | **92.9** |" in table
