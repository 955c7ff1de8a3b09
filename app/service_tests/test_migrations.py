from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from service.migrate import alembic_config, upgrade_head
from service.models import Base
from service_tests.cli import run_service, service_env
from service_tests.testbed import database, make_settings
from testservers import MariaDB, RedisServer, free_port

ALEMBIC_VERSION_TABLE = "alembic_version"  # where Alembic records the revision a database is at


@pytest.fixture
def empty_db(mariadb: MariaDB, request: pytest.FixtureRequest) -> str:
    # One database per test, named after it: distinct, and the same on every run.
    name = "mig_" + str(request.node.name).removeprefix("test_")[:60]
    mariadb.create_database(name)
    return name


def cli_env(mariadb: MariaDB, tmp_path: Path, db_name: str, **extra: str) -> dict[str, str]:
    (tmp_path / "db_password").write_text(mariadb.password + "\n")
    values = {"db_host": "127.0.0.1", "db_port": str(mariadb.port), "db_name": db_name, "db_user": mariadb.user}
    return service_env(tmp_path, api_keys="k", **{**values, **extra})


def tables(mariadb: MariaDB, db_name: str) -> set[str]:
    with database(mariadb, db_name) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        return {row[0] for row in cur.fetchall()}


def test_migrate_command_creates_the_models_tables_on_an_empty_database(
    mariadb: MariaDB, empty_db: str, tmp_path: Path
) -> None:
    result = run_service(["migrate"], cli_env(mariadb, tmp_path, empty_db))
    assert result.returncode == 0, result.stderr
    assert tables(mariadb, empty_db) == {*Base.metadata.tables, ALEMBIC_VERSION_TABLE}


def test_migrate_command_run_twice_is_a_no_op_at_the_head_revision(
    mariadb: MariaDB, redis_server: RedisServer, empty_db: str, tmp_path: Path
) -> None:
    env = cli_env(mariadb, tmp_path, empty_db)
    first, second = run_service(["migrate"], env), run_service(["migrate"], env)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    head = ScriptDirectory.from_config(
        alembic_config(make_settings(mariadb, redis_server, tmp_path))
    ).get_current_head()
    with database(mariadb, empty_db) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")  # noqa: S608 - a constant name
        assert cur.fetchall() == ((head,),)


def test_migrate_command_exits_1_without_a_database_saying_so_in_one_line(mariadb: MariaDB, tmp_path: Path) -> None:
    result = run_service(["migrate"], cli_env(mariadb, tmp_path, "nowhere", db_port=str(free_port())))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert mariadb.password not in result.stdout + result.stderr


def test_models_match_migrations(mariadb: MariaDB, redis_server: RedisServer, empty_db: str, tmp_path: Path) -> None:
    settings = make_settings(mariadb, redis_server, tmp_path, db_name=empty_db)
    upgrade_head(settings)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def compare() -> list[object]:
        engine = create_async_engine(settings.database_url())
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(compare()) == []
