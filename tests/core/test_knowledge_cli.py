"""`threadbridge knowledge ...` and the console with files, as a user runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.core.test_config import run_cli
from tests.emulators.openai import Reply


def env_for(emulator: Any, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-kb-test-123456",
        "OPENAI_BASE_URL": emulator.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kb.db'}",
        **extra,
    }


async def test_knowledge_add_list_remove_and_search(openai_emulator: Any, tmp_path: Path) -> None:
    env = env_for(openai_emulator, tmp_path)
    (tmp_path / "handbook.md").write_text("# Handbook\nVacation: 30 days.")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF broken")
    openai_emulator.fail_indexing("broken.pdf")

    code, out, err = await run_cli(
        "knowledge", "add", "handbook.md", "broken.pdf", "missing.txt", env=env, cwd=tmp_path
    )
    assert code == 1, err
    lines = out.splitlines()
    assert lines[0] == "FAILED missing.txt: no such file"
    assert lines[1] == "ok     handbook.md: indexed"
    assert lines[2].startswith("FAILED broken.pdf: indexing failed")
    (store_id,) = openai_emulator.vector_stores
    assert [
        f.file_id
        for f in openai_emulator.vector_stores[store_id].files.values()
        if f.status == "completed"
    ]

    code, out, _ = await run_cli("knowledge", "list", env=env, cwd=tmp_path)
    assert code == 0
    assert out.startswith("handbook.md\tcompleted")
    assert "broken.pdf" not in out

    # The assistant's file_search tool now uses the knowledge base.
    openai_emulator.script(Reply(text="30 days", file_search="vacation"))
    code, out, _ = await run_cli("console", env=env, cwd=tmp_path, stdin=b"vacation?\n")
    assert code == 0
    assert out.splitlines()[-1] == "Sources: handbook.md"
    body = openai_emulator.responses_requests()[-1].body
    assert {"type": "file_search", "vector_store_ids": [store_id]} in body["tools"]

    code, out, _ = await run_cli("knowledge", "remove", "handbook.md", env=env, cwd=tmp_path)
    assert (code, out.strip()) == (0, "removed 1 file(s) named handbook.md")
    code, out, _ = await run_cli("knowledge", "list", env=env, cwd=tmp_path)
    assert "handbook.md" not in out
    with sqlite3.connect(tmp_path / "kb.db") as db:
        stored = db.execute("SELECT value FROM kv WHERE key = 'knowledge.vector_store_id'")
        assert stored.fetchall() == [(store_id,)]


async def test_each_assistant_has_its_knowledge_base_and_a_shared_file_is_uploaded_once(
    openai_emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "assistants.toml").write_text(
        """
[[assistant]]
name = "staff"
model = "m-staff"
instructions = "Internal."
default = true

[[assistant]]
name = "customers"
model = "m-customers"
instructions = "Public."
channels = ["console"]
"""
    )
    env = env_for(
        openai_emulator, tmp_path, THREADBRIDGE_ASSISTANTS_FILE=str(tmp_path / "assistants.toml")
    )
    (tmp_path / "product.md").write_text("# Product\nIt costs 10 EUR.")
    (tmp_path / "salaries.md").write_text("# Salaries\nConfidential.")
    for who, files in (("staff", ["product.md", "salaries.md"]), ("customers", ["product.md"])):
        code, out, err = await run_cli(
            "knowledge", "--assistant", who, "add", *files, env=env, cwd=tmp_path
        )
        assert code == 0, (out, err)
    # product.md went up once and is in both vector stores; salaries.md only in staff's.
    assert sorted(f.filename for f in openai_emulator.files.values()) == [
        "product.md",
        "salaries.md",
    ]
    code, out, _ = await run_cli(
        "knowledge", "--assistant", "customers", "list", env=env, cwd=tmp_path
    )
    assert [line.split("\t")[0] for line in out.splitlines()] == ["product.md"]
    code, out, _ = await run_cli("knowledge", "--assistant", "staff", "list", env=env, cwd=tmp_path)
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == ["product.md", "salaries.md"]

    # The console is bound to "customers": its requests search its knowledge base only.
    openai_emulator.script(Reply(text="10 EUR", file_search="price"))
    code, out, _ = await run_cli("console", env=env, cwd=tmp_path, stdin=b"price?\n")
    assert code == 0
    body = openai_emulator.responses_requests()[-1].body
    assert body["model"] == "m-customers"
    (search,) = [t for t in body["tools"] if t["type"] == "file_search"]
    customers_store = search["vector_store_ids"][0]
    files = openai_emulator.vector_stores[customers_store].files.values()
    assert [openai_emulator.files[f.file_id].filename for f in files] == ["product.md"]

    # The console's /help lists the assistants there and the tools of its own.
    code, out, _ = await run_cli("console", env=env, cwd=tmp_path, stdin=b"/help\n")
    assert code == 0
    assert "assistants: customers (answers here), staff" in out
    assert "tools: file search" in out

    # Removing it from one assistant keeps the file for the other.
    code, out, _ = await run_cli(
        "knowledge", "--assistant", "customers", "remove", "product.md", env=env, cwd=tmp_path
    )
    assert code == 0, out
    assert "product.md" in [f.filename for f in openai_emulator.files.values()]
    code, out, err = await run_cli(
        "knowledge", "--assistant", "nobody", "list", env=env, cwd=tmp_path
    )
    assert code == 2 and "no assistant 'nobody' (there are: staff, customers)" in err


async def test_console_attaches_files_and_saves_generated_ones(
    openai_emulator: Any, tmp_path: Path
) -> None:
    env = env_for(
        openai_emulator,
        tmp_path,
        THREADBRIDGE_CODE_INTERPRETER="true",
        THREADBRIDGE_OUTPUT_DIR=str(tmp_path / "out"),
    )
    (tmp_path / "sales.csv").write_text("month,total\njan,10\n")
    openai_emulator.script(
        Reply(
            text="Summary ready",
            code="df.describe()",
            files=[("summary.csv", b"stat,value\nmean,10\n")],
        )
    )
    code, out, err = await run_cli(
        "console", env=env, cwd=tmp_path, stdin=b"/file sales.csv summarise this\n"
    )
    assert code == 0, err
    saved = tmp_path / "out" / "summary.csv"
    assert f"  [file] {saved}" in out.splitlines()
    assert saved.read_bytes() == b"stat,value\nmean,10\n"
    assert "  [step] Running code" in out and "  [done] Running code" in out
    (container,) = openai_emulator.containers.values()
    assert "sales.csv" in [f.filename for f in container.files.values()]
