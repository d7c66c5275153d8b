"""The resilient HTTP client against real HTTP on loopback (pytest-httpserver): every fault class
of 003 §7.1, dead letters without secrets, and the circuit breaker's states."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.integration.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    CircuitOpenError,
)
from traceloom_pipelines.integration.http import (
    BasicAuth,
    BearerTokenAuth,
    SourceHttpClient,
    SourceRequestError,
    parse_retry_after,
)

SECRET = "s3cr3t-client-value"
PASSWORD = "hunter2-password-value"


def _client(server: HTTPServer, **kwargs) -> SourceHttpClient:
    options = dict(timeout_s=0.5, max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05)
    options.update(kwargs)
    return SourceHttpClient("hr", server.url_for("/api/v1"), **options)


def _sequence(server: HTTPServer, path: str, responses: list[Response]) -> None:
    for response in responses:
        server.expect_ordered_request(path).respond_with_response(response)


def _ok(body: object) -> Response:
    return Response(json.dumps(body), 200, content_type="application/json")


def test_5xx_then_success_is_retried_with_backoff(httpserver: HTTPServer):
    _sequence(
        httpserver,
        "/api/v1/employees",
        [Response("boom", 500), Response("bad gateway", 502), _ok({"employees": [1, 2]})],
    )
    client = _client(httpserver)
    assert client.get_json("employees", {"page": 1}) == {"employees": [1, 2]}
    stats = client.stats()
    assert (stats["requests"], stats["retries"]) == (3, 2)
    assert stats["failures"] == {"server_error": 2}
    assert stats["breaker_state"] == CLOSED and stats["breaker_consecutive_failures"] == 0
    assert client.dead_letters == []


def test_429_waits_retry_after_seconds(httpserver: HTTPServer):
    _sequence(
        httpserver,
        "/api/v1/employees",
        [Response("slow down", 429, headers={"Retry-After": "1"}), _ok({"ok": True})],
    )
    waits: list[float] = []
    client = _client(httpserver, sleep=waits.append)
    assert client.get_json("employees") == {"ok": True}
    assert waits == [1.0]
    # Throttling is normal (003 §7.1): it does not count against the breaker.
    assert client.breaker.total_failures == 0


def test_retry_after_http_date_is_capped():
    now = datetime(2025, 11, 18, 14, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now) == pytest.approx(90)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("not a date") is None


def test_429_retry_after_date_capped_by_client(httpserver: HTTPServer):
    far = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    _sequence(
        httpserver,
        "/api/v1/x",
        [Response("", 429, headers={"Retry-After": far}), _ok([1])],
    )
    waits: list[float] = []
    client = _client(httpserver, sleep=waits.append, retry_after_max_s=3)
    assert client.get_json("x") == [1]
    assert waits == [3]


def test_timeout_is_retried(httpserver: HTTPServer):
    # The first answer comes after the client's timeout, every later one at once. The margins
    # hold on a busy machine: the server (one thread) is free again 1 s after the retry is sent,
    # and any retry that still times out is answered by the next (all failures are timeouts).
    calls = []

    def slow_once(_request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.5)
            return _ok({"late": True})
        return _ok({"fast": True})

    httpserver.expect_request("/api/v1/slow").respond_with_handler(slow_once)
    client = _client(httpserver, timeout_s=1.0, max_attempts=6)
    assert client.get_json("slow") == {"fast": True}
    failures = client.stats()["failures"]
    assert set(failures) == {"timeout"} and failures["timeout"] >= 1, failures


def test_connection_errors_exhaust_retries_then_dead_letter():
    # Nothing listens on this port (bound and closed just before).
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = SourceHttpClient(
        "wms", f"http://127.0.0.1:{port}", max_attempts=3, backoff_initial_s=0.01, timeout_s=0.3
    )
    with pytest.raises(SourceRequestError) as caught:
        client.get_json("materials/stock-levels", {"location": "Plant1"})
    assert caught.value.error_class == "connection"
    (letter,) = client.dead_letters
    assert letter.attempts == 3 and letter.status is None
    assert letter.params == {"location": "Plant1"}


def test_malformed_json_is_retried_a_bounded_number_of_times(httpserver: HTTPServer):
    _sequence(
        httpserver,
        "/api/v1/employees",
        [Response('{"employees": [', 200), _ok({"employees": []})],
    )
    client = _client(httpserver)
    assert client.get_json("employees") == {"employees": []}

    httpserver.clear()
    httpserver.expect_request("/api/v1/broken").respond_with_data("<html>oops</html>")
    client = _client(httpserver, max_attempts=10, malformed_max_attempts=2)
    with pytest.raises(SourceRequestError) as caught:
        client.get_json("broken")
    assert caught.value.error_class == "malformed"
    assert client.requests_sent == 2
    assert client.dead_letters[0].body_excerpt == "<html>oops</html>"


@pytest.mark.parametrize("status", [400, 403])
def test_client_errors_are_not_retried_and_dead_lettered_without_secrets(
    httpserver: HTTPServer, status: int
):
    # The token endpoint, then the API answering with an error that echoes the request.
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": "tok-abc-123"}
    )

    def echo(request: Request) -> Response:
        return Response(
            json.dumps(
                {
                    "error": "bad request",
                    "auth": request.headers.get("Authorization"),
                    "query": request.query_string.decode(),
                }
            ),
            status,
        )

    httpserver.expect_request("/api/v1/employees").respond_with_handler(echo)
    auth = BearerTokenAuth(httpserver.url_for("/oauth/token"), "traceloom", SECRET)
    client = _client(httpserver, auth=auth)
    with pytest.raises(SourceRequestError) as caught:
        client.get_json("employees", {"page": 0, "api_key": "key-999", "department": "X"})
    assert caught.value.status == status
    assert client.requests_sent == 1  # no retry
    (letter,) = client.dead_letters
    assert letter.status == status and letter.error_class == "client_error"
    assert letter.params == {"page": "0", "api_key": "***", "department": "X"}
    assert "bad request" in letter.body_excerpt
    assert letter.at.tzinfo is not None
    recorded = json.dumps(letter.as_dict(), default=str) + str(caught.value) + str(client.stats())
    for secret in ("tok-abc-123", SECRET, "key-999"):
        assert secret not in recorded
    assert client.breaker.total_failures == 0  # the system is up


def test_401_refreshes_the_token_once(httpserver: HTTPServer):
    tokens = iter(["first-token", "second-token"])
    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(
        lambda _r: _ok({"access_token": next(tokens)})
    )

    def api(request: Request) -> Response:
        if request.headers.get("Authorization") != "Bearer second-token":
            return Response("expired", 401)
        return _ok({"page": 2})

    httpserver.expect_request("/api/v1/employees").respond_with_handler(api)
    auth = BearerTokenAuth(httpserver.url_for("/oauth/token"), "traceloom", SECRET)
    client = _client(httpserver, auth=auth)
    assert client.get_json("employees") == {"page": 2}
    assert client.token_refreshes == 1 and auth.tokens_fetched == 2


def test_401_after_refresh_is_final(httpserver: HTTPServer):
    httpserver.expect_request("/api/v1/employees").respond_with_data("no", status=401)
    client = _client(httpserver, auth=BasicAuth("svc", PASSWORD))
    with pytest.raises(SourceRequestError) as caught:
        client.get_json("employees")
    assert caught.value.error_class == "unauthorized"
    assert client.requests_sent == 1  # basic credentials cannot be refreshed
    assert PASSWORD not in json.dumps(client.dead_letters[0].as_dict(), default=str)
    assert PASSWORD not in repr(client.auth)


def test_absolute_urls_are_used_as_given(httpserver: HTTPServer):
    httpserver.expect_request("/odata/next", query_string="$skiptoken=5").respond_with_json([5])
    client = SourceHttpClient("erp", "http://127.0.0.1:9/not-used")
    assert client.get_json(httpserver.url_for("/odata/next") + "?$skiptoken=5") == [5]


def test_breaker_opens_rejects_half_opens_and_closes(httpserver: HTTPServer):
    now = [1000.0]
    breaker = CircuitBreaker("wms", failure_threshold=3, cooldown_s=60, clock=lambda: now[0])
    httpserver.expect_request("/api/v1/down").respond_with_data("down", status=503)
    client = _client(httpserver, max_attempts=2, breaker=breaker)

    with pytest.raises(SourceRequestError):
        client.get_json("down")  # 2 failed attempts
    assert breaker.state == CLOSED and breaker.consecutive_failures == 2
    with pytest.raises(CircuitOpenError):
        client.get_json("down")  # 3rd failure opens it; the retry is rejected
    assert breaker.state == OPEN and breaker.total_failures == 3
    sent = client.requests_sent
    with pytest.raises(CircuitOpenError):
        client.get_json("down")
    assert client.requests_sent == sent  # rejected without a request
    assert client.stats()["breaker_state"] == OPEN

    now[0] += 61
    assert breaker.state == HALF_OPEN
    with pytest.raises(CircuitOpenError):
        client.get_json("down")  # the trial fails: open again, its retry is rejected
    assert breaker.state == OPEN

    now[0] += 61
    httpserver.clear()
    httpserver.expect_request("/api/v1/down").respond_with_json({"up": True})
    assert client.get_json("down") == {"up": True}
    assert breaker.state == CLOSED and breaker.consecutive_failures == 0
    assert breaker.total_failures == 4


def test_get_bytes_returns_the_raw_body_with_the_same_retries(httpserver: HTTPServer):
    published = "\ufeffShipment_type,2014\r\nOverall,1\r\n".encode()
    _sequence(
        httpserver,
        "/api/v1/table1.csv",
        [Response("busy", 503), Response(published, 200, content_type="text/csv")],
    )
    client = _client(httpserver)
    # Not JSON, yet not malformed: the body comes back byte for byte (BOM and CRLF kept).
    assert client.get_bytes("table1.csv", accept="text/csv") == published
    stats = client.stats()
    assert (stats["requests"], stats["retries"], stats["failures"]) == (2, 1, {"server_error": 1})
    assert [request.headers["Accept"] for request, _ in httpserver.log] == ["text/csv"] * 2
    assert client.dead_letters == []
    # get_json on the same client still asks for JSON and still treats non-JSON as malformed.
    httpserver.expect_request("/api/v1/not-json").respond_with_data("<xml/>")
    with pytest.raises(SourceRequestError):
        client.get_json("not-json")
    assert client.dead_letters[-1].error_class == "malformed"
    assert httpserver.log[-1][0].headers["Accept"] == "application/json"


def test_a_404_that_clears_is_retried_once_and_returns_the_answer(httpserver: HTTPServer):
    """003 §7.1: a 404 may be a timing issue (a record not yet visible): one retry."""
    _sequence(
        httpserver,
        "/api/v1/work-orders/WO-1",
        [Response('{"error": "not found"}', 404), _ok({"id": "WO-1"})],
    )
    client = _client(httpserver)
    assert client.get_json("work-orders/WO-1") == {"id": "WO-1"}
    assert (client.requests_sent, client.retries, client.dead_letters) == (2, 1, [])


def test_get_bytes_404_is_retried_once_then_dead_lettered(httpserver: HTTPServer):
    httpserver.expect_request("/api/v1/RP04005i.XML").respond_with_data("gone", status=404)
    client = _client(httpserver, auth=BasicAuth("svc", PASSWORD), max_attempts=5)
    with pytest.raises(SourceRequestError) as error:
        client.get_bytes("RP04005i.XML")
    (letter,) = client.dead_letters
    assert (letter.status, letter.error_class, letter.attempts) == (404, "client_error", 2)
    assert client.requests_sent == 2 and client.retries == 1
    assert client.breaker.total_failures == 0  # the system is up
    assert PASSWORD not in json.dumps(letter.as_dict(), default=str) + str(error.value)
