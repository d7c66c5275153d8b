"""HR REST pull through the demo server on loopback: the real pull resource, the real ingestion
asset (dagster.materialize) and a real DuckDB file. Every fault class is survived with the
landed rows equal to the source rows; a re-pull lands nothing twice; a 404 is dead-lettered
without secrets and fails the pull check, not the step, so a downstream step still runs; an
answer without its record list fails that tenant's pull check (class ``protocol``) while the
other tenant and the drop files land; a failed landing keeps the cursor and fails the step; a
terminated employee becomes inactive; a tenant's first schedule pull backfills from the
configured start (``TRACELOOM_HR_API_BACKFILL_START``), later ones go on from the cursor."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from traceloom_pipelines.dbt_targets import run_dbt
from traceloom_pipelines.demo.serve import DemoServer, Faults, TenantWorld
from traceloom_pipelines.integration.breaker import breaker_for, reset_breakers
from traceloom_pipelines.landing.assets import AUTH_CHECK, PULL_CHECK, build_ingestion_asset
from traceloom_pipelines.landing.warehouse import connect
from traceloom_pipelines.resources import WarehouseResource
from traceloom_pipelines.sources.dagster.contract import PLATFORM_TENANT, run_failures
from traceloom_pipelines.sources.hr.connector import HrApiResource, HrPullError, hr_api_from_env
from traceloom_pipelines.sources.hr.contract import employees, shift_schedules

TENANTS = ("acme-apparel", "borealis-appliances")
TODAY = "2025-11-18"
SECRET = "hr-client-secret-value"


def _employee(tenant: str, n: int) -> dict:
    return {
        "employee_id": f"EMP-{tenant[:4].upper()}-{n:04d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"e{n}@{tenant}.example",
        "phone": "+1-555-0123",
        "department": "Manufacturing",
        "job_title": "Production Operator",
        "hire_date": "2020-03-15",
        "is_active": True,
        "location": "Plant 1 - Zone A",
        "skills": [
            {
                "skill_code": f"WELD-L{1 + n % 3}",
                "skill_name": "Welding",
                "proficiency_level": 1 + n % 3,
                "certification_date": "2023-06-15",
                "certification_expiry": "2026-06-30",
            }
        ][: n % 2 + 1],
    }


def _world(employees_per_tenant: int = 11) -> dict[str, TenantWorld]:
    world = {}
    for tenant in TENANTS:
        people = [_employee(tenant, n) for n in range(1, employees_per_tenant + 1)]
        schedules = [
            {
                "employee_id": p["employee_id"],
                "shift_date": day,
                "shift_name": "Shift A",
                "start_time": "06:00:00",
                "end_time": "14:00:00",
                "break_start": "09:30:00",
                "break_end": "10:00:00",
                "is_overtime": False,
            }
            for day in ("2025-11-16", "2025-11-17", "2025-11-18", "2025-11-20")
            for p in people[:5]
        ]
        world[tenant] = TenantWorld(employees=people, schedules=schedules)
    return world


@pytest.fixture(autouse=True)
def _closed_breaker():
    reset_breakers("hr")
    yield
    reset_breakers("hr")


@pytest.fixture
def server():
    with DemoServer(
        _world(), require_token=True, client_id="traceloom", client_secret=SECRET
    ) as running:
        yield running


def _resource(server: DemoServer, **overrides) -> HrApiResource:
    options = dict(
        base_url=f"{server.url}/{{tenant}}/hr/api/v1",
        tenants=",".join(TENANTS),
        token_url=f"{server.url}/oauth/token",
        client_id="traceloom",
        client_secret=SECRET,
        page_size=4,
        timeout_s=0.5,
        max_attempts=4,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        retry_after_max_s=1,
        today=TODAY,
        schedule_backfill_days=3,
        schedule_days_ahead=2,
    )
    options.update(overrides)
    return HrApiResource(**options)


def _materialize(data_dir: Path, entity, resource: HrApiResource) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_ingestion_asset(entity, puller="hr_api")],
        resources={"warehouse": WarehouseResource(data_dir=str(data_dir)), "hr_api": resource},
        raise_on_error=False,
    )


def _pull_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PULL_CHECK]
    return evaluation


def _query(data_dir: Path, sql: str) -> list[tuple]:
    con = connect(data_dir, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _landed_per_tenant(data_dir: Path, table: str) -> dict[str, int]:
    return dict(_query(data_dir, f"select tenant_id, count(*) from raw.{table} group by 1"))


FAULTS = {
    "server_errors": Faults(after=1, fail_500=2),
    "rate_limited": Faults(after=2, rate_limit=2, retry_after=0),
    "slow_past_timeout": Faults(after=1, slow=1, slow_s=0.8),
    "malformed_page": Faults(after=2, malformed=1),
    "token_expires_mid_pull": Faults(expire_token_after=2),
}

FAULT_STATUS = {
    "server_errors": 500,
    "rate_limited": 429,
    "slow_past_timeout": 200,
    "malformed_page": 200,
    "token_expires_mid_pull": 401,
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_full_employee_pull_survives_each_fault(tmp_path: Path, server: DemoServer, fault: str):
    server.faults = FAULTS[fault]
    result = _materialize(tmp_path, employees, _resource(server))
    assert result.success
    assert _pull_check(result).passed
    assert _pull_check(result).metadata["tenants_pulled"].value == len(TENANTS)
    expected = {t: len(server.world[t].employees) for t in TENANTS}
    assert _landed_per_tenant(tmp_path, "hr__employees") == expected
    skills = {t: sum(len(e["skills"]) for e in server.world[t].employees) for t in TENANTS}
    assert _landed_per_tenant(tmp_path, "hr__employee_skills") == skills
    statuses = _query(tmp_path, "select status, count(*) from audit.connector_runs group by 1")
    assert statuses == [("landed", 2)]
    # 11 employees in pages of 4: 3 files per tenant, written atomically with stable names.
    names = sorted(p.name for p in (tmp_path / "landing" / TENANTS[0] / "hr/employees").iterdir())
    assert names == [f"employees_full_20251118_page_00{i}.jsonl" for i in (1, 2, 3)]
    seen = {status for _, _, status in server.request_log}
    assert FAULT_STATUS[fault] in seen
    metadata = result.asset_materializations_for_node("land_hr__employees")[0].metadata
    if fault != "token_expires_mid_pull":
        assert metadata["pull_retries"].value >= 1
    assert metadata["pull_breaker_state"].value == "closed"
    assert metadata["rows_landed"].value == sum(expected.values())


def test_re_pull_lands_nothing_twice(tmp_path: Path, server: DemoServer):
    assert _materialize(tmp_path, employees, _resource(server)).success
    before = _query(tmp_path, "select count(*) from raw.hr__employees")
    again = _materialize(tmp_path, employees, _resource(server))
    assert again.success
    assert _query(tmp_path, "select count(*) from raw.hr__employees") == before
    metadata = again.asset_materializations_for_node("land_hr__employees")[0].metadata
    assert metadata["rows_landed"].value == 0
    assert metadata["files_skipped_already_landed"].value == 6


def test_404_is_dead_lettered_without_secrets_and_fails_the_pull_check(
    tmp_path: Path, server: DemoServer
):
    server.faults = Faults(after=1, client_error=2, client_error_status=404)
    result = _materialize(tmp_path, shift_schedules, _resource(server))
    # The step succeeds with what did arrive; the failed pull fails its (non-blocking) check.
    assert result.success
    check = _pull_check(result)
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert not check.blocking
    assert check.metadata["failed_tenants"].value == TENANTS[0]
    assert check.metadata["tenants_failed"].value == 1
    failure = check.metadata["pull_failures"].value[TENANTS[0]]
    assert failure["failure_class"] == "client_error"
    assert "404" in failure["error"] and SECRET not in json.dumps(failure)
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {TENANTS[1]: 20}
    letters = _query(
        tmp_path,
        "select tenant_id, source, entity, status, error_class, url, params, body_excerpt "
        "from audit.dead_letters",
    )
    assert len(letters) == 1
    tenant, source, entity, status, error_class, url, params, body = letters[0]
    assert (tenant, source, entity, status, error_class) == (
        TENANTS[0],
        "hr",
        "shift_schedules",
        404,
        "client_error",
    )
    assert url.endswith(f"/{TENANTS[0]}/hr/api/v1/schedules")
    assert json.loads(params)["date"] == "2025-11-16"
    assert "injected client error" in body
    everything = json.dumps(_query(tmp_path, "select * from audit.dead_letters"), default=str)
    everything += json.dumps(_query(tmp_path, "select * from audit.connector_runs"), default=str)
    assert SECRET not in everything
    for token in server.tokens:
        assert token not in everything
    # The failed tenant keeps no cursor; the other tenant was pulled and landed.
    state = _query(tmp_path, "select tenant_id, cursor from audit.connector_state")
    assert state == [(TENANTS[1], TODAY)]
    runs = dict(_query(tmp_path, "select tenant_id, status from audit.connector_runs"))
    assert runs == {TENANTS[0]: "pull_failed", TENANTS[1]: "landed"}


@pytest.mark.chaos
def test_a_failed_pull_does_not_skip_the_downstream_step(tmp_path: Path, server: DemoServer, chaos):
    """One tenant's pull answers 404: the ingestion step succeeds with its pull check failed, so
    a step downstream of the raw table runs (not skipped) on the data that is there."""
    server.faults = Faults(after=1, client_error=2, client_error_status=404)

    @dg.asset(deps=[dg.AssetKey(["raw", "hr", "shift_schedules"])])
    def shifts_per_tenant() -> dg.MaterializeResult:
        counts = _landed_per_tenant(tmp_path, "hr__shift_schedules")
        return dg.MaterializeResult(metadata={"tenants": json.dumps(counts, sort_keys=True)})

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_ingestion_asset(shift_schedules, puller="hr_api"), shifts_per_tenant],
        resources={
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
            "hr_api": _resource(server),
        },
        instance=instance,
        raise_on_error=False,
    )
    landed = _landed_per_tenant(tmp_path, "hr__shift_schedules")
    chaos.record(
        "a source outage: one tenant's HR pulls answer 404",
        lost=max(0, 20 - landed.get(TENANTS[1], 0)),  # the tenant whose pulls answered
        duplicated=max(0, landed.get(TENANTS[1], 0) - 20),
        blocked=int(not result.success),
        stale=int(result.is_node_skipped("shifts_per_tenant")),
    )
    assert result.success
    assert not result.is_node_skipped("shifts_per_tenant")
    assert result.get_step_skipped_events() == []
    (downstream,) = result.asset_materializations_for_node("shifts_per_tenant")
    assert json.loads(downstream.metadata["tenants"].value) == {TENANTS[1]: 20}
    check = _pull_check(result)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert check.metadata["failed_tenants"].value == TENANTS[0]
    errors = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if entry.level == logging.ERROR and "pull failed for tenant(s)" in entry.user_message
    ]
    assert len(errors) == 1 and TENANTS[0] in errors[0] and TENANTS[1] not in errors[0]
    # Recorded as before: the failed tenant's cursor did not move, the other's did.
    assert _query(tmp_path, "select tenant_id, cursor from audit.connector_state") == [
        (TENANTS[1], TODAY)
    ]
    runs = dict(_query(tmp_path, "select tenant_id, status from audit.connector_runs"))
    assert runs == {TENANTS[0]: "pull_failed", TENANTS[1]: "landed"}


def _serve_schedules(httpserver: HTTPServer, tenant: str) -> dict[str, TenantWorld]:
    """``tenant``'s HR API on ``httpserver`` answering its demo shifts of the asked date; returns
    the demo world it serves."""
    world = _world()

    def schedules(request: Request) -> Response:
        rows = [s for s in world[tenant].schedules if s["shift_date"] == request.args["date"]]
        return Response(json.dumps({"schedules": rows}), content_type="application/json")

    httpserver.expect_request(f"/{tenant}/hr/schedules").respond_with_handler(schedules)
    return world


def _loopback_resource(httpserver: HTTPServer, **overrides) -> HrApiResource:
    options = dict(
        base_url=httpserver.url_for("/{tenant}/hr"),
        tenants=",".join(TENANTS),
        timeout_s=2.0,
        max_attempts=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
        page_size=4,
        today=TODAY,
        schedule_backfill_days=3,
        schedule_days_ahead=2,
    )
    options.update(overrides)
    return HrApiResource(**options)


@pytest.mark.parametrize(
    "bad_answer",
    [
        pytest.param({"shifts": []}, id="no-schedules-member"),
        pytest.param({"schedules": {"employee_id": "EMP-X"}}, id="schedules-not-a-list"),
    ],
)
def test_a_malformed_answer_fails_that_tenants_pull_check_and_the_rest_lands(
    tmp_path: Path, httpserver: HTTPServer, bad_answer: dict
):
    """One tenant's HR API answers without a ``schedules`` list: that tenant's pull fails its
    check (class ``protocol``) and keeps no cursor, nothing of its answer lands; the other
    tenant's shifts and the failed tenant's drop file land in the same, successful run."""
    good, bad = TENANTS[1], TENANTS[0]
    world = _serve_schedules(httpserver, good)
    httpserver.expect_request(f"/{bad}/hr/schedules").respond_with_json(bad_answer)
    dropped = {**world[bad].schedules[0], "employee_id": "EMP-DROPPED-0001"}
    drop_folder = tmp_path / "landing" / bad / "hr" / "shift_schedules"
    drop_folder.mkdir(parents=True)
    (drop_folder / "schedules_manual.jsonl").write_text(json.dumps(dropped) + "\n")

    result = _materialize(tmp_path, shift_schedules, _loopback_resource(httpserver))
    assert result.success
    check = _pull_check(result)
    assert (check.passed, check.severity, check.blocking) == (
        False,
        dg.AssetCheckSeverity.ERROR,
        False,
    )
    assert check.metadata["failed_tenants"].value == bad
    assert check.metadata["tenants_pulled"].value == 1
    failure = check.metadata["pull_failures"].value[bad]
    assert failure["failure_class"] == "protocol"
    assert "no 'schedules' list" in failure["error"]
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {good: 20, bad: 1}
    assert _query(
        tmp_path, f"select employee_id from raw.hr__shift_schedules where tenant_id = '{bad}'"
    ) == [("EMP-DROPPED-0001",)]
    assert _query(tmp_path, "select tenant_id, cursor from audit.connector_state") == [
        (good, TODAY)
    ]
    runs = dict(_query(tmp_path, "select tenant_id, status from audit.connector_runs"))
    assert runs == {bad: "pull_failed", good: "landed"}
    # The requests themselves succeeded: no dead letter, no retry, the breaker stays closed.
    assert _query(tmp_path, "select count(*) from audit.dead_letters") == [(0,)]
    assert breaker_for("hr", tenant_id=bad, entity="shift_schedules").state == "closed"


def test_one_tenants_outage_opens_its_own_breaker_only(tmp_path: Path, httpserver: HTTPServer):
    """Tenants are separate endpoints: one tenant's HR API answering 503 opens that tenant's
    breaker, whose next run's calls are rejected without a request and dead-lettered
    (``breaker_open``, 0 attempts), while the other tenant's pulls go on in both runs."""
    good, bad = TENANTS[1], TENANTS[0]
    _serve_schedules(httpserver, good)
    httpserver.expect_request(f"/{bad}/hr/schedules").respond_with_data("down", status=503)
    resource = _loopback_resource(httpserver, breaker_failure_threshold=2)
    for _ in range(2):  # the second run finds the bad tenant's breaker still open
        result = _materialize(tmp_path, shift_schedules, resource)
        assert result.success
        assert _pull_check(result).metadata["failed_tenants"].value == bad
    assert breaker_for("hr", tenant_id=bad, entity="shift_schedules").state == "open"
    assert breaker_for("hr", tenant_id=good, entity="shift_schedules").state == "closed"
    sent_to_bad = [r for r, _ in httpserver.log if r.path.startswith(f"/{bad}/")]
    assert len(sent_to_bad) == 2  # opened at the second failure; the second run sent nothing
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {good: 20}
    letters = _query(
        tmp_path,
        "select tenant_id, error_class, attempts from audit.dead_letters order by attempts desc",
    )
    assert [(t, a) for t, _, a in letters] == [(bad, 2), (bad, 0)]
    assert letters[1][1] == "breaker_open"
    runs = _query(
        tmp_path,
        "select tenant_id, status from audit.connector_runs order by finished_at, tenant_id",
    )
    assert sorted(runs) == sorted([(bad, "pull_failed"), (good, "landed")] * 2)


def test_one_entitys_outage_opens_its_own_breaker_only(tmp_path: Path, httpserver: HTTPServer):
    """Breakers, dead letters and counters are per (source, tenant, entity) (issue #13 §5): the
    tenant's schedules answering 503 opens the schedules breaker only; in the next run the
    schedules call is rejected without a request, while the same tenant's employees are pulled
    and landed in both runs, and each entity's connector run counts its own requests."""
    tenant = TENANTS[0]
    people = _world(3)[tenant].employees
    httpserver.expect_request(f"/{tenant}/hr/schedules").respond_with_data("down", status=503)
    httpserver.expect_request(f"/{tenant}/hr/employees").respond_with_json(
        {"employees": people, "total_count": len(people), "page": 1, "page_size": 4}
    )
    resource = _loopback_resource(httpserver, tenants=tenant, breaker_failure_threshold=2)
    for _ in range(2):
        for entity in (shift_schedules, employees):
            assert _materialize(tmp_path, entity, resource).success
    assert breaker_for("hr", tenant_id=tenant, entity="shift_schedules").state == "open"
    assert breaker_for("hr", tenant_id=tenant, entity="employees").state == "closed"
    paths = [r.path for r, _ in httpserver.log]
    assert paths.count(f"/{tenant}/hr/schedules") == 2  # opened at the 2nd failure, then none
    assert paths.count(f"/{tenant}/hr/employees") == 2  # one page in each run
    runs = _query(
        tmp_path,
        "select entity, status, requests, breaker_state from audit.connector_runs "
        "order by finished_at",
    )
    assert runs == [
        ("shift_schedules", "pull_failed", 2, "open"),
        ("employees", "landed", 1, "closed"),
        ("shift_schedules", "pull_failed", 0, "open"),
        ("employees", "landed", 1, "closed"),
    ]
    letters = _query(
        tmp_path,
        "select entity, error_class, attempts from audit.dead_letters order by failed_at",
    )
    assert letters == [
        ("shift_schedules", "server_error", 2),
        ("shift_schedules", "breaker_open", 0),
    ]
    assert _landed_per_tenant(tmp_path, "hr__employees") == {tenant: len(people)}


def test_three_authentication_failures_in_a_row_escalate_until_a_pull_lands(
    tmp_path: Path, httpserver: HTTPServer
):
    """003 §7.1: one tenant's HR API refuses the credentials (401) run after run. The first two
    failed pulls fail only the pull check; the third also fails the escalation check (error),
    naming the tenant, and so does every later one until a pull of that tenant lands again."""
    good, bad = TENANTS[1], TENANTS[0]
    _serve_schedules(httpserver, good)
    refused = {"now": True}

    def schedules(request: Request) -> Response:
        if refused["now"]:
            return Response('{"error": "invalid_client"}', 401)
        return Response(json.dumps({"schedules": []}), content_type="application/json")

    httpserver.expect_request(f"/{bad}/hr/schedules").respond_with_handler(schedules)
    resource = _loopback_resource(httpserver)

    def escalation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
        assert result.success
        (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == AUTH_CHECK]
        return check

    records = tmp_path / "landing" / PLATFORM_TENANT / "dagster" / "run_failures"
    seen, escalated_runs = [], []
    for _ in range(4):
        result = _materialize(tmp_path, shift_schedules, resource)
        assert _pull_check(result).metadata["pull_failures"].value[bad]["failure_class"] == (
            "unauthorized"
        )
        check = escalation(result)
        seen.append((check.passed, check.metadata["auth_failures_in_a_row"].value))
        # The alert's run-failure record: written by the escalating runs only, one per run.
        written = sorted(p.name for p in records.glob("*.json")) if records.exists() else []
        if not check.passed:
            escalated_runs.append(result.run_id)
        assert written == sorted(f"{r}.auth.hr__shift_schedules.json" for r in escalated_runs)
    assert seen == [
        (True, {bad: 1}),
        (True, {bad: 2}),
        (False, {bad: 3}),
        (False, {bad: 4}),
    ]
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["escalated_tenants"].value == bad
    # The records land through the platform source like a failed run's (integration health).
    landed = dg.materialize(
        [build_ingestion_asset(run_failures)],
        resources={"warehouse": WarehouseResource(data_dir=str(tmp_path))},
    )
    assert landed.success
    rows = _query(
        tmp_path,
        "select run_id, failed_steps, error_message from raw.dagster__run_failures order by 1",
    )
    assert [(r, steps) for r, steps, _ in rows] == sorted(
        (r, "land_hr__shift_schedules") for r in escalated_runs
    )
    assert all(
        message.startswith(f"{AUTH_CHECK}: hr/shift_schedules: authentication failed")
        and bad in message
        for _, _, message in rows
    )
    refused["now"] = False  # the credentials are fixed: the next pull lands, the count resets
    check = escalation(_materialize(tmp_path, shift_schedules, resource))
    assert (check.passed, check.metadata["auth_failures_in_a_row"].value) == (True, {})


def test_an_employee_page_whose_total_count_is_not_a_number_is_a_protocol_error(
    tmp_path: Path, httpserver: HTTPServer
):
    people = _world(2)[TENANTS[0]].employees
    httpserver.expect_request(f"/{TENANTS[0]}/hr/employees").respond_with_json(
        {"employees": people, "total_count": "two", "page": 1, "page_size": 4}
    )
    with pytest.raises(HrPullError, match="total_count 'two' is not a whole number") as raised:
        _loopback_resource(httpserver).pull(
            entity=employees,
            landing_root=tmp_path / "landing",
            tenant_id=TENANTS[0],
            cursor=None,
            log=lambda _message: None,
        )
    assert raised.value.error_class == "protocol"
    assert not (tmp_path / "landing").exists()  # nothing of that answer was written


def test_cursor_not_advanced_when_landing_fails_and_the_re_pull_lands_once(
    tmp_path: Path, server: DemoServer
):
    # An operator broke the raw table (tenant ids cannot be stored in it): landing fails after
    # the pull. (A table merely missing columns is repaired by landing, which adds the columns a
    # contract gained; see tests/landing/test_loader.py.)
    con = connect(tmp_path)
    con.execute("create schema raw; create table raw.hr__shift_schedules (tenant_id integer)")
    con.close()
    failed = _materialize(tmp_path, shift_schedules, _resource(server))
    assert not failed.success
    assert _query(tmp_path, "select count(*) from audit.connector_state") == [(0,)]
    statuses = _query(tmp_path, "select distinct status from audit.connector_runs")
    assert statuses == [("landing_failed",)]

    con = connect(tmp_path)
    con.execute("drop table raw.hr__shift_schedules")
    con.close()
    assert _materialize(tmp_path, shift_schedules, _resource(server)).success
    # Window 2025-11-15 … 2025-11-20: days 16, 17, 18 and 20 have 5 shifts each.
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {t: 20 for t in TENANTS}
    assert _query(tmp_path, "select distinct cursor from audit.connector_state") == [(TODAY,)]
    # Next day's pull starts at the stored cursor and lands no shift twice.
    assert _materialize(tmp_path, shift_schedules, _resource(server, today="2025-11-19")).success
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {t: 20 for t in TENANTS}


def test_terminated_employee_becomes_inactive(tmp_path: Path, server: DemoServer):
    assert _materialize(tmp_path, employees, _resource(server)).success
    gone = server.world[TENANTS[0]].employees.pop(4)["employee_id"]
    assert _materialize(tmp_path, employees, _resource(server, today="2025-11-19")).success

    completed = run_dbt(
        tmp_path,
        [
            "run",
            "--select",
            "stg_hr__employees",
            "stg_audit__pull_snapshots",
            "int_employees_active_by_latest_full_pull",
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    rows = _query(
        tmp_path,
        "select tenant_id, employee_id, is_active from intermediate"
        ".int_employees_active_by_latest_full_pull where not is_active",
    )
    assert rows == [(TENANTS[0], gone, False)]
    # Not deleted: still there, with every other employee active.
    counts = _query(
        tmp_path,
        "select tenant_id, count(*), count(*) filter (where is_active) from "
        "intermediate.int_employees_active_by_latest_full_pull group by 1 order by 1",
    )
    assert counts == [(TENANTS[0], 11, 10), (TENANTS[1], 11, 11)]


# -- the first pull's window: the backfill start (issue #13 item 4) -------------------------------
def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def _schedule_server(httpserver: HTTPServer, world: dict[str, TenantWorld]) -> dict[str, list]:
    """Serve ``world``'s schedules by date for every tenant; returns tenant → dates asked for."""
    asked: dict[str, list[str]] = {tenant: [] for tenant in world}

    def schedules(request: Request) -> Response:
        tenant = request.path.split("/")[1]
        asked[tenant].append(request.args["date"])
        rows = [s for s in world[tenant].schedules if s["shift_date"] == request.args["date"]]
        return Response(json.dumps({"schedules": rows}), content_type="application/json")

    httpserver.expect_request(re.compile(r"^/[^/]+/hr/schedules$")).respond_with_handler(schedules)
    return asked


def test_first_pull_backfills_from_the_configured_start_then_pulls_incrementally(
    tmp_path: Path, httpserver: HTTPServer
):
    world = _world()
    early = world[TENANTS[0]].schedules[0]
    world[TENANTS[0]].schedules += [
        {**early, "shift_date": "2025-11-01"},  # the backfill start: pulled
        {**early, "shift_date": "2025-10-31"},  # the day before: not asked for
    ]
    asked = _schedule_server(httpserver, world)
    first = _materialize(
        tmp_path, shift_schedules, _loopback_resource(httpserver, backfill_start="2025-11-01")
    )
    assert first.success and _pull_check(first).passed
    for tenant in TENANTS:  # 2025-11-01 … today (11-18) + 2 days ahead
        assert asked[tenant] == _days("2025-11-01", "2025-11-20")
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {TENANTS[0]: 21, TENANTS[1]: 20}
    runs = _query(tmp_path, "select cursor_before, cursor_after from audit.connector_runs")
    assert runs == [(None, TODAY), (None, TODAY)]

    # The next day's pull starts at the stored cursor: the backfill start no longer applies.
    for dates in asked.values():
        dates.clear()
    later = _loopback_resource(httpserver, backfill_start="2025-11-01", today="2025-11-19")
    assert _materialize(tmp_path, shift_schedules, later).success
    for tenant in TENANTS:
        assert asked[tenant] == _days(TODAY, "2025-11-21")
    assert _landed_per_tenant(tmp_path, "hr__shift_schedules") == {TENANTS[0]: 21, TENANTS[1]: 20}


def test_without_a_backfill_start_the_first_pull_goes_30_days_back(
    tmp_path: Path, httpserver: HTTPServer
):
    asked = _schedule_server(httpserver, _world())
    resource = HrApiResource(
        base_url=httpserver.url_for("/{tenant}/hr"), tenants=TENANTS[0], today=TODAY
    )
    batch = resource.pull(
        entity=shift_schedules,
        landing_root=tmp_path,
        tenant_id=TENANTS[0],
        cursor=None,
        log=lambda _m: None,
    )
    assert asked[TENANTS[0]] == _days("2025-10-19", "2025-11-25")  # today −30 … today +7
    assert (batch.metadata["from"], batch.metadata["backfill"]) == ("2025-10-19", True)
    assert batch.next_cursor == TODAY


def test_backfill_start_from_the_environment_and_checked(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TRACELOOM_HR_API_URL", "https://hr.example.com/{tenant}")
    monkeypatch.setenv("TRACELOOM_HR_API_BACKFILL_START", "2025-09-01")
    assert hr_api_from_env().backfill_start == "2025-09-01"
    monkeypatch.setenv("TRACELOOM_HR_API_BACKFILL_START", "01.09.2025")
    with pytest.raises(ValueError, match="TRACELOOM_HR_API_BACKFILL_START must be an ISO date"):
        hr_api_from_env()
    monkeypatch.delenv("TRACELOOM_HR_API_BACKFILL_START")
    assert hr_api_from_env().backfill_start == ""

    def first_pull(backfill_start: str):
        resource = HrApiResource(
            base_url="http://127.0.0.1:9/{tenant}",
            tenants=TENANTS[0],
            today=TODAY,
            backfill_start=backfill_start,
        )
        return resource.pull(
            entity=shift_schedules,
            landing_root=tmp_path,
            tenant_id=TENANTS[0],
            cursor=None,
            log=lambda _m: None,
        )

    with pytest.raises(ValueError, match="after today 2025-11-18"):
        first_pull("2025-11-19")
    with pytest.raises(ValueError, match="must be an ISO date"):
        first_pull("2025-13-01")
