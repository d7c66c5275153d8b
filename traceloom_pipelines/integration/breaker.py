"""A circuit breaker per source system, tenant and entity (003 §7.3, issue #13 §5): stop calling
an endpoint that keeps failing. Tenants of one source are separate endpoints (``{tenant}`` in the
source's URL) and each entity is its own API path, so one tenant's outage never blocks another
tenant's pulls, and one failing entity (a 5xx on the WMS change feed) never blocks the source's
other entities.

States: ``closed`` (calls go through), ``open`` (calls are rejected at once with
:class:`CircuitOpenError`), ``half_open`` (the cool-down has passed: the next call is a trial;
success closes the breaker, failure opens it again for another cool-down).

Only failures that say the *system* is unwell count (server errors, timeouts, connection errors,
throttling or malformed bodies that outlast the retries); a 400/404 answer means the system is up
and leaves the breaker as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitOpenError(RuntimeError):
    """A call was rejected because the source's circuit breaker is open.

    Attributes:
        source: the source system (``hr``, ``wms``, ``erp`` …).
        retry_in_s: seconds until the breaker half-opens.
        tenant_id: the tenant whose endpoint it protects (None: the whole source).
        entity: the entity whose calls it protects (None: every entity).
    """

    def __init__(
        self,
        source: str,
        retry_in_s: float,
        tenant_id: str | None = None,
        entity: str | None = None,
    ):
        scope = repr(f"{source}/{entity}" if entity else source)
        scope += f" (tenant {tenant_id})" if tenant_id else ""
        super().__init__(
            f"circuit breaker for {scope} is open: calls rejected for {retry_in_s:.1f}s more"
        )
        self.source = source
        self.retry_in_s = retry_in_s
        self.tenant_id = tenant_id
        self.entity = entity


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; half-opens after ``cooldown_s``.

    Args:
        source: the source system it protects (used in errors and stats).
        failure_threshold: consecutive failures that open the breaker (seed: 5).
        cooldown_s: seconds the breaker stays open before allowing one trial call (seed: 60).
        clock: monotonic clock in seconds; inject a fake one in tests.
        tenant_id: the tenant whose endpoint it protects (None: the whole source).
        entity: the entity whose calls it protects (None: every entity).

    Thread-safe: one breaker may be shared by every client of a source in a process.
    """

    def __init__(
        self,
        source: str,
        failure_threshold: int = 5,
        cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        tenant_id: str | None = None,
        entity: str | None = None,
    ):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.source = source
        self.tenant_id = tenant_id
        self.entity = entity
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self.consecutive_failures = 0
        self.total_failures = 0
        self.times_opened = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (open and the cool-down has passed)."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def before_call(self) -> None:
        """Raise :class:`CircuitOpenError` while open; pass when closed or half-open."""
        with self._lock:
            if self._state() == OPEN:
                retry_in = self.cooldown_s - (self._clock() - (self._opened_at or 0.0))
                raise CircuitOpenError(self.source, max(retry_in, 0.0), self.tenant_id, self.entity)

    def record_success(self) -> None:
        """A call succeeded: close the breaker and reset the consecutive-failure count."""
        with self._lock:
            self._opened_at = None
            self.consecutive_failures = 0

    def record_failure(self) -> None:
        """A call failed: count it; open (or re-open after a failed trial) at the threshold."""
        with self._lock:
            half_open = self._state() == HALF_OPEN
            self.consecutive_failures += 1
            self.total_failures += 1
            if half_open or (
                self._opened_at is None and self.consecutive_failures >= self.failure_threshold
            ):
                self._opened_at = self._clock()
                self.times_opened += 1

    def snapshot(self) -> dict[str, object]:
        """``state``, ``consecutive_failures``, ``total_failures``, ``times_opened``."""
        with self._lock:
            return {
                "state": self._state(),
                "consecutive_failures": self.consecutive_failures,
                "total_failures": self.total_failures,
                "times_opened": self.times_opened,
            }


_REGISTRY: dict[tuple[str, str | None, str | None], CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def breaker_for(
    source: str,
    failure_threshold: int = 5,
    cooldown_s: float = 60.0,
    tenant_id: str | None = None,
    entity: str | None = None,
) -> CircuitBreaker:
    """The process-wide breaker of ``source``, ``tenant_id`` and ``entity``, so every run and
    client in one process sees the same state; created on first use, and later calls apply their
    (re-configured) threshold and cool-down to it."""
    key = (source, tenant_id, entity)
    with _REGISTRY_LOCK:
        breaker = _REGISTRY.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                source, failure_threshold, cooldown_s, tenant_id=tenant_id, entity=entity
            )
            _REGISTRY[key] = breaker
        else:
            breaker.failure_threshold = max(1, failure_threshold)
            breaker.cooldown_s = cooldown_s
        return breaker


def reset_breakers(source: str | None = None) -> None:
    """Forget the process-wide breakers of ``source`` (every tenant's and entity's), or of every
    source: the next :func:`breaker_for` starts closed. For tests and for a process that re-reads
    its configuration."""
    with _REGISTRY_LOCK:
        for key in [k for k in _REGISTRY if source is None or k[0] == source]:
            del _REGISTRY[key]
