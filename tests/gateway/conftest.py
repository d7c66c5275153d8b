"""Fixtures for the gateway tests: one real gateway subprocess per test module."""

import pytest

from tests.gateway.support import make_clients, start_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """One gateway for a test module, on its own data directory."""
    data_dir = tmp_path_factory.mktemp("gateway") / "data"
    running = start_gateway(data_dir, make_clients())
    yield running
    running.stop()
