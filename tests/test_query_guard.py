"""Report queries may not call functions that reach past the data a source gives them
(``dblink_exec`` escapes the read-only transaction, ``pg_read_file`` and ``LOAD_FILE`` read
the server's files), refused by name at save and again at run, on the real databases; and the
save-time check stops at the source's timeout."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from broadsheet import models
from broadsheet.config import Settings
from broadsheet.datasources import connector, query, sqlguard
from broadsheet.kit import dburl
from tests.conftest import service_missing
from tests.factories import Caller, Tenancy, report_body
from tests.jobs.helpers import run

SOURCES = "/api/v1/datasources"
REPORTS = "/api/v1/reports"


@pytest.fixture
def admin(client: TestClient, tenancy: Tenancy) -> Caller:
    return tenancy.key("acme")


def env_url(name: str, what: str) -> str:
    url = os.environ.get(name, "")
    if not url:
        service_missing(f"{what} ({name})")
    return url


def add_source(client: TestClient, admin: Caller, name: str, url: str, **extra: Any) -> None:
    made = client.post(SOURCES, json={"name": name, "url": url, **extra}, headers=admin.headers)
    assert made.status_code == 201, made.text


def save(client: TestClient, admin: Caller, source: str, sql: str) -> Any:
    body = report_body(
        name=f"Probe {uuid.uuid4()}",
        dataSource=source,
        query=sql,
        parameters=[],
        visualizations=[],
    )
    return client.post(REPORTS, json=body, headers=admin.headers)


def assert_refused(response: Any, *words: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "query", error
    for word in words:
        assert word in error["message"], error


def table_exists(url: str, name: str) -> bool:
    engine = create_engine(dburl.normalize(url))
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None
    finally:
        engine.dispose()


@pytest.fixture
def pg_with_dblink() -> str:
    """The test PostgreSQL database, as a superuser source, with the dblink extension."""
    url = env_url("BROADSHEET_TEST_DATABASE_URL", "PostgreSQL")
    engine = create_engine(dburl.normalize(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS dblink"))
    finally:
        engine.dispose()
    return url


def dblink_exec_sql(url: str, table: str) -> str:
    target = dburl.normalize(url)
    conninfo = f"host={target.host} port={target.port or 5432} dbname={target.database}"
    conninfo += f" user={target.username}"
    return f"SELECT dblink_exec('{conninfo}', 'CREATE TABLE {table} (x int)') AS r"


def test_dblink_is_refused_at_save_in_any_spelling(
    client: TestClient, admin: Caller, pg_with_dblink: str
) -> None:
    add_source(client, admin, "pg", pg_with_dblink)
    table = f"pwned_{uuid.uuid4().hex[:8]}"
    for sql in (
        dblink_exec_sql(pg_with_dblink, table),
        "SELECT * FROM public.dblink('dbname=x', 'SELECT 1') AS t(x int)",
        "SELECT \"DBLINK_CONNECT\"('c', 'dbname=x') AS r",
        "SELECT x FROM LATERAL dblink_send_query('c', 'SELECT 1') AS t(x)",
        "SELECT PUBLIC.Dblink_Exec('dbname=x', 'DROP TABLE t') AS r",
        "SELECT postgres_fdw_get_connections() AS r",
    ):
        assert_refused(save(client, admin, "pg", sql), "not authorized")
    assert not table_exists(pg_with_dblink, table)
    # dblink itself works on this server: the guard, not a missing extension, refused them.
    assert save(client, admin, "pg", "SELECT extname FROM pg_extension").status_code == 201


def test_dblink_exec_is_refused_at_run_and_creates_nothing(
    client: TestClient, admin: Caller, pg_with_dblink: str, sessions: sessionmaker[Session]
) -> None:
    """A report saved before the rule (its query changed in the database behind the API's
    back) still cannot escape the read-only transaction when it runs."""
    run_behind_the_apis_back(
        client, admin, pg_with_dblink, sessions, dblink_exec_sql, "dblink_exec()"
    )


def run_behind_the_apis_back(
    client: TestClient,
    admin: Caller,
    url: str,
    sessions: sessionmaker[Session],
    make_sql: Callable[[str, str], str],
    refused: str,
) -> None:
    """Save a harmless report, change its query in the database to ``make_sql(url, table)``
    and run it: the job fails naming ``refused`` and the table is never created."""
    add_source(client, admin, "pg", url)
    saved = save(client, admin, "pg", "SELECT 1 AS r")
    assert saved.status_code == 201, saved.text
    table = f"pwned_{uuid.uuid4().hex[:8]}"
    with sessions.begin() as session:
        session.execute(
            update(models.ReportDefinition)
            .where(models.ReportDefinition.id == uuid.UUID(saved.json()["id"]))
            .values(query=make_sql(url, table))
        )
    job = run(client, admin, saved.json()["id"], {})
    assert job["status"] == "failed", job
    assert f"{refused} is not authorized" in job["error"], job
    assert not table_exists(url, table)


PG_FILE_QUERIES = [
    "SELECT pg_read_file('/etc/hostname') AS f",
    "SELECT pg_catalog.PG_READ_FILE('/etc/hostname') AS f",
    "SELECT \"pg_read_file\"('/etc/hostname') AS f",
    "SELECT pg_catalog.\"pg_read_binary_file\"('/etc/hostname') AS f",
    "SELECT * FROM pg_ls_dir('.') AS f",
    "SELECT f FROM pg_catalog.pg_ls_waldir() AS f",
    "SELECT * FROM pg_ls_logdir() AS f",
    "SELECT * FROM pg_ls_tmpdir() AS f",
    "SELECT * FROM pg_ls_archive_statusdir() AS f",
    "SELECT (pg_stat_file('PG_VERSION')).size AS f",
    "SELECT lo_import('/etc/hostname') AS f",
    "SELECT lo_export(1, '/tmp/x') AS f",
    "SELECT lo_get(1) AS f",
    "SELECT query_to_xml('SELECT pg_read_file(''/etc/hostname'')', true, false, '') AS f",
    "SELECT x FROM (SELECT 1 AS x) AS t WHERE EXISTS (SELECT pg_read_file('/etc/hostname'))",
]


def test_postgres_file_functions_are_refused(client: TestClient, admin: Caller) -> None:
    add_source(client, admin, "pg", env_url("BROADSHEET_TEST_DATABASE_URL", "PostgreSQL"))
    for sql in PG_FILE_QUERIES:
        assert_refused(save(client, admin, "pg", sql), "not authorized")
    # PostgreSQL reads U&"pg\005fread_file" as pg_read_file; the parser does not: refused.
    assert_refused(
        save(client, admin, "pg", "SELECT U&\"pg\\005fread_file\"('/etc/hostname') AS f"),
        "plainly",
    )
    # Ordinary functions (and a column that happens to share a name) are fine.
    ordinary = "SELECT upper('a') AS lo_get, left('abc', 2) AS b, now() AS c, count(*) AS d"
    assert save(client, admin, "pg", ordinary).status_code == 201


def attribute_dblink_sql(url: str, table: str) -> str:
    """dblink without a call in sight: PostgreSQL reads ``x.f`` as ``f(x)``."""
    target = dburl.normalize(url)
    conninfo = f"host={target.host} port={target.port or 5432} dbname={target.database}"
    conninfo += f" user={target.username}"
    return (
        f"SELECT ('{conninfo}'::text).dblink_connect AS a,"
        f" ('CREATE TABLE {table} (x int)'::text).dblink_exec AS b"
    )


# PostgreSQL's attribute notation: x.f is f(x) when x has no column f. Each of these ran on a
# superuser source before the names after a dot were checked too.
PG_ATTRIBUTE_QUERIES = [
    "SELECT ('/etc/hostname'::text).pg_read_file AS f",
    "SELECT d FROM (SELECT ('/'::text).pg_ls_dir AS d) x",
    "SELECT ('PG_VERSION'::text).pg_stat_file AS f",
    "SELECT ('/etc/hostname'::text).\"pg_read_file\" AS f",
    "SELECT ('/etc/hostname'::text) . pg_read_binary_file AS f",
    "SELECT (ARRAY['/etc/hostname'])[1].pg_read_file AS f",
    "SELECT t.pg_read_file AS f FROM unnest(ARRAY['/etc/hostname']) AS t",
    "SELECT t.\"pg_read_file\" AS f FROM unnest(ARRAY['/etc/hostname']) AS t(p)",
    "SELECT x FROM unnest(ARRAY['/etc/hostname']) AS t(x) WHERE t.pg_read_file <> ''",
    "SELECT ((SELECT '/etc/passwd'::text)).lo_import AS f",
]


def test_attribute_notation_is_refused_at_save(
    client: TestClient, admin: Caller, pg_with_dblink: str
) -> None:
    add_source(client, admin, "pg", pg_with_dblink)
    for sql in PG_ATTRIBUTE_QUERIES:
        assert_refused(save(client, admin, "pg", sql), "not authorized", "x.")
    table = f"pwned_{uuid.uuid4().hex[:8]}"
    sql = attribute_dblink_sql(pg_with_dblink, table)
    assert_refused(save(client, admin, "pg", sql), "dblink_connect() is not authorized")
    assert not table_exists(pg_with_dblink, table)
    # The parser reads t.U&"pg\005fread_file" as t.U & "…"; PostgreSQL as t.pg_read_file.
    escaped = "SELECT t.U&\"pg\\005fread_file\" AS f FROM unnest(ARRAY['/etc/hostname']) AS t"
    assert_refused(save(client, admin, "pg", escaped), "plainly")
    # Ordinary qualified columns and fields, and a refused name as a bare column, are fine.
    for sql in (
        'SELECT t.relname, (t).oid, t."relkind" AS "Kind" FROM pg_class AS t LIMIT 1',
        "SELECT lo_qty FROM (SELECT 1 AS lo_qty) AS s",
        "SELECT u & 3 AS b FROM (SELECT 1 AS u) AS s",
    ):
        assert save(client, admin, "pg", sql).status_code == 201, sql


def test_attribute_notation_is_refused_at_run(
    client: TestClient, admin: Caller, pg_with_dblink: str, sessions: sessionmaker[Session]
) -> None:
    """Through the query runner on a superuser source (each would run there), and through a
    job whose saved query was changed behind the API's back: nothing is read or created."""
    engine = connector.make_source_engine(connector.parse_source_url(pg_with_dblink, []))
    try:
        for sql in PG_ATTRIBUTE_QUERIES:
            with pytest.raises(query.QueryFailed, match="is not authorized"):
                list(query.stream(engine, sql, {}, query.Limits(10, 1000)))
    finally:
        engine.dispose()
    run_behind_the_apis_back(
        client, admin, pg_with_dblink, sessions, attribute_dblink_sql, "dblink_connect()"
    )


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SELECT s.dblink_exec FROM s", True),  # the one-argument members of dblink*
        ("SELECT (s).pg_ls_dir FROM s", True),
        ('SELECT (s)."LO_GET" FROM s', True),  # quoted, any case: like function names
        ("SELECT t.lo, s.dblink_id FROM t JOIN s ON s.id = t.id", False),  # no such function
        ("SELECT o.lo_limit, o.hi_limit, o.pg_ls_anything FROM orders o", False),
        ("SELECT cat.sch.s.pg_read_file FROM cat.sch.s", True),
        ("SELECT dblink_id, lo_qty FROM s", False),  # a bare name is never a call
        ("SELECT s.customer_dblink, s.pg_read_files_count FROM s", False),  # not the name
        ('SELECT s.name, s."Order Date", (s).total FROM s', False),
    ],
)
def test_names_after_a_dot_match_the_table_on_postgres_only(sql: str, refused: bool) -> None:
    if refused:
        with pytest.raises(sqlguard.UnsafeQuery, match="PostgreSQL calls a function written"):
            sqlguard.check_read_only(sql, "postgresql")
    else:
        sqlguard.check_read_only(sql, "postgresql")
    sqlguard.check_read_only(sql, "mysql")  # MySQL has no attribute notation


def test_mariadb_load_file_is_refused(client: TestClient, admin: Caller) -> None:
    add_source(client, admin, "maria", env_url("BROADSHEET_TEST_MYSQL_URL", "MariaDB"))
    for sql in (
        "SELECT LOAD_FILE('/etc/hostname') AS f",
        "SELECT load_file ('/etc/hostname') AS f",
        "SELECT `Load_File`('/etc/hostname') AS f",
        "SELECT x FROM (SELECT LOAD_FILE('/etc/hostname') AS x) AS t",
    ):
        assert_refused(save(client, admin, "maria", sql), "load_file() is not authorized")
    for sql in (
        "SELECT 1 AS x INTO OUTFILE '/tmp/bs-out'",
        "SELECT 1 AS x INTO DUMPFILE '/tmp/bs-out'",
        "LOAD DATA INFILE '/etc/hostname' INTO TABLE t",
    ):
        assert save(client, admin, "maria", sql).status_code == 422, sql
    assert save(client, admin, "maria", "SELECT UPPER('a') AS a").status_code == 201


@pytest.mark.parametrize(
    ("backend", "sql"),
    [
        ("postgresql", "SELECT dblink_disconnect() AS r"),
        ("postgresql", "SELECT * FROM dblink_get_result('c') AS t(x int)"),
        ("postgresql", "SELECT pg_ls_logicalsnapdir() AS r"),
        ("postgresql", "SELECT lo_from_bytea(0, 'x') AS r"),
        ("postgresql", "SELECT file_fdw_handler() AS r"),
        ("postgresql", "SELECT ts_stat('SELECT 1') AS r"),
        ("mysql", "SELECT MYSQL.LOAD_FILE('/etc/hostname') AS f"),
        ("mariadb", "SELECT load_file(concat('/etc/', 'hostname')) AS f"),
        ("sqlite", "SELECT readfile('/etc/hostname') AS f"),
        ("sqlite", "SELECT \"WriteFile\"('/tmp/x', 'y') AS f"),
        ("sqlite", "SELECT [load_extension]('/tmp/x') AS f"),
    ],
)
def test_the_table_is_matched_on_the_name_alone(backend: str, sql: str) -> None:
    with pytest.raises(sqlguard.UnsafeQuery, match="is not authorized"):
        sqlguard.check_read_only(sql, backend)


def test_sqlite_file_functions_are_denied_on_every_connection(tmp_path: Path) -> None:
    """The CLI shell's readfile() is not in Python's SQLite; should one appear (an extension,
    a view in a tenant's file calling it), the authorizer still refuses it."""
    engine = connector.make_source_engine(
        connector.parse_source_url(f"sqlite:///{tmp_path / 'src.db'}", [tmp_path])
    )
    sqlite3.connect(tmp_path / "src.db").close()
    try:
        with engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            raw.create_function("readfile", 1, lambda p: Path(p).read_bytes())
            with pytest.raises(OperationalError, match="not authorized"):
                conn.execute(text("SELECT readfile('/etc/hostname')"))
    finally:
        engine.dispose()


def test_the_save_check_stops_at_the_sources_timeout_on_sqlite(
    client: TestClient, admin: Caller, settings: Settings
) -> None:
    """``LIMIT 0`` does not keep SQLite from building a MATERIALIZED CTE joined to itself:
    about 5 s here, on a source whose statements may take 1 s."""
    path = settings.source_dirs_for("acme")[0] / f"{uuid.uuid4()}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).execute("CREATE TABLE t (x INTEGER)").connection.commit()
    add_source(client, admin, "slow", f"sqlite:///{path}", statementTimeoutSeconds=1)
    sql = (
        "WITH RECURSIVE c(x) AS MATERIALIZED ("
        "SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000) "
        "SELECT a.x FROM c AS a JOIN c AS b ON a.x = b.x"
    )
    started = time.monotonic()
    response = save(client, admin, "slow", sql)
    took = time.monotonic() - started
    assert_refused(response, "took longer than 1 s to check")
    assert took < 3, took
    # The source is usable afterwards: its connection was not left interrupted.
    assert save(client, admin, "slow", "SELECT x FROM t").status_code == 201


def test_the_save_check_stops_at_the_sources_timeout_on_mariadb(
    client: TestClient, admin: Caller
) -> None:
    url = env_url("BROADSHEET_TEST_MYSQL_URL", "MariaDB")
    add_source(client, admin, "maria", url, statementTimeoutSeconds=1)
    started = time.monotonic()
    response = save(client, admin, "maria", "SELECT SLEEP(5) AS s")
    assert_refused(response, "took longer than 1 s to check")
    assert time.monotonic() - started < 4


def test_every_refused_function_postgres_can_call_as_x_dot_f_is_matched_after_a_dot(
    pg_with_dblink: str,
) -> None:
    """The server's own catalogue (dblink and postgres_fdw installed) against the guard:
    each refused function callable with one argument is refused when written ``x.f``."""
    engine = create_engine(dburl.normalize(pg_with_dblink))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgres_fdw"))
            names = conn.scalars(
                text(
                    "SELECT DISTINCT proname FROM pg_proc"
                    " WHERE pronargs >= 1 AND pronargs - pronargdefaults <= 1"
                )
            ).all()
    finally:
        engine.dispose()
    refused = sqlguard.REFUSED_FUNCTIONS["postgresql"]
    callable_so = [n for n in names if any(fnmatchcase(n, p) for p in refused)]
    assert "dblink_exec" in callable_so and "lo_import" in callable_so  # the catalogue read
    for name in callable_so:
        with pytest.raises(sqlguard.UnsafeQuery, match="PostgreSQL calls a function written"):
            sqlguard.check_read_only(f"SELECT t.{name} FROM t", "postgresql")
