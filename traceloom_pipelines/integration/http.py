"""The one HTTP client every pull connector uses: retries, throttling, token refresh, dead letters
and a circuit breaker, as 003 §7.1–§7.3 ask.

How each answer is handled by :meth:`SourceHttpClient.get_json`:

=====================================  ==========================================================
answer                                 what the client does
=====================================  ==========================================================
2xx with a JSON body                   returns the parsed body; the breaker closes
401                                    refreshes the token once (``auth.refresh``) and re-sends;
                                       a second 401 is dead-lettered (no retry)
429                                    waits ``Retry-After`` (seconds or an HTTP date, capped at
                                       ``retry_after_max_s``), then retries; not a breaker failure
5xx, 408, timeout, connection error    bounded exponential back-off (``backoff_initial_s`` doubling
                                       up to ``backoff_max_s``, jittered), ``max_attempts`` in all
2xx with a body that is not JSON       retried like a 5xx, at most ``malformed_max_attempts`` times
404                                    retried once after the back-off (003 §7.1: "may be a timing
                                       issue", e.g. a record not yet visible on a replica)
400, any other 4xx                     no retry
=====================================  ==========================================================

When a request finally fails, a :class:`DeadLetter` (source, URL and parameters with secrets
redacted, status, body excerpt, error, attempts, UTC time; 003 §7.2) is appended to
``dead_letters`` and :class:`SourceRequestError` is raised. Every failed attempt of the
server-side kind (5xx, timeout, connection, malformed) counts against the client's
:class:`~traceloom_pipelines.integration.breaker.CircuitBreaker`; while it is open, calls fail
at once with :class:`~traceloom_pipelines.integration.breaker.CircuitOpenError`, and each
rejected call is dead-lettered too (``breaker_open``, 0 attempts). Pull resources give each
tenant's client for each entity their own breaker, so one tenant's outage never rejects another's
calls, and one failing entity never rejects the source's other entities.

The client knows HTTP and JSON, not what a source's answer must hold. A connector that gets an
answer it cannot use (a page without its record list, an envelope missing a member, a next-page
link that repeats) raises a subclass of :class:`SourceProtocolError`; retrying the same request
would get the same answer, so no request is retried for it and no dead letter is written. The
ingestion asset records either kind as a failed pull of that tenant, not a failed step.

No secret reaches a dead letter, an error message or :meth:`SourceHttpClient.stats`:
``Authorization`` headers are never recorded, credentials are scrubbed from any text, and query
parameters named like ``token``/``secret``/``password``/``api_key`` are replaced by ``***``.
"""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from collections.abc import Callable, MutableSequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import tenacity

from traceloom_pipelines.integration.breaker import CircuitBreaker, CircuitOpenError

REDACTED = "***"
BODY_EXCERPT_CHARS = 500
# Query/form parameter names whose values are secrets.
SECRET_NAME = re.compile(
    r"(token|secret|password|passwd|pwd|api[_-]?key|apikey|signature|sig|credential)", re.I
)
_SECRET_IN_TEXT = re.compile(
    r"\b([\w.-]*(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|signature|sig|credential)"
    r"[\w.-]*)=([^&\s'\"]+)",
    re.I,
)
_BEARER_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I)

# Failure classes (keys of ``stats()["failures"]`` and ``DeadLetter.error_class``).
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION = "connection"
MALFORMED = "malformed"
RATE_LIMITED = "rate_limited"
UNAUTHORIZED = "unauthorized"
CLIENT_ERROR = "client_error"
BREAKER_OPEN = "breaker_open"
# Failure class of a :class:`SourceProtocolError` (raised by connectors, never counted here).
PROTOCOL = "protocol"
# Failures that say the source system is unwell: they count against its breaker.
BREAKER_CLASSES = frozenset({SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED})


def redact_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """``params`` with the values of secret-named keys replaced by ``***``."""
    return {
        key: (REDACTED if SECRET_NAME.search(str(key)) else value)
        for key, value in (params or {}).items()
    }


def redact_url(url: str) -> str:
    """``url`` without user-info and with secret-named query parameters replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode(
        [
            (key, REDACTED if SECRET_NAME.search(key) else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*$,:/'()",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class SourceRequestError(RuntimeError):
    """A request to a source failed for good (no retry left, or not retryable).

    Attributes:
        source: the source system.
        url: the request URL, secrets redacted.
        status: the HTTP status of the last answer, or None (timeout, connection error).
        error_class: one of ``server_error``, ``timeout``, ``connection``, ``malformed``,
            ``rate_limited``, ``unauthorized``, ``client_error``.
        dead_letter: the :class:`DeadLetter` recorded for it.
    """

    def __init__(self, message: str, dead_letter: DeadLetter):
        super().__init__(message)
        self.dead_letter = dead_letter
        self.source = dead_letter.source
        self.url = dead_letter.url
        self.status = dead_letter.status
        self.error_class = dead_letter.error_class


class SourceProtocolError(RuntimeError):
    """The source answered, but not as its protocol allows; retrying the same request will not
    help.

    The HTTP exchange succeeded (a 2xx with a body that parsed), yet the answer cannot be used:
    a page without its record list, an envelope without a required member, a next-page link or
    cursor that repeats or leaves the source's host, paging that never ends. Connectors raise
    their own subclasses (``HrPullError``, ``ODataProtocolError`` …). The ingestion asset treats
    it like :class:`SourceRequestError`: that tenant's pull is recorded as ``pull_failed`` with
    failure class :attr:`error_class`, its cursor stays, the other tenants and the drop files
    still land and the ``source_pull_succeeded`` check fails. Configuration errors (no base
    URL, a tenant or entity the source does not serve) are not protocol errors: they raise
    ``ValueError`` and fail the step.

    The message is recorded in ``audit.connector_runs`` and the check's metadata, so it must
    not carry credentials (the asset also scrubs it with the tenant client's
    :meth:`SourceHttpClient.scrub`).

    Args:
        message: what was wrong with the answer.
        error_class: overrides :attr:`error_class` for this instance.

    Attributes:
        error_class: short machine-readable failure class, :data:`PROTOCOL` (``protocol``)
            unless a subclass or the constructor sets another.
    """

    error_class: str = PROTOCOL

    def __init__(self, message: str = "", *, error_class: str | None = None):
        super().__init__(message)
        if error_class is not None:
            self.error_class = error_class


@dataclass(frozen=True)
class DeadLetter:
    """One failed request, kept for manual review and re-pull (003 §7.2).

    Columns of ``audit.dead_letters`` (plus tenant, entity and run id added by the asset):
    ``source`` (system), ``url`` (redacted), ``params`` (redacted dict; the request payload of a
    GET), ``status`` (HTTP status or None), ``error_class``, ``error`` (message, scrubbed),
    ``body_excerpt`` (first 500 characters of the answer, scrubbed), ``attempts`` (requests
    sent), ``at`` (UTC, timezone-aware).
    """

    source: str
    url: str
    params: dict[str, Any]
    status: int | None
    error_class: str
    error: str
    body_excerpt: str
    attempts: int
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (``at`` stays a datetime)."""
        return asdict(self)


# -- authentication ---------------------------------------------------------------------------
class BasicAuth:
    """HTTP basic authentication (user and password from the environment via ``dg.EnvVar``)."""

    def __init__(self, user: str, password: str):
        self._user = user
        self._password = password

    def apply(self, session: requests.Session, headers: dict[str, str], timeout_s: float) -> None:
        """Set the ``Authorization`` header of one request."""
        raw = f"{self._user}:{self._password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")

    def refresh(self, session: requests.Session, timeout_s: float) -> bool:
        """Basic credentials cannot be refreshed: returns False (a 401 is then final)."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any recorded text."""
        raw = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
        return tuple(s for s in (self._password, raw) if s)

    def __repr__(self) -> str:
        return f"BasicAuth(user={self._user!r}, password={REDACTED!r})"


class TokenRequestError(RuntimeError):
    """The token endpoint refused to issue a token (status given; no secret in the message)."""

    def __init__(self, message: str, status: int | None, body_excerpt: str):
        super().__init__(message)
        self.status = status
        self.body_excerpt = body_excerpt


class BearerTokenAuth:
    """OAuth2 client-credentials bearer token: fetched lazily, fetched again after a 401.

    The token endpoint gets ``grant_type=client_credentials``, ``client_id`` and
    ``client_secret`` as a form POST and must answer ``{"access_token": "..."}``.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str = ""):
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._token: str | None = None
        self.tokens_fetched = 0

    def apply(self, session: requests.Session, headers: dict[str, str], timeout_s: float) -> None:
        """Set ``Authorization: Bearer <token>``, fetching a token first if none is held.

        Raises:
            TokenRequestError: the token endpoint answered without a token.
            requests.RequestException: the token endpoint was unreachable or timed out.
        """
        if self._token is None:
            self._fetch(session, timeout_s)
        headers["Authorization"] = f"Bearer {self._token}"

    def refresh(self, session: requests.Session, timeout_s: float) -> bool:
        """Drop the held token and fetch a new one; returns True."""
        self._token = None
        self._fetch(session, timeout_s)
        return True

    def _fetch(self, session: requests.Session, timeout_s: float) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        if self._scope:
            form["scope"] = self._scope
        response = session.post(self.token_url, data=form, timeout=timeout_s)
        token = None
        if response.ok:
            try:
                token = response.json().get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not token:
            raise TokenRequestError(
                f"token endpoint {redact_url(self.token_url)} answered {response.status_code} "
                "without an access_token",
                response.status_code,
                response.text[:BODY_EXCERPT_CHARS],
            )
        self._token = token
        self.tokens_fetched += 1

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any recorded text (client secret, current token)."""
        return tuple(s for s in (self._client_secret, self._token) if s)

    def __repr__(self) -> str:
        return f"BearerTokenAuth(token_url={self.token_url!r}, client_id={self._client_id!r})"


# -- the client -------------------------------------------------------------------------------
class _AttemptFailed(Exception):
    """One attempt failed (internal; carries what a dead letter needs)."""

    def __init__(
        self,
        error_class: str,
        message: str,
        status: int | None = None,
        body: str = "",
        retry_after_s: float | None = None,
    ):
        super().__init__(message)
        self.error_class = error_class
        self.status = status
        self.body = body
        self.retry_after_s = retry_after_s


_RETRYABLE = frozenset({SERVER_ERROR, TIMEOUT, CONNECTION, MALFORMED, RATE_LIMITED})
# A 404 is sent at most this often in one call (003 §7.1: retry once); max_attempts caps it too.
NOT_FOUND_MAX_ATTEMPTS = 2


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class _Call:
    """Per-call state shared by the attempts of one ``get_json`` / ``get_bytes``."""

    decode: Callable[[requests.Response], Any]
    accept: str | None = None
    attempts: int = 0
    malformed: int = 0
    not_found: int = 0
    refreshed: bool = False


def _json_body(response: requests.Response) -> Any:
    """The parsed JSON body (``ValueError`` when it is not JSON)."""
    return response.json()


def _raw_body(response: requests.Response) -> bytes:
    """The body bytes as sent (never malformed: parsing is the reader's job)."""
    return response.content


class SourceHttpClient:
    """GET JSON from one source system over HTTP, surviving the faults of 003 §7.1.

    Args:
        source: source system name (``hr``, ``wms``, ``erp``); labels dead letters and errors.
        base_url: relative paths passed to :meth:`get_json` are joined to it.
        auth: :class:`BasicAuth`, :class:`BearerTokenAuth` or None.
        timeout_s: connect and read timeout of each request, seconds.
        max_attempts: requests sent at most per call (first try + retries).
        backoff_initial_s: first back-off wait, seconds; doubles per retry (with jitter).
        backoff_max_s: longest back-off wait, seconds.
        retry_after_max_s: longest wait honoured from a ``Retry-After`` header, seconds.
        malformed_max_attempts: attempts at most when the body is not JSON.
        breaker: the source's circuit breaker (default: a private one, threshold 5, 60 s).
        dead_letters: list the dead letters are appended to (default: a new list).
        session: a ``requests.Session`` to use (default: a new one).
        sleep: how to wait (injectable for tests), seconds.
        headers: extra headers sent with every request (e.g. ``Accept``).

    Attributes:
        dead_letters: the failed requests recorded so far.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        auth: BasicAuth | BearerTokenAuth | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        retry_after_max_s: float = 120.0,
        malformed_max_attempts: int = 3,
        breaker: CircuitBreaker | None = None,
        dead_letters: MutableSequence[DeadLetter] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        headers: dict[str, str] | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.source = source
        self.base_url = base_url
        self.auth = auth
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.malformed_max_attempts = malformed_max_attempts
        self.breaker = breaker or CircuitBreaker(source)
        self.dead_letters: MutableSequence[DeadLetter] = (
            dead_letters if dead_letters is not None else []
        )
        self.session = session or requests.Session()
        self._sleep = sleep
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s / 2
        )
        self.requests_sent = 0
        self.retries = 0
        self.token_refreshes = 0
        self.failures: Counter[str] = Counter()

    # -- public API ---------------------------------------------------------------------------
    def url_for(self, path_or_url: str) -> str:
        """Absolute URLs as they are; relative paths joined to ``base_url`` with one ``/``."""
        if re.match(r"^https?://", path_or_url, re.I):
            return path_or_url
        return self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")

    def get_json(self, path_or_url: str, params: dict | None = None) -> dict | list:
        """GET ``path_or_url`` with query ``params`` and return the parsed JSON body.

        A body that is not JSON is retried (at most ``malformed_max_attempts`` attempts).

        Raises:
            CircuitOpenError: the source's breaker is open (before or between attempts).
            SourceRequestError: the request failed for good; a dead letter was recorded.
        """
        return self._get(path_or_url, params, _json_body, None)

    def get_bytes(
        self, path_or_url: str, params: dict | None = None, *, accept: str = "*/*"
    ) -> bytes:
        """GET ``path_or_url`` and return the raw body bytes as sent (XML, CSV, NMEA text …).

        Same retries, ``Retry-After``, circuit breaker, auth and dead letters as
        :meth:`get_json`; the body is not parsed (its format is the reader's business, so an
        encoding or BOM stays as published). ``accept`` is the ``Accept`` header sent.

        Raises:
            CircuitOpenError: the source's breaker is open (before or between attempts).
            SourceRequestError: the request failed for good; a dead letter was recorded.
        """
        return self._get(path_or_url, params, _raw_body, accept)

    def _get(
        self,
        path_or_url: str,
        params: dict | None,
        decode: Callable[[requests.Response], Any],
        accept: str | None,
    ) -> Any:
        """One GET call with the retry policy: ``decode`` turns a 2xx response into the result
        (raising ``ValueError`` for a malformed body); ``accept`` overrides the Accept header."""
        url = self.url_for(path_or_url)
        params = dict(params or {})
        call = _Call(decode=decode, accept=accept)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda exc: self._retryable(exc, call)),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            body = retrying(self._attempt, url, params, call)
        except CircuitOpenError as rejected:
            # Opened by this call's failures, or open before it (a rejection, no request sent):
            # either way the request did not happen and is dead-lettered (003 §7.2).
            self.failures[BREAKER_OPEN] += 1
            reason = "circuit breaker opened" if call.attempts else str(rejected)
            self._dead_letter(url, params, call, _AttemptFailed(BREAKER_OPEN, reason))
            raise
        except _AttemptFailed as failure:
            letter = self._dead_letter(url, params, call, failure)
            raise SourceRequestError(
                f"{self.source}: GET {letter.url} failed after {call.attempts} attempt(s): "
                f"{letter.error}",
                letter,
            ) from None
        self.breaker.record_success()
        return body

    def stats(self) -> dict[str, Any]:
        """Counters for materialization metadata: ``requests``, ``retries``, ``token_refreshes``,
        ``dead_letters``, ``failures`` (class → failed attempts), ``breaker_state``,
        ``breaker_consecutive_failures``, ``breaker_total_failures``."""
        breaker = self.breaker.snapshot()
        return {
            "requests": self.requests_sent,
            "retries": self.retries,
            "token_refreshes": self.token_refreshes,
            "dead_letters": len(self.dead_letters),
            "failures": dict(sorted(self.failures.items())),
            "breaker_state": breaker["state"],
            "breaker_consecutive_failures": breaker["consecutive_failures"],
            "breaker_total_failures": breaker["total_failures"],
        }

    def scrub(self, text: str) -> str:
        """``text`` with credentials, bearer/basic tokens and secret query values replaced."""
        for secret in self.auth.secrets() if self.auth else ():
            text = text.replace(secret, REDACTED)
        text = _BEARER_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}={REDACTED}", text)

    # -- one attempt ----------------------------------------------------------------------------
    def _attempt(self, url: str, params: dict, call: _Call) -> Any:
        self.breaker.before_call()
        call.attempts += 1
        try:
            response = self._send(url, params, call.accept)
            if response.status_code == 401 and self.auth is not None and not call.refreshed:
                call.refreshed = True
                if self.auth.refresh(self.session, self.timeout_s):
                    self.token_refreshes += 1
                    response = self._send(url, params, call.accept)
        except TokenRequestError as exc:
            raise self._fail(UNAUTHORIZED, str(exc), exc.status, exc.body_excerpt) from None
        except requests.Timeout as exc:
            raise self._fail(TIMEOUT, f"timed out after {self.timeout_s}s: {exc}") from None
        except requests.ConnectionError as exc:
            raise self._fail(CONNECTION, f"connection failed: {exc}") from None
        status = response.status_code
        if status == 401:
            raise self._fail(UNAUTHORIZED, "401 Unauthorized", status, response.text)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise self._fail(RATE_LIMITED, "429 Too Many Requests", status, response.text, wait)
        if status >= 500 or status == 408:
            raise self._fail(SERVER_ERROR, f"{status} {response.reason}", status, response.text)
        if status == 404:
            call.not_found += 1
        if status >= 400:
            raise self._fail(CLIENT_ERROR, f"{status} {response.reason}", status, response.text)
        try:
            return call.decode(response)
        except ValueError:
            call.malformed += 1
            raise self._fail(
                MALFORMED, f"{status} answer is not valid JSON", status, response.text
            ) from None

    def _send(self, url: str, params: dict, accept: str | None = None) -> requests.Response:
        headers = dict(self._headers)
        if accept is not None:
            headers["Accept"] = accept
        if self.auth is not None:
            self.auth.apply(self.session, headers, self.timeout_s)
        self.requests_sent += 1
        return self.session.get(url, params=params, headers=headers, timeout=self.timeout_s)

    def _fail(
        self,
        error_class: str,
        message: str,
        status: int | None = None,
        body: str = "",
        retry_after_s: float | None = None,
    ) -> _AttemptFailed:
        self.failures[error_class] += 1
        if error_class in BREAKER_CLASSES:
            self.breaker.record_failure()
        return _AttemptFailed(error_class, message, status, body, retry_after_s)

    # -- retry policy -------------------------------------------------------------------------
    def _retryable(self, exc: BaseException, call: _Call) -> bool:
        if isinstance(exc, _AttemptFailed) and exc.status == 404:
            return call.not_found < NOT_FOUND_MAX_ATTEMPTS
        if not isinstance(exc, _AttemptFailed) or exc.error_class not in _RETRYABLE:
            return False
        return not (exc.error_class == MALFORMED and call.malformed >= self.malformed_max_attempts)

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _AttemptFailed) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.retry_after_max_s)
        return self._backoff(retry_state)

    def _count_retry(self, _retry_state: tenacity.RetryCallState) -> None:
        self.retries += 1

    def _dead_letter(
        self, url: str, params: dict, call: _Call, failure: _AttemptFailed
    ) -> DeadLetter:
        letter = DeadLetter(
            source=self.source,
            url=self.scrub(redact_url(url)),
            params={k: self.scrub(str(v)) for k, v in redact_params(params).items()},
            status=failure.status,
            error_class=failure.error_class,
            error=self.scrub(str(failure)),
            body_excerpt=self.scrub(failure.body or "")[:BODY_EXCERPT_CHARS],
            attempts=call.attempts,
        )
        self.dead_letters.append(letter)
        return letter


__all__ = [
    "BasicAuth",
    "BearerTokenAuth",
    "CircuitBreaker",
    "CircuitOpenError",
    "DeadLetter",
    "SourceHttpClient",
    "SourceProtocolError",
    "SourceRequestError",
    "TokenRequestError",
    "parse_retry_after",
    "redact_params",
    "redact_url",
]
