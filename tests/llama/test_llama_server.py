"""threadbridge against a real llama.cpp `llama-server` (stateless mode), as a user runs it.

`threadbridge console` reads one message per line from a pipe and prints each reply;
`threadbridge check` prints a table. Both run as subprocesses against the server of
conftest.py, which serves the tiny model of tiny_model.py (its answers are fixed by
the chat template: see that module).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.llama import tiny_model
from tests.llama.conftest import LlamaServer
from tests.llama.llama_tools import CALLS_FILE_VARIABLE

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 50.0


def bot_env(server: LlamaServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "SLACK_", "DISCORD_", "THREADBRIDGE_"))
        and k not in ("DATABASE_URL", "PORT", "DYNO", "WEB_CONCURRENCY")
    }
    return {
        **base,
        # The tools module lives in tests/, which is not installed.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH")) if p),
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-anything",
        "OPENAI_MODEL": server.model_id,
        "OPENAI_MAX_RETRIES": "0",
        "OPENAI_TIMEOUT": "30",
        "THREADBRIDGE_CONVERSATION_MODE": "stateless",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "THREADBRIDGE_ENV_FILE": str(tmp_path / "none.env"),
        "THREADBRIDGE_OUTPUT_DIR": str(tmp_path / "files"),
        **extra,
    }


async def run_bot(
    *args: str, env: dict[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        raise AssertionError(
            f"threadbridge {' '.join(args)} did not finish in {RUN_TIMEOUT} s\n"
            f"stdout:\n{out.decode()}\nstderr:\n{err.decode()}"
        ) from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def replies(out: str) -> list[str]:
    """What the console printed as the assistant's replies, one per message."""
    prefix = "assistant> "
    return [line.removeprefix(prefix) for line in out.splitlines() if line.startswith(prefix)]


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_tiny_model_answers_as_designed(llama_server: LlamaServer) -> None:
    """The fixture itself, without threadbridge: llama-server runs the model as intended."""
    url = f"{llama_server.base_url}/responses"
    status, body = post_json(url, {"model": llama_server.model_id, "input": "hi"})
    assert status == 200, body
    assert body["output"][-1]["content"][0]["text"] == tiny_model.FRESH_ANSWER

    history = [
        {"role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": tiny_model.FRESH_ANSWER},
        {"role": "user", "content": "and again?"},
    ]
    status, body = post_json(url, {"model": llama_server.model_id, "input": history})
    assert status == 200, body
    assert body["output"][-1]["content"][0]["text"] == tiny_model.AGAIN_ANSWER

    tool = {
        "type": "function",
        "name": tiny_model.FUNCTION_NAME,
        "description": "Tell the current time of day.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
    ask = {"model": llama_server.model_id, "input": "what time is it?", "tools": [tool]}
    status, body = post_json(url, ask)
    assert status == 200, body
    [call] = body["output"]
    assert (call["type"], call["name"], call["arguments"]) == (
        "function_call",
        tiny_model.FUNCTION_NAME,
        "{}",
    )
    answer = [
        {"role": "user", "content": "what time is it?"},
        {k: call[k] for k in ("type", "call_id", "name", "arguments")},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "noon"},
    ]
    status, body = post_json(url, {**ask, "input": answer})
    assert status == 200, body
    assert body["output"][-1]["content"][0]["text"] == tiny_model.TOOL_ANSWER


async def test_console_two_turns_on_one_thread(llama_server: LlamaServer, tmp_path: Path) -> None:
    """Both messages are answered; the second answer shows the server got the first turn."""
    env = bot_env(llama_server, tmp_path)
    code, out, err = await run_bot(
        "console", "--thread", "t1", env=env, cwd=tmp_path, stdin="hi\nand again?\n"
    )
    assert code == 0, out + err
    # The model says "Hello again, ..." only when an earlier assistant message with its
    # first answer is in the request: stateless mode must replay the history.
    assert replies(out) == [tiny_model.FRESH_ANSWER, tiny_model.AGAIN_ANSWER], out + err


async def test_console_function_tool_round_trip(llama_server: LlamaServer, tmp_path: Path) -> None:
    """The model calls current_time, the bot runs it, and the answer uses its result."""
    calls = tmp_path / "calls.txt"
    env = bot_env(
        llama_server,
        tmp_path,
        THREADBRIDGE_TOOLS="tests.llama.llama_tools",
        **{CALLS_FILE_VARIABLE: str(calls)},
    )
    code, out, err = await run_bot(
        "console", "--thread", "t1", env=env, cwd=tmp_path, stdin="what time is it?\n"
    )
    assert code == 0, out + err
    assert "  [step] Calling current_time" in out.splitlines(), out + err
    assert "  [done] Calling current_time" in out.splitlines(), out + err
    # "The time is noon." comes only from a request whose last message is a tool result
    # containing "noon" (what current_time returned).
    assert replies(out) == [tiny_model.TOOL_ANSWER], out + err
    assert calls.read_text().splitlines() == ["current_time"]


async def test_check_passes(llama_server: LlamaServer, slack_emulator: Any, tmp_path: Path) -> None:
    """`threadbridge check` finds the model on llama-server (and Slack on its emulator)."""
    env = bot_env(
        llama_server,
        tmp_path,
        SLACK_BOT_TOKEN=slack_emulator.bot_token,
        SLACK_APP_TOKEN=slack_emulator.app_token,
        SLACK_API_URL=slack_emulator.api_url,
    )
    code, out, err = await run_bot("check", env=env, cwd=tmp_path)
    assert code == 0, out + err
    lines = out.splitlines()
    assert all(line.startswith("ok ") for line in lines), out
    model_line = next(line for line in lines if "OpenAI model" in line)
    assert llama_server.model_id in model_line
    assert not any("Conversations" in line for line in lines), out


async def test_console_voice_file_on_a_server_without_transcription(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    """llama-server has /v1/audio/transcriptions, but a text model refuses audio: the user
    gets a short note and the words of the message are answered."""
    from tests.emulators.openai.audio import wav_bytes

    (tmp_path / "voice.wav").write_bytes(wav_bytes(1.0))
    env = bot_env(llama_server, tmp_path)
    code, out, err = await run_bot(
        "console", "--thread", "t1", env=env, cwd=tmp_path, stdin="/file voice.wav hi\n"
    )
    assert code == 0, out + err
    note = "  [note] This model server can't transcribe audio, so I left out voice.wav."
    assert note in out.splitlines(), out + err
    assert replies(out) == [tiny_model.FRESH_ANSWER], out + err
