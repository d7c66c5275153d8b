"""The review desk web app (issue #13 §7, 003 §7.2): a Starlette app on the gateway's stack.

Routes (HTTP Basic authentication on every one but ``/healthz``; users from
``$TRACELOOM_REVIEW_DESK_USERS``, :mod:`traceloom_pipelines.review_desk.auth`):

==============================================================  ================================
``GET /healthz``                                                ``{"status": "ok"}``, no auth
``GET /``                                                       303 to the user's first tenant
``GET /tenants/<tenant>?kind=&source=&entity=&reason=&``        the queue, filtered, and the
``older_than_hours=&status=``                                   metrics by integration
``GET /tenants/<tenant>/items/<key>``                           one item, its history and forms
``POST /tenants/<tenant>/items/<key>/<action>``                 ``retry``, ``edit-retry``,
                                                                ``resolve``, ``discard``
``GET /tenants/<tenant>/stewardship?type=supplier|product``     review-band pairs, clusters,
                                                                decisions (golden records)
``POST /tenants/<tenant>/stewardship/<decision>``               ``confirm``, ``merge``,
                                                                ``split`` of two records
==============================================================  ================================

401 (with ``WWW-Authenticate: Basic``) without valid credentials; 403 for a tenant not the
user's; 404 for an item the tenant does not have; 400 for a POST without the user's CSRF token
or an action that does not apply (the page says why); 503 when the lake's writer lock stays
taken (a long landing) — nothing was changed then. Listing reads the lake read-only; actions
write ``audit.review_actions`` (:mod:`traceloom_pipelines.review_desk.actions`). Passwords and
hashes never appear in logs or pages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import duckdb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.review_desk import actions, pages, stewardship
from traceloom_pipelines.review_desk.auth import Authenticator, DeskUser, load_users
from traceloom_pipelines.review_desk.queue import (
    KINDS,
    STATUSES,
    Filters,
    ReviewItem,
    find_item,
    integration_metrics,
    load_items,
)

log = logging.getLogger("traceloom.review_desk")

MAX_FORM_BYTES = 2 * actions.MAX_RECORD_BYTES
# URL action → audit action
POST_ACTIONS = {
    "retry": "retry",
    "edit-retry": "edit_retry",
    "resolve": "resolve",
    "discard": "discard",
}
DONE_MESSAGES = {
    "retry": "Retried.",
    "edit_retry": "Corrected record dropped; it lands with the next landing run.",
    "resolve": "Marked resolved.",
    "discard": "Discarded.",
}


@dataclass(frozen=True)
class DeskSettings:
    """Everything the desk needs.

    Attributes:
        data_dir: the data directory (``$TRACELOOM_DATA_DIR``): the lake and ``landing/``.
        users: who may sign in (:func:`~traceloom_pipelines.review_desk.auth.load_users`).
    """

    data_dir: Path
    users: tuple[DeskUser, ...]

    @classmethod
    def from_env(cls, data_dir: Path) -> DeskSettings:
        """Users from ``$TRACELOOM_REVIEW_DESK_USERS``.

        Raises:
            ValueError: no user configured, or an entry is malformed.
        """
        return cls(Path(data_dir), load_users())


def _html(text: str, status: int = 200, **headers: str) -> HTMLResponse:
    headers.setdefault("Cache-Control", "no-store")
    return HTMLResponse(text, status_code=status, headers=headers)


def _lake_busy(user) -> HTMLResponse:
    """503 with ``Retry-After: 60``: a landing run held the lake's writer lock longer than an
    action waits for it, and nothing was changed."""
    return _html(
        pages.message_page(
            user.name,
            user.tenants,
            "Lake busy",
            "A landing run holds the lake's writer lock; nothing was changed. "
            "Try again in a minute.",
        ),
        503,
        **{"Retry-After": "60"},
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _filters(request: Request) -> Filters:
    """Filters from the query string; unknown kinds/statuses and bad numbers are ignored."""
    query = request.query_params
    hours: float | None = None
    try:
        hours = float(query.get("older_than_hours", "")) if query.get("older_than_hours") else None
    except ValueError:
        hours = None
    if hours is not None and not hours >= 0:  # also refuses NaN
        hours = None
    return Filters(
        kind=query.get("kind", "") if query.get("kind") in KINDS else "",
        source=query.get("source", "").strip(),
        entity=query.get("entity", "").strip(),
        reason=query.get("reason", "").strip(),
        older_than_hours=hours,
        status=query.get("status", "") if query.get("status") in STATUSES else "",
    )


class ReviewDesk:
    """The desk's request handling, bound to its settings and authenticator."""

    def __init__(self, settings: DeskSettings) -> None:
        self.settings = settings
        self.auth = Authenticator(settings.users)

    # -- access -------------------------------------------------------------------------------
    async def _user(self, request: Request) -> DeskUser | Response:
        # scrypt (tens of milliseconds) runs in a worker thread, never on the event loop
        user = await run_in_threadpool(self.auth.authenticate, request.headers)
        if user is None:
            return Response(
                "Sign in with your review desk user.",
                status_code=401,
                headers={
                    "WWW-Authenticate": 'Basic realm="traceloom-review-desk", charset="UTF-8"'
                },
            )
        return user

    async def _tenant_user(self, request: Request) -> tuple[DeskUser, str] | Response:
        """The signed-in user and the path's tenant, or the 401/403 answer."""
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        tenant_id = request.path_params["tenant"]
        if tenant_id not in user.tenants:
            log.info("user %s refused tenant %r", user.name, tenant_id[:100])
            return _html(
                pages.message_page(
                    user.name, user.tenants, "Forbidden", "This tenant is not one of yours."
                ),
                403,
            )
        return user, tenant_id

    def _read(self, work):
        """``work(con)`` on a read-only lake connection; None when there is no lake yet."""
        try:
            con = connect(self.settings.data_dir, read_only=True)
        except FileNotFoundError:
            return None
        try:
            return work(con)
        finally:
            con.close()

    # -- pages --------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        user = await self._user(request)
        if isinstance(user, Response):
            return user
        return RedirectResponse(f"/tenants/{user.tenants[0]}", status_code=303)

    async def queue(self, request: Request) -> Response:
        access = await self._tenant_user(request)
        if isinstance(access, Response):
            return access
        user, tenant_id = access
        filters = _filters(request)
        now = _now()

        def read(con: duckdb.DuckDBPyConnection):
            items, total = load_items(con, tenant_id, filters, now=now)
            return items, total, integration_metrics(con, tenant_id)

        found = await run_in_threadpool(self._read, read)
        items, total, metrics = found if found is not None else ([], 0, [])
        return _html(
            pages.queue_page(
                user.name, user.tenants, tenant_id, filters, items, total, metrics, now
            )
        )

    def _find(self, tenant_id: str, key: str) -> ReviewItem | None:
        return self._read(lambda con: find_item(con, tenant_id, key))

    async def item(self, request: Request) -> Response:
        access = await self._tenant_user(request)
        if isinstance(access, Response):
            return access
        user, tenant_id = access
        found = await run_in_threadpool(self._find, tenant_id, request.path_params["key"])
        if found is None:
            return self._not_found(user)
        done = request.query_params.get("done", "")
        return _html(
            pages.item_page(
                user.name,
                user.tenants,
                found,
                self.auth.csrf_token(user),
                message=DONE_MESSAGES.get(done),
            )
        )

    def _not_found(self, user: DeskUser) -> Response:
        return _html(pages.message_page(user.name, user.tenants, "Not found", "No such item."), 404)

    async def act(self, request: Request) -> Response:
        access = await self._tenant_user(request)
        if isinstance(access, Response):
            return access
        user, tenant_id = access
        action = POST_ACTIONS.get(request.path_params["action"])
        if action is None:
            return self._not_found(user)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return Response("Form too large.", status_code=413)
        try:
            form = {
                k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()
            }
        except UnicodeDecodeError:
            form = {}
        if not self.auth.csrf_ok(user, form.get("csrf")):
            return Response("Missing or wrong form token; reload the page.", status_code=400)
        item = await run_in_threadpool(self._find, tenant_id, request.path_params["key"])
        if item is None:
            return self._not_found(user)
        note = form.get("note")
        try:
            if action == "retry":
                result = await run_in_threadpool(
                    actions.retry, self.settings.data_dir, item, user.name, note
                )
            elif action == "edit_retry":
                result = await run_in_threadpool(
                    actions.edit_and_retry,
                    self.settings.data_dir,
                    item,
                    user.name,
                    form.get("record", ""),
                    note,
                )
            else:
                result = await run_in_threadpool(
                    actions.set_status, self.settings.data_dir, item, action, user.name, note
                )
        except actions.ActionRefused as refused:
            page = pages.item_page(
                user.name,
                user.tenants,
                item,
                self.auth.csrf_token(user),
                error=str(refused),
                edited=form.get("record") if action == "edit_retry" else None,
            )
            return _html(page, 400)
        except TimeoutError:
            return _lake_busy(user)
        log.info(
            "%s: %s %s %s of %s/%s (%s)%s",
            user.name,
            action,
            item.kind,
            item.key,
            tenant_id,
            f"{item.source}/{item.entity}",
            result.action_id,
            f" → {result.drop_file}" if result.drop_file else "",
        )
        return RedirectResponse(
            f"{pages.item_url(tenant_id, item.key)}?done={action}", status_code=303
        )


class StewardshipDesk:
    """The stewardship page's handlers (review_desk/stewardship.py), on the desk's auth."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    async def _page(self, request, user, tenant_id, entity_type, *, message=None, error=None):
        found = await run_in_threadpool(
            self.desk._read, lambda con: stewardship.load_review(con, tenant_id, entity_type)
        )
        pairs, clusters, decisions = found if found is not None else ([], [], [])
        return stewardship.stewardship_page(
            user.name,
            user.tenants,
            tenant_id,
            entity_type,
            self.desk.auth.csrf_token(user),
            pairs,
            clusters,
            decisions,
            message=message,
            error=error,
        )

    async def show(self, request: Request) -> Response:
        access = await self.desk._tenant_user(request)
        if isinstance(access, Response):
            return access
        user, tenant_id = access
        entity_type = request.query_params.get("type", "supplier")
        if entity_type not in stewardship.ENTITY_TYPES:
            entity_type = "supplier"
        done = request.query_params.get("done", "")
        message = (
            f"Decision {done} recorded; it applies from the next resolution run."
            if done in stewardship.DECISIONS
            else None
        )
        return _html(await self._page(request, user, tenant_id, entity_type, message=message))

    async def decide(self, request: Request) -> Response:
        access = await self.desk._tenant_user(request)
        if isinstance(access, Response):
            return access
        user, tenant_id = access
        action = request.path_params["decision"]
        if action not in stewardship.DECISIONS:
            return self.desk._not_found(user)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return Response("Form too large.", status_code=413)
        try:
            form = {
                k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()
            }
        except UnicodeDecodeError:
            form = {}
        if not self.desk.auth.csrf_ok(user, form.get("csrf")):
            return Response("Missing or wrong form token; reload the page.", status_code=400)
        entity_type = form.get("type", "")
        try:
            decision_id = await run_in_threadpool(
                stewardship.record_decision,
                self.desk.settings.data_dir,
                tenant_id,
                entity_type,
                action,
                form.get("record_id_l", ""),
                form.get("record_id_r", ""),
                user.name,
                form.get("reason"),
            )
        except stewardship.DecisionRefused as refused:
            shown = entity_type if entity_type in stewardship.ENTITY_TYPES else "supplier"
            return _html(await self._page(request, user, tenant_id, shown, error=str(refused)), 400)
        except TimeoutError:
            return _lake_busy(user)
        log.info(
            "%s: stewardship %s of %s %s (%s)",
            user.name,
            action,
            tenant_id,
            entity_type,
            decision_id,
        )
        return RedirectResponse(
            stewardship.stewardship_url(tenant_id, entity_type) + f"&done={action}",
            status_code=303,
        )


def create_app(settings: DeskSettings) -> Starlette:
    """The desk as an ASGI app."""
    desk = ReviewDesk(settings)
    steward = StewardshipDesk(desk)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", desk.home, methods=["GET"]),
        Route("/tenants/{tenant}", desk.queue, methods=["GET"]),
        Route("/tenants/{tenant}/items/{key}", desk.item, methods=["GET"]),
        Route("/tenants/{tenant}/items/{key}/{action}", desk.act, methods=["POST"]),
        Route("/tenants/{tenant}/stewardship", steward.show, methods=["GET"]),
        Route("/tenants/{tenant}/stewardship/{decision}", steward.decide, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.desk = desk
    return app


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 8790) -> None:
    """Run the desk with uvicorn in this process.

    Raises:
        ValueError: if the users in the environment are missing or malformed.
    """
    import uvicorn

    settings = DeskSettings.from_env(Path(data_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info("review desk on %s:%d for %d user(s)", host, port, len(settings.users))
    uvicorn.run(create_app(settings), host=host, port=port, workers=1, log_level="info")
