"""Several assistants: the file, the routing, a thread keeping its assistant, usage."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_config import run_cli
from tests.helpers import inbound, key, model_input

FILE = """
[[assistant]]
name = "support"
model = "model-support"
instructions = "You help customers."
channels = ["slack:C1", "dm"]
default = true

[[assistant]]
name = "coder"
model = "model-coder"
instructions_file = "coder.md"
channels = ["slack:C2"]
web_search = true
reasoning_effort = "high"
daily_tokens = 50

[prices]
"model-coder" = { input = 1.5, output = 6 }
"""


def write(tmp_path: Path, text: str = FILE) -> Path:
    (tmp_path / "coder.md").write_text("You review code.")
    path = tmp_path / "assistants.toml"
    path.write_text(text)
    return path


def at(text: str, place: str, thread: str, **kwargs: Any) -> Any:
    return dataclasses.replace(inbound(text, thread=thread), places=(place,), **kwargs)


def bodies(openai_emulator: Any) -> list[dict[str, Any]]:
    return [r.body for r in openai_emulator.responses_requests()]


async def test_each_channel_gets_its_assistant(
    make_core: Any, openai_emulator: Any, tmp_path: Path
) -> None:
    core = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(write(tmp_path)))
    await core.service.submit(at("hi", "slack:C1", "t1"))
    await core.service.submit(at("review", "slack:C2", "t2"))
    await core.service.submit(at("elsewhere", "slack:C9", "t3"))
    await core.service.drain()
    by_text = {model_input(b)[0]["content"][0]["text"]: b for b in bodies(openai_emulator)}
    support, coder, fallback = by_text["hi"], by_text["review"], by_text["elsewhere"]
    assert (support["model"], support["instructions"]) == ("model-support", "You help customers.")
    assert (coder["model"], coder["instructions"]) == ("model-coder", "You review code.")
    assert coder["reasoning"] == {"effort": "high"}
    assert {"type": "web_search"} in coder["tools"]
    assert "reasoning" not in support and {"type": "web_search"} not in support.get("tools", [])
    assert fallback["model"] == "model-support"  # unbound: the default
    # Each reply says whose it is (there are several).
    texts = {r.key.thread: r.text for r in core.replier.replies}
    assert texts["t2"].endswith("— _coder_") and texts["t1"].endswith("— _support_")
    # Usage by assistant.
    rows = await core.store.usage_summary(since=0, by="assistant")
    assert sorted(r.key for r in rows) == ["coder", "support"]
    code, out, err = await run_cli(
        "usage",
        "--by",
        "assistant",
        env={
            "OPENAI_API_KEY": "sk-x",
            "DATABASE_URL": core.settings.database_url,
            "THREADBRIDGE_ASSISTANTS_FILE": str(tmp_path / "assistants.toml"),
        },
        cwd=tmp_path,
    )
    assert code == 0, err
    lines = {line.split()[1]: line.split() for line in out.splitlines()[1:]}
    assert {name: cols[2] for name, cols in lines.items()} == {"coder": "1", "support": "2"}
    # The estimated cost: coder's model has a price in the file; support's has none.
    _, _, _, tokens_in, tokens_out, minutes, spoken, images, usd = lines["coder"]
    assert (minutes, spoken, images) == ("0.0", "0", "0")
    assert usd == f"{(int(tokens_in) * 1.5 + int(tokens_out) * 6) / 1e6:.4f}"
    assert lines["support"][8] == "0.0000+?"


async def test_an_explicit_choice_wins_where_that_assistant_may_answer(
    make_core: Any, openai_emulator: Any, tmp_path: Path
) -> None:
    core = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(write(tmp_path)))
    # coder may answer in C2 only; asked for in C1 it is not allowed, support answers.
    await core.service.submit(at("a", "slack:C1", "t1", assistant="coder"))
    await core.service.submit(
        dataclasses.replace(inbound("b", thread="t2"), places=("slack:C2",), assistant="coder")
    )
    await core.service.drain()
    models = {model_input(b)[0]["content"][0]["text"]: b["model"] for b in bodies(openai_emulator)}
    assert models == {"a": "model-support", "b": "model-coder"}
    assert core.service.assistants_at(("slack:C2",)) == [("coder", True), ("support", False)]
    assert core.service.assistants_at(("slack:C1",)) == [("support", True)]


async def test_a_thread_keeps_its_assistant_and_a_removed_one_moves_to_the_default(
    make_core: Any, openai_emulator: Any, tmp_path: Path
) -> None:
    path = write(tmp_path)
    first = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(path))
    await first.service.submit(at("one", "slack:C2", "t1"))
    await first.service.drain()
    # The bindings change: coder now answers in C3; the thread in C2 stays coder's.
    # Its instructions change too: they apply from the thread's next turn.
    path.write_text(FILE.replace('channels = ["slack:C2"]', 'channels = ["slack:C3"]'))
    (tmp_path / "coder.md").write_text("Review strictly.")
    second = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(path))
    await second.service.submit(at("two", "slack:C2", "t1"))
    await second.service.drain()
    assert bodies(openai_emulator)[-1]["model"] == "model-coder"
    assert bodies(openai_emulator)[-1]["instructions"] == "Review strictly."
    # coder is removed: the thread moves to the default, with a note.
    path.write_text(FILE.split('[[assistant]]\nname = "coder"')[0])
    third = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(path))
    await third.service.submit(at("three", "slack:C2", "t1"))
    await third.service.drain()
    assert bodies(openai_emulator)[-1]["model"] == "model-support"
    [reply] = third.replier.replies
    assert reply.notices == [
        "The assistant “coder” was removed; “support” answers in this thread from now on."
    ]
    thread = await third.store.find_thread(key("t1"))
    assert thread is not None and thread.assistant == "support"


async def test_an_assistants_daily_budget(
    make_core: Any, openai_emulator: Any, tmp_path: Path
) -> None:
    core = await make_core(THREADBRIDGE_ASSISTANTS_FILE=str(write(tmp_path)))
    await core.service.submit(at(" ".join(["word"] * 60), "slack:C2", "t1"))
    await core.service.drain()
    assert await core.store.tokens_used(since=time.time() - 60, assistant="coder") >= 50
    await core.service.submit(at("again", "slack:C2", "t1"))
    await core.service.drain()
    assert core.replier.replies[-1].notices == [
        "The coder assistant has used today's budget. It resets at midnight UTC."
    ]
    assert len(bodies(openai_emulator)) == 1


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[[assistant]]\nname = 'a'\nmodel = 'm'\n", "default: exactly one assistant"),
        ("[[assistant]]\nname = 'a'\ndefault = true\n", "assistant 'a': model: is required"),
        (
            "[[assistant]]\nname = 'a'\nmodel = 'm'\ndefault = true\nchannels = ['#general']\n",
            "assistant 'a': channels: not a place: '#general'",
        ),
        (
            "[[assistant]]\nname = 'a'\nmodel = 'm'\ndefault = true\ncolour = 'red'\n",
            "assistant 'a': colour: Extra inputs are not permitted",
        ),
        (
            "[[assistant]]\nname = 'a'\nmodel = 'm'\ndefault = true\nreasoning_effort = 'max'\n",
            "assistant 'a': reasoning_effort:",
        ),
        (
            "[[assistant]]\nname = 'a'\nmodel = 'm'\ndefault = true\n"
            "[[assistant]]\nname = 'a'\nmodel = 'n'\n",
            "assistant 'a': name: used twice",
        ),
        ("not toml [", "not valid TOML"),
    ],
)
async def test_a_bad_file_stops_the_start_naming_file_assistant_and_field(
    tmp_path: Path, text: str, named: str
) -> None:
    path = tmp_path / "assistants.toml"
    path.write_text(text)
    code, _out, err = await run_cli(
        "run",
        env={"OPENAI_API_KEY": "sk-x", "THREADBRIDGE_ASSISTANTS_FILE": str(path)},
        cwd=tmp_path,
    )
    assert code == 2, err
    assert str(path) in err and named in err, err
    assert "Traceback" not in err


def test_prices_of_dated_models_and_overrides() -> None:
    from bot.prices import DEFAULT_PRICES, cost, price_of

    assert price_of("gpt-5-mini-2025-08-07", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-5-mini"]
    assert price_of("gpt-5-2025-08-07", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-5"]
    assert price_of("llama3", DEFAULT_PRICES) is None
    assert cost("gpt-5-mini", 1_000_000, 1_000_000, DEFAULT_PRICES) == 0.25 + 2.0
