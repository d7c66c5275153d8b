"""BI readers' connections (issue #16 §3), built exactly as Superset's connection hook builds
them: a tenant reader's reaches its tenant's masked export partitions and nothing else; users
and roles come from the environment."""

from __future__ import annotations

import duckdb
import pytest

from traceloom_pipelines import bi_access
from traceloom_pipelines.landing.warehouse import connect, run
from traceloom_pipelines.marts_export import export_mart

HASH = "scrypt:32768:8:1$salt$0123abcd"


@pytest.fixture
def marts_dir(tmp_path):
    """Two exported marts: ``dim_people`` with rows of acme, acme-x (a tenant whose name
    starts like acme's) and borealis; ``fct_only_borealis`` with borealis rows only."""
    con = connect(tmp_path)
    run(con, "create schema if not exists marts")
    run(
        con,
        "create table marts.dim_people as select * from (values ('acme', 'p1', 1), "
        "('acme-x', 'p2', 2), ('borealis', 'p3', 3)) v(tenant_id, person, n)",
    )
    run(con, "create table marts.fct_only_borealis as select 'borealis' as tenant_id, 9 as n")
    for mart in ("dim_people", "fct_only_borealis"):
        export_mart(con, "marts", mart, tmp_path / "marts")
    con.close()
    return tmp_path / "marts"


def test_a_tenant_connection_reads_its_partitions_only(marts_dir):
    con = bi_access.tenant_connection(marts_dir, ("acme",))
    assert con.sql("select tenant_id, person, n from marts.dim_people").fetchall() == [
        ("acme", "p1", 1)
    ]
    # a mart without a row of the tenant: its columns, no row
    assert con.sql("select * from marts.fct_only_borealis").fetchall() == []
    assert [c[0] for c in con.sql("describe marts.fct_only_borealis").fetchall()] == [
        "n",
        "tenant_id",
    ]
    version = (marts_dir / "dim_people").resolve()
    attempts = [
        f"select * from read_parquet('{marts_dir}/dim_people/tenant_id=borealis/*.parquet')",
        f"select * from read_parquet('{marts_dir}/dim_people/tenant_id=acme-x/*.parquet')",
        f"select * from read_parquet('{marts_dir}/dim_people/tenant_id=acme*/*.parquet')",
        f"select * from read_parquet('{marts_dir}/dim_people/tenant_id=acme/../"
        "tenant_id=borealis/*.parquet')",
        f"select * from read_parquet('{version}/tenant_id=borealis/*.parquet')",
        f"select * from glob('{marts_dir}/*')",
        f"attach '{marts_dir}/../lake/catalog.sqlite' as c (type sqlite)",
        f"copy marts.dim_people to '{marts_dir}/leak.csv'",
        "set enable_external_access = true",
        "set allowed_directories = ['/']",
        "reset lock_configuration",
        "load ducklake",
    ]
    for sql in attempts:
        with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)):
            con.sql(sql).fetchall()
    assert not (marts_dir / "leak.csv").exists()


def test_before_the_first_export_a_tenant_reader_reads_nothing(tmp_path):
    con = bi_access.tenant_connection(tmp_path / "marts", ("acme",))
    assert con.sql("select count(*) from duckdb_tables() where not internal").fetchall() == [(0,)]
    with pytest.raises(duckdb.PermissionException):
        con.sql(f"select * from glob('{tmp_path}/*')").fetchall()


def test_a_reader_of_two_tenants_reads_both(marts_dir):
    con = bi_access.tenant_connection(marts_dir, ("acme", "borealis"))
    assert sorted(con.sql("select tenant_id from marts.dim_people").fetchall()) == [
        ("acme",),
        ("borealis",),
    ]
    assert con.sql("select n from marts.fct_only_borealis").fetchall() == [(9,)]


def test_roles_decide_the_reader_and_no_role_reads_nothing():
    assert bi_access.reader_of(["Gamma", "TraceLoom tenant acme"]) == (False, ("acme",))
    assert bi_access.reader_of(["Gamma", "TraceLoom PII", "TraceLoom tenant acme"]) == (True, ())
    assert bi_access.reader_of(["Admin"]) == (True, ())
    for roles in (["Gamma", "sql_lab", "TraceLoom reader"], ["TraceLoom tenant ../x"]):
        with pytest.raises(bi_access.BiAccessDenied):
            bi_access.reader_of(roles)


def test_users_come_from_the_environment_and_bad_entries_are_refused():
    users = bi_access.load_users(
        {bi_access.USERS_ENV: f"ada:reader:acme+borealis:{HASH}, dpo:pii:*:{HASH}"}
    )
    assert [(u.name, u.access, u.tenants) for u in users] == [
        ("ada", "reader", ("acme", "borealis")),
        ("dpo", "pii", ()),
    ]
    assert users[0].password_hash == HASH
    assert users[0].roles() == (
        "TraceLoom reader",
        "TraceLoom tenant acme",
        "TraceLoom tenant borealis",
    )
    assert users[1].roles() == ("TraceLoom reader", "TraceLoom PII")
    assert bi_access.load_users({}) == ()
    bad = {
        f"ada:reader:acme:{HASH},ada:reader:b:{HASH}": "appears twice",
        f"ada:pii:acme:{HASH}": "every tenant",
        f"ada:admin:acme:{HASH}": "must be 'reader' or 'pii'",
        f"ada:reader::{HASH}": "tenants of 'ada'",
        f"ada:reader:../etc:{HASH}": "tenants of 'ada'",
        "ada:reader:acme:plaintext-password": "not a Werkzeug hash",
        "ada:reader": "must be user:reader",
    }
    for spec, message in bad.items():
        with pytest.raises(ValueError, match=message) as error:
            bi_access.parse_users(spec)
        assert "plaintext-password" not in str(error.value) and "salt" not in str(error.value)
