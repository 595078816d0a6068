"""A `database_url` fixture over both databases: SQLite (a file) and PostgreSQL.

Import it into a test module to run that module's tests on both. PostgreSQL needs
TEST_POSTGRES_URL (an admin URL; `.ci/postgres.sh` starts a server and prints one);
each test gets a database of its own. Under CI a missing server is an error, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'threadbridge.db'}"
        return
    admin = os.environ.get("TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set (see .ci/postgres.sh)")
        pytest.skip("no PostgreSQL server: set TEST_POSTGRES_URL (see .ci/postgres.sh)")
    name = f"tb_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield admin.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
