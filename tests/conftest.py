"""Shared test configuration. The fixtures live in the `navigator.testing`
pytest plugin, asked for here: it is not registered for every pytest run
where navigator is installed (tests/unit/test_layers.py)."""

pytest_plugins = ["navigator.testing.pytest_plugin"]
