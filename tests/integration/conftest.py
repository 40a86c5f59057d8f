"""Registers the ``integration`` marker for these tests (pyproject's marker list may name it too)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "integration: starts real servers and workers on free ports (deselect with -m 'not integration')",
    )
