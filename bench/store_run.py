"""How long finding a thread's conversation takes among many stored threads.

The database is created by ``bot.store.Store`` (the real Alembic migrations, so the
real unique index), filled with sqlite3 in one transaction (fast, same rows the bot
would write), then ``Store.find_thread`` -- the call the Slack adapter makes for every
thread reply without a mention -- is timed for random stored keys.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import summary
from bot.models import ThreadKey
from bot.store import Store

LOOKUPS = 5_000


def _key(n: int) -> ThreadKey:
    # Slack-shaped: a few thousand channels, thread ts unique per thread.
    return ThreadKey("slack", "T0001", f"C{n % 5000:08d}", f"{1_700_000_000 + n}.{n % 997:06d}")


def _fill(path: Path, rows: int) -> float:
    started = time.monotonic()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    batch = 50_000
    with conn:
        for start in range(0, rows, batch):
            conn.executemany(
                "INSERT INTO threads (platform, scope, channel, thread, epoch, conversation_id,"
                " created_at, last_active_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                (
                    (k.platform, k.scope, k.channel, k.thread, f"conv_{n:032x}", now, now)
                    for n in range(start, min(rows, start + batch))
                    for k in (_key(n),)
                ),
            )
    conn.execute("ANALYZE")
    conn.close()
    return time.monotonic() - started


def _raw_lookups(path: Path, keys: list[ThreadKey]) -> tuple[list[float], str]:
    conn = sqlite3.connect(path)
    sql = (
        "SELECT * FROM threads WHERE platform = ? AND scope = ? AND channel = ? AND thread = ?"
        " ORDER BY epoch DESC LIMIT 1"
    )
    plan = " | ".join(
        str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, ("", "", "", ""))
    )
    times = []
    for k in keys:
        t = time.perf_counter()
        conn.execute(sql, (k.platform, k.scope, k.channel, k.thread)).fetchone()
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    return times, plan


async def run_store_lookup(*, rows: int, lookups: int = LOOKUPS) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-store-"))
    path = workdir / "threads.db"
    try:
        store = await Store.open(f"sqlite:///{path}")
        await store.close()
        fill_seconds = await asyncio.to_thread(_fill, path, rows)
        rng = random.Random(11)
        keys = [_key(rng.randrange(rows)) for _ in range(lookups)]
        store = await Store.open(f"sqlite:///{path}")
        try:
            for k in keys[:100]:  # warm the pool and the page cache
                await store.find_thread(k)
            times = []
            found = 0
            for k in keys:
                t = time.perf_counter()
                row = await store.find_thread(k)
                times.append((time.perf_counter() - t) * 1000)
                found += row is not None and row.key == k
            missing = []
            for n in range(500):
                t = time.perf_counter()
                await store.find_thread(_key(rows + n))
                missing.append((time.perf_counter() - t) * 1000)
        finally:
            await store.close()
        raw, plan = await asyncio.to_thread(_raw_lookups, path, keys)
        size_mb = round(path.stat().st_size / 1024 / 1024, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "rows": rows,
        "db_size_mb": size_mb,
        "fill_seconds": round(fill_seconds, 1),
        "lookups": lookups,
        "found": found,
        "find_thread_ms": summary(times, 3),
        "find_thread_missing_ms": summary(missing, 3),
        "raw_sqlite_query_ms": summary(raw, 3),
        "query_plan": plan,
    }
