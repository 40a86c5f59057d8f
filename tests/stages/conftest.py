"""The prepared data every stage test starts from: the bundled samples and a small synthetic set."""

from __future__ import annotations

import pytest

from ..conftest import prepared_params


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepared_params(tmp_path_factory.mktemp("stage"))
