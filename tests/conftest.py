"""Shared test configuration. The fixtures live in the `navigator.testing` pytest plugin."""
