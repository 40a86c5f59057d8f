"""Released KnowCoder (ICT-GoKnow/KnowCoder) compatibility: its prompts, schemas, data and outputs.

* :mod:`knowcoder.released.render`: class definitions and queries byte for byte as released.
* :mod:`knowcoder.released.schema`: released class definitions (JSON or prompt) -> ontology,
  and the ED fine -> coarse ``mapping.json``.
* :mod:`knowcoder.released.data`: released SFT / eval records -> canonical instances.
* :mod:`knowcoder.released.reader`: released outputs -> records, as the released readers read them.
"""
