"""Targets (measured against, never asserted), the stdout table and the optional plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import CoreSettings

FIRST_TEXT_P50_MS = 15.0
FIRST_TEXT_P99_MS = 60.0
TURNS_PER_SECOND = 100.0
RSS_MB = 250.0
EDITS_PER_SECOND = 1
LOOKUP_MS = 1.0
TO_REQUEST_CPU_MS = 3.0


def _run(report: dict[str, Any], path: str, name: str) -> dict[str, Any] | None:
    for run in report.get(path) or []:
        if run["scenario"]["name"] == name:
            return dict(run)
    return None


def _target(name: str, target: str, measured: Any, met: bool | None, where: str) -> dict[str, Any]:
    return {"target": name, "goal": target, "measured": measured, "met": met, "where": where}


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met (None: not run)."""
    out: list[dict[str, Any]] = []
    r50 = _run(report, "slack", "threads-50")
    if r50 is not None:
        first = r50["added_first_text_ms"]
        out.append(
            _target(
                "added latency to first text, p50 (50 threads)",
                f"<= {FIRST_TEXT_P50_MS:g} ms",
                first["p50"],
                first["p50"] is not None and first["p50"] <= FIRST_TEXT_P50_MS,
                "slack threads-50",
            )
        )
        out.append(
            _target(
                "added latency to first text, p99 (50 threads)",
                f"<= {FIRST_TEXT_P99_MS:g} ms",
                first["p99"],
                first["p99"] is not None and first["p99"] <= FIRST_TEXT_P99_MS,
                "slack threads-50",
            )
        )
    for name, limit in (("burst-50", 130.0), ("burst-200", 400.0)):
        burst = _run(report, "slack", name)
        if burst is None:
            continue
        p99 = burst["added_first_text_ms"]["p99"]
        out.append(
            _target(
                f"added first text p99, {name.replace('-', ' of ')} new threads (defaults)",
                f"<= {limit:g} ms, 0 errors",
                p99,
                p99 is not None and p99 <= limit and burst["errors"] == 0,
                f"slack {name}",
            )
        )
    r1 = _run(report, "core", "threads-1")
    if r1 is not None and "core_cpu_ms_to_request_p50" in r1["cpu"]:
        spent = r1["cpu"]["core_cpu_ms_to_request_p50"]
        out.append(
            _target(
                "CPU from a message to its model request (core path, p50)",
                f"<= {TO_REQUEST_CPU_MS:g} ms",
                spent,
                spent <= TO_REQUEST_CPU_MS,
                "core threads-1 (one turn at a time; Slack intake not included)",
            )
        )
    r500 = _run(report, "slack", "threads-500")
    if r500 is not None:
        rate = r500["turns_per_second_steady"] or r500["turns_per_second"]
        out.append(
            _target(
                "turns per second, zero-latency model",
                f">= {TURNS_PER_SECOND:g}",
                rate,
                rate is not None and rate >= TURNS_PER_SECOND,
                "slack threads-500",
            )
        )
    r1000 = _run(report, "slack", "inflight-1000")
    if r1000 is not None:
        out.append(
            _target(
                "errors with 1,000 in flight (5 s model)",
                "0",
                r1000["errors"],
                r1000["errors"] == 0 and r1000["answered"] == r1000["turns"],
                "slack inflight-1000",
            )
        )
        out.append(
            _target(
                "peak responses in flight at once",
                "1000",
                r1000["openai_requests"]["max_concurrent_responses"],
                None,
                "slack inflight-1000 (informative)",
            )
        )
        out.append(
            _target(
                "bot peak RSS with 1,000 in flight",
                f"<= {RSS_MB:g} MB",
                r1000["peak_rss_mb"],
                r1000["peak_rss_mb"] is not None and r1000["peak_rss_mb"] <= RSS_MB,
                "slack inflight-1000",
            )
        )
    slack_runs = report.get("slack") or []
    if slack_runs:
        responses = max(r["openai_requests"]["responses_per_turn"] for r in slack_runs)
        creates = max(r["openai_requests"]["conversation_creates_per_thread"] for r in slack_runs)
        # The pool creates conversations ahead: up to its size more than one per thread
        # may have been made (refills still under way when the run ends).
        pool = int(CoreSettings.model_fields["conversation_pool"].default)
        spare = max(
            r["openai_requests"]["conversation_creates_per_thread"]
            - 1.0
            - pool / r["scenario"]["threads"]
            for r in slack_runs
        )
        polling = sum(r["openai_requests"]["polling_requests"] for r in slack_runs)
        others = {
            route
            for r in slack_runs
            for route in r["openai_requests"]["by_route"]
            if route not in ("POST /v1/responses", "POST /v1/conversations")
        }
        out.append(
            _target(
                "OpenAI requests: 1 per turn (+1 conversation per thread), no polling",
                f"1 + 1/thread (+ pool of {pool}), 0 polls",
                f"{responses:g}/turn + {creates:g}/thread, {polling} polls"
                + (f", also {sorted(others)}" if others else ""),
                responses <= 1.0 and spare <= 1e-9 and polling == 0 and not others,
                "all slack runs (max)",
            )
        )
        edits = max(r["edits"]["max_appends_or_updates_per_second_per_message"] for r in slack_runs)
        out.append(
            _target(
                "Slack appends/updates per second per message",
                f"<= ~{EDITS_PER_SECOND}",
                edits,
                edits <= EDITS_PER_SECOND,
                "all slack runs (max over messages)",
            )
        )
    store = report.get("store")
    if store:
        for q in ("p50", "p99"):
            value = store["find_thread_ms"][q]
            out.append(
                _target(
                    f"thread lookup among {store['rows']:,} threads, {q}",
                    f"< {LOOKUP_MS:g} ms",
                    value,
                    value is not None and value < LOOKUP_MS,
                    "store (Store.find_thread)",
                )
            )
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for path in ("slack", "core"):
        for r in report.get(path) or []:
            s = r["scenario"]
            rows.append(
                [
                    s["name"],
                    "bot+slack" if path == "slack" else "core",
                    f"{r['answered']}/{r['turns']}",
                    _fmt(r["errors"]),
                    _fmt(r["added_first_text_ms"]["p50"]),
                    _fmt(r["added_first_text_ms"]["p99"]),
                    _fmt(r["added_complete_ms"]["p50"]),
                    _fmt(r["added_complete_ms"]["p99"]),
                    _fmt(r["turns_per_second_steady"] or r["turns_per_second"]),
                    _fmt(r.get("peak_rss_mb")),
                    _fmt(r["openai_requests"]["per_turn"]),
                    _fmt(r.get("slack_requests", {}).get("per_turn")),
                    _fmt(r.get("edits", {}).get("max_appends_or_updates_per_second_per_message")),
                    _fmt(
                        r["cpu"].get("bot_cores_used", r["cpu"].get("core_and_driver_cores_used"))
                    ),
                    _fmt(
                        r["cpu"].get(
                            "driver_and_slack_emulator_cores_used",
                        )
                    ),
                    _fmt(r["cpu"].get("openai_emulator_cores_used")),
                    _fmt(r["cpu"].get("other_processes_cores_used")),
                ]
            )
    return rows


HEADER = [
    "scenario",
    "path",
    "answered",
    "err",
    "1st p50",
    "1st p99",
    "end p50",
    "end p99",
    "turns/s",
    "RSS MB",
    "OAI/turn",
    "Slack/turn",
    "edits/s",
    "bot cpu",
    "drv cpu",
    "oai cpu",
    "other",
]


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def table(report: dict[str, Any]) -> str:
    """Runs (latencies in ms beyond the model's own time), then targets."""
    parts = []
    rows = _rows(report)
    if rows:
        parts.append(
            "Latency columns: ms added beyond the emulated model (first visible text, "
            "complete reply).\n'cpu' columns: cores used by bot (or in-process core), "
            "driver+Slack emulator, OpenAI emulator, other processes (py-spy included)."
        )
        parts.append(_grid(HEADER, rows))
    store = report.get("store")
    if store:
        f = store["find_thread_ms"]
        parts.append(
            f"Store: find_thread among {store['rows']:,} threads: p50 {f['p50']} ms, "
            f"p99 {f['p99']} ms (raw SQLite query p50 {store['raw_sqlite_query_ms']['p50']} ms; "
            f"plan: {store['query_plan']})"
        )
    targets = report.get("targets") or []
    if targets:
        trows = [
            [
                t["target"],
                t["goal"],
                _fmt(t["measured"]),
                {True: "met", False: "MISSED", None: "-"}[t["met"]],
            ]
            for t in targets
        ]
        parts.append(_grid(["target", "goal", "measured", ""], trows))
    return "\n\n".join(parts)


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """Added first-text latency (p50, p99) against concurrent threads; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, style in (("slack", "-o"), ("core", "--s")):
        runs = sorted(report.get(kind) or [], key=lambda r: r["scenario"]["threads"])
        if not runs:
            continue
        xs = [r["scenario"]["threads"] for r in runs]
        for q in ("p50", "p99"):
            ys = [r["added_first_text_ms"][q] for r in runs]
            ax.plot(xs, ys, style, label=f"{'bot+Slack' if kind == 'slack' else 'core'} {q}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent threads")
    ax.set_ylabel("added latency to first text (ms)")
    ax.set_title("threadbridge: added latency vs concurrency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
