"""What a run does: scenarios (threads x messages) and the emulated model's timing."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# Words of the emulated answer. It starts with a word and no space, like real model
# output, so the first delta ("Sure") carries no whitespace.
_ANSWER = (
    "Sure. Here is a short answer to your question about the deployment: the service "
    "keeps one conversation per chat thread, streams the reply as the model writes it, "
    "and records every turn so that a restart never answers twice. Ask again if you "
    "need more detail on any part of it, or on the configuration."
)
_WORDS = tuple(_ANSWER.split(" "))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The emulated model: time to first token, then ``tokens`` deltas at a fixed rate.

    One token is one ``response.output_text.delta`` of ``chunk_chars`` characters (about
    what a real model sends). ``tokens_per_second=None`` sends every delta at once.
    """

    ttft: float = 0.0
    tokens_per_second: float | None = None
    tokens: int = 40
    chunk_chars: int = 4
    # Seconds every request (conversations.create included) waits before the emulator
    # handles it: the network between the bot and OpenAI.
    network: float = 0.0

    def text(self) -> str:
        target = self.tokens * self.chunk_chars
        words: list[str] = []
        length = 0
        i = 0
        while length < target:
            word = _WORDS[i % len(_WORDS)]
            words.append(word)
            length += len(word) + 1
            i += 1
        return " ".join(words)[:target].rstrip()

    @property
    def deltas(self) -> int:
        return max(1, math.ceil(len(self.text()) / self.chunk_chars))

    @property
    def total_seconds(self) -> float:
        """When the emulator sends the last delta, counted from the request."""
        if not self.tokens_per_second:
            return self.ttft
        return self.ttft + (self.deltas - 1) / self.tokens_per_second

    def describe(self) -> str:
        rate = f"{self.tokens_per_second:g} tok/s" if self.tokens_per_second else "instant"
        network = f", +{self.network * 1000:g} ms a request" if self.network else ""
        return f"TTFT {self.ttft * 1000:g} ms, {self.tokens} tokens {rate}{network}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_seconds": round(self.total_seconds, 4)}


ZERO = ModelSpec()
LOW = ModelSpec(ttft=0.05, tokens_per_second=100.0)
# LOW behind a network: every request (conversation creation too) takes 150 ms more.
NETWORK = ModelSpec(ttft=0.05, tokens_per_second=100.0, network=0.15)
# About five seconds per answer: 1 s to the first token, then 41 tokens at 10/s, so the
# reply streams for 4 s (which exercises the sink's once-a-second appends).
FIVE_SECONDS = ModelSpec(ttft=1.0, tokens_per_second=10.0, tokens=41)


@dataclass(frozen=True, slots=True)
class Scenario:
    """``threads`` concurrent threads, each sending ``messages`` one after the other
    (the next as soon as the previous reply is complete)."""

    name: str
    threads: int
    messages: int
    model: ModelSpec
    description: str = ""
    # Seconds over which the threads' first messages are spread.
    ramp: float = 1.0
    targets: dict[str, float] = field(default_factory=dict)
    # Messages people wrote in each Slack thread before the bot is first mentioned in it
    # (its first turn reads them as context); such a scenario runs on the Slack path only.
    history: int = 0
    # Settings the scenario changes from the defaults (its name says so).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def turns(self) -> int:
        return self.threads * self.messages

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threads": self.threads,
            "messages": self.messages,
            "turns": self.turns,
            "ramp_seconds": self.ramp,
            "model": self.model.to_json(),
            "description": self.description,
            "history": self.history,
            "env": self.env,
        }


def default_scenarios(*, quick: bool) -> list[Scenario]:
    """The standard runs; ``quick`` sends fewer messages per thread."""

    def m(full: int, short: int) -> int:
        return short if quick else full

    return [
        Scenario(
            "threads-1",
            1,
            m(20, 5),
            LOW,
            "one thread, low-latency model: the bot's own latency",
            ramp=0.0,
        ),
        Scenario(
            "threads-50",
            50,
            m(10, 3),
            LOW,
            "50 concurrent threads, low-latency model: latency targets",
        ),
        Scenario(
            "streaming-20",
            20,
            m(3, 2),
            FIVE_SECONDS,
            "20 threads, 5-second streamed answers: appends per second, first words",
        ),
        Scenario(
            "burst-50",
            50,
            1,
            LOW,
            "50 new threads at once (defaults): no turn waits for another",
            ramp=0.0,
        ),
        Scenario(
            "burst-200",
            200,
            1,
            LOW,
            "200 new threads at once (defaults): no turn waits for another",
            ramp=0.0,
        ),
        Scenario(
            "burst-200-2p",
            200,
            1,
            LOW,
            "burst-200 with WEB_CONCURRENCY=2: two bot processes on one port",
            ramp=0.0,
            env={"WEB_CONCURRENCY": "2"},
        ),
        Scenario(
            "network-150",
            20,
            m(3, 2),
            NETWORK,
            "20 threads, 150 ms network to OpenAI: a new thread's first words vs a known one's",
        ),
        Scenario(
            "history-200",
            20,
            m(2, 2),
            LOW,
            "20 threads of 200 earlier messages, the bot first mentioned in each: the first "
            "turn reads the thread (one conversations.replies page), the second does not",
            history=200,
        ),
        Scenario(
            "threads-500",
            500,
            m(6, 2),
            ZERO,
            "500 concurrent threads, zero-latency model: throughput",
        ),
        Scenario(
            "threads-500-2p",
            500,
            m(6, 2),
            ZERO,
            "threads-500 with WEB_CONCURRENCY=2: two bot processes on one port",
            env={"WEB_CONCURRENCY": "2"},
        ),
        Scenario(
            "inflight-1000",
            1000,
            m(2, 1),
            FIVE_SECONDS,
            "1,000 threads at once with a 5-second model: turns in flight, memory",
        ),
    ]


def custom_scenario(
    *, threads: int, messages: int, ttft: float, tps: float | None, tokens: int
) -> Scenario:
    model = ModelSpec(ttft=ttft, tokens_per_second=tps or None, tokens=tokens)
    return Scenario(
        f"custom-{threads}x{messages}",
        threads,
        messages,
        model,
        "custom run",
        ramp=0.0 if threads == 1 else 1.0,
    )
