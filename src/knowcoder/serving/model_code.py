"""The knowcoder pyfunc as MLflow "models from code": this file is logged with the model and run on load.

Nothing is pickled: loading runs this script, which builds a fresh :class:`KnowCoderModel` from the
``knowcoder`` package logged beside it (``code/knowcoder``, ahead of any installed copy on
``sys.path``), so a serving machine needs the pinned requirements, not this repository.
"""

import mlflow

from knowcoder.serving.pyfunc import KnowCoderModel

mlflow.models.set_model(KnowCoderModel())
