"""Gateway clients from the environment and the per-client token bucket."""

import json
import os
import subprocess
import sys

import pytest

from traceloom_pipelines.gateway.auth import (
    CLIENTS_ENV,
    CLIENTS_FILE_ENV,
    DEFAULT_RATE_PER_MINUTE,
    Client,
    authenticate,
    key_sha256,
    load_clients,
)
from traceloom_pipelines.gateway.ratelimit import RateLimiter
from traceloom_pipelines.resources import PROJECT_ROOT


def test_clients_come_from_the_variable_and_the_file(tmp_path):
    clients_file = tmp_path / "clients.json"
    clients_file.write_text(
        json.dumps([{"client_id": "wms", "tenant_id": "t2", "key_sha256": key_sha256("k3")}])
    )
    env = {
        CLIENTS_ENV: f"erp:t1:{key_sha256('k1')}, hr:t1:{key_sha256('k2').upper()}:1000",
        CLIENTS_FILE_ENV: str(clients_file),
    }
    assert load_clients(env) == (
        Client("erp", "t1", key_sha256("k1"), DEFAULT_RATE_PER_MINUTE),
        Client("hr", "t1", key_sha256("k2"), 1000),
        Client("wms", "t2", key_sha256("k3"), DEFAULT_RATE_PER_MINUTE),
    )
    clients = load_clients(env)
    assert authenticate({"authorization": "Bearer k2"}, clients).client_id == "hr"
    assert authenticate({"x-api-key": "k3"}, clients).tenant_id == "t2"
    assert authenticate({"authorization": "Bearer k9"}, clients) is None
    assert authenticate({}, clients) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no gateway client configured"),
        ("erp:t1", "must be client_id:tenant_id:sha256"),
        ("erp:t1:my-raw-secret-key", "is not a 64-digit hex SHA-256"),
        ("erp:../t1:" + "a" * 64, "tenant id of client 'erp'"),
        ("erp:t1\n:" + "a" * 64, "tenant id of client 'erp'"),  # `$` alone accepts a newline
        ("erp:t\u00e9:" + "a" * 64, "tenant id of client 'erp'"),
        ("erp:t1:" + "a" * 64 + ":0", "at least 1 per minute"),
        (f"erp:t1:{'a' * 64},erp:t2:{'b' * 64}", "duplicate gateway client ids"),
        (f"erp:t1:{'a' * 64},hr:t2:{'a' * 64}", "share one API key"),
    ],
)
def test_a_bad_client_entry_is_refused_without_echoing_it(spec, message):
    with pytest.raises(ValueError, match=message) as raised:
        load_clients({CLIENTS_ENV: spec})
    assert "my-raw-secret-key" not in str(raised.value)


def test_token_bucket_allows_the_per_minute_burst_then_tells_when_to_retry():
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.retry_after("erp", 3) for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("erp", 3) == 20  # one token every 60/3 s
    assert limiter.retry_after("hr", 3) == 0  # its own bucket
    now[0] += 19.5
    assert limiter.retry_after("erp", 3) == 1
    now[0] += 0.5
    assert limiter.retry_after("erp", 3) == 0
    assert limiter.retry_after("erp", 3) == 20


def test_gateway_command_without_clients_exits_with_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if "GATEWAY" not in k}
    done = subprocess.run(
        [sys.executable, "-m", "traceloom_pipelines.cli", "--data-dir", str(tmp_path), "gateway"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"no gateway client configured: set {CLIENTS_ENV}" in done.stderr
