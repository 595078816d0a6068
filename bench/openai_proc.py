"""The OpenAI emulator in a child process, so it does not share a core with the driver.

Child: ``python -m bench.openai_proc '<ModelSpec JSON>'`` prints ``{"base_url": ...}``,
then answers one JSON line per command line on stdin: ``stats`` (request counts by
route, peak concurrent responses, its own CPU time), ``reset`` (forget the requests
so far). EOF on stdin stops it.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.scenarios import ModelSpec

REPO = Path(__file__).resolve().parent.parent
_ID = re.compile(r"/(resp|conv|msg|item|file|cntr|vs|fc)[_-][0-9a-f]+")


def route(method: str, path: str) -> str:
    """``POST /v1/responses``, ``GET /v1/responses/{id}``: ids folded away."""
    return f"{method} {_ID.sub('/{id}', path)}"


async def _serve(spec: ModelSpec) -> None:
    from tests.emulators.openai import OpenAIEmulator, Reply

    # The tests hold requests to OpenAI's definition; here that would only add the
    # emulator's CPU (up to 2 ms a request) to the machine the bot is measured on.
    emulator = OpenAIEmulator(spec_validation="off")
    emulator.request_delay = spec.network
    await emulator.start()
    text = spec.text()

    def model(_req: Any) -> Reply:
        return Reply(
            text=text,
            ttft=spec.ttft,
            tokens_per_second=spec.tokens_per_second,
            chunk_chars=spec.chunk_chars,
        )

    emulator.model = model
    print(json.dumps({"base_url": emulator.base_url}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    cpu0 = time.process_time()
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "reset":
                emulator.requests.clear()
                emulator.max_concurrent_responses = emulator.in_flight
                cpu0 = time.process_time()
                answer: dict[str, Any] = {"ok": True}
            elif line == "stats":
                routes = Counter(route(r.method, r.path) for r in emulator.requests)
                statuses = Counter(str(r.status) for r in emulator.requests)
                answer = {
                    "routes": dict(routes),
                    "statuses": dict(statuses),
                    "max_concurrent_responses": emulator.max_concurrent_responses,
                    "emulator_errors": [repr(e) for e in emulator.errors[:5]],
                    "overlaps": len(emulator.overlaps),
                    "cpu_seconds": round(time.process_time() - cpu0, 3),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                }
            else:
                answer = {"error": f"unknown command {line!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        await emulator.stop()


class OpenAIProcess:
    """Parent side: start the child, ask it for stats, stop it."""

    def __init__(self, proc: asyncio.subprocess.Process, base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    @classmethod
    async def start(cls, spec: ModelSpec) -> OpenAIProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.openai_proc",
            json.dumps({k: v for k, v in spec.to_json().items() if k != "total_seconds"}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            await proc.wait()
            raise RuntimeError(f"OpenAI emulator process exited ({proc.returncode})")
        return cls(proc, json.loads(line)["base_url"])

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 30))
        return answer

    async def stats(self) -> dict[str, Any]:
        return await self._ask("stats")

    async def reset(self) -> None:
        await self._ask("reset")

    async def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def main() -> None:
    spec = ModelSpec(**json.loads(sys.argv[1]))
    asyncio.run(_serve(spec))


if __name__ == "__main__":
    main()
