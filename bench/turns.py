"""One measured turn, and the numbers a set of turns gives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bench.scenarios import ModelSpec
from bench.stats import steady_rate, summary


@dataclass(eq=False)
class Turn:
    """A user message and what became of it (all times: time.monotonic())."""

    thread: int
    index: int
    t_sent: float
    t_acked: float = 0.0
    ack_status: int = 0
    t_first_text: float | None = None
    t_done: float | None = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def finish(self, when: float, *, error: str | None = None) -> None:
        if self.done.is_set():
            return
        self.t_done = when
        self.error = error
        self.done.set()


def analyse(turns: list[Turn], model: ModelSpec) -> dict[str, Any]:
    """Latencies beyond the model's own time (ms), errors and throughput."""
    answered = [t for t in turns if t.t_done is not None and t.error is None]
    first = [
        (t.t_first_text - t.t_sent - model.ttft) * 1000
        for t in answered
        if t.t_first_text is not None
    ]
    first_of_thread = [
        (t.t_first_text - t.t_sent - model.ttft) * 1000
        for t in answered
        if t.t_first_text is not None and t.index == 0
    ]
    later = [
        (t.t_first_text - t.t_sent - model.ttft) * 1000
        for t in answered
        if t.t_first_text is not None and t.index > 0
    ]
    complete = [
        (t.t_done - t.t_sent - model.total_seconds) * 1000 for t in answered if t.t_done is not None
    ]
    acks = [(t.t_acked - t.t_sent) * 1000 for t in turns if t.t_acked]
    errors: dict[str, int] = {}
    for t in turns:
        if t.error is not None:
            errors[t.error] = errors.get(t.error, 0) + 1
    done_times = [t.t_done for t in answered if t.t_done is not None]
    span = (max(done_times) - min(t.t_sent for t in turns)) if done_times else 0.0
    return {
        "turns": len(turns),
        "answered": len(answered),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "added_first_text_ms": summary(first),
        "added_first_text_ms_first_turn": summary(first_of_thread),
        "added_first_text_ms_later_turns": summary(later),
        "added_complete_ms": summary(complete),
        "ack_ms": summary(acks),
        "wall_seconds": round(span, 3),
        "turns_per_second": round(len(answered) / span, 1) if span > 0 else None,
        "turns_per_second_steady": _round(steady_rate(done_times)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
