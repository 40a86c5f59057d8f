from __future__ import annotations

import ast

from knowcoder.corpus.pretrain import class_documents, instance_code, instance_documents


def test_class_documents_cover_every_class_and_language(mini_ontology):
    documents = list(class_documents(mini_ontology, languages=["en", "zh"]))
    assert [(d.source, d.lang) for d in documents[:2]] == [("Person", "en"), ("Organization", "en")]
    assert len(documents) == 2 * len(mini_ontology.types)
    for document in documents:
        names = {n.name for n in ast.parse(document.text).body if isinstance(n, ast.ClassDef)}
        assert document.source in names
    zh_person = next(d for d in documents if d.source == "Person" and d.lang == "zh")
    assert "Description: 一个人。" in zh_person.text


def test_instance_code_is_sentence_first(mini_ontology, hire_instance):
    code = instance_code(hire_instance, "re", mini_ontology)
    assert code == (
        "# Relation extraction\n"
        'sentence = "Ada Park joined Acme Corp in \\"Paris\\"."\n'
        "from Entities import Company, Person\n"
        "from Relations import Employment\n"
        'results = [Employment(Person("Ada Park"), Company("Acme Corp"))]'
    )
    ast.parse(code)


def test_instance_documents_skip_empty_and_unannotated_tasks(mini_ontology, hire_instance):
    no_events = hire_instance.model_copy(update={"events": [], "relations": None})
    documents = list(instance_documents([no_events], mini_ontology))
    assert [d.task for d in documents] == ["ner"]
    assert documents[0].kind == "instance" and documents[0].source == "sample-en-0001"
