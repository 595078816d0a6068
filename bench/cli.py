"""``python -m bench``: run scenarios, write bench/results/*.json, print a table."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import procinfo
from bench.report import check_targets, plot, table
from bench.scenarios import Scenario, custom_scenario, default_scenarios

RESULTS = Path(__file__).with_name("results")


def build_parser() -> argparse.ArgumentParser:
    names = [s.name for s in default_scenarios(quick=False)]
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark the real bot process (Slack HTTP mode) and the core service against "
            "the loopback emulators. Numbers are measured; targets are reported, not asserted."
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer messages per thread, 100k stored threads"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=names,
        help="run only this scenario (repeatable; default: all)",
    )
    parser.add_argument(
        "--custom",
        metavar="THREADSxMESSAGES",
        help="run one custom scenario instead, e.g. 20x5 (with --ttft/--tps/--tokens)",
    )
    parser.add_argument("--ttft", type=float, default=0.05, help="custom: seconds to first token")
    parser.add_argument("--tps", type=float, default=100.0, help="custom: tokens/s (0 = instant)")
    parser.add_argument("--tokens", type=int, default=40, help="custom: tokens per answer")
    parser.add_argument("--no-slack", action="store_true", help="skip the bot-process runs")
    parser.add_argument("--no-core", action="store_true", help="skip the in-process core runs")
    parser.add_argument("--no-store", action="store_true", help="skip the thread-lookup run")
    parser.add_argument(
        "--store-rows", type=int, default=None, help="stored threads (default 1,000,000)"
    )
    parser.add_argument("--profile", action="store_true", help="sample the bot process with py-spy")
    parser.add_argument("--plot", action="store_true", help="write a PNG (needs matplotlib)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file to write")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    return parser


def _scenarios(args: argparse.Namespace) -> list[Scenario]:
    if args.custom:
        threads, _, messages = args.custom.lower().partition("x")
        return [
            custom_scenario(
                threads=int(threads),
                messages=int(messages or 1),
                ttft=args.ttft,
                tps=args.tps,
                tokens=args.tokens,
            )
        ]
    chosen = default_scenarios(quick=args.quick)
    if args.scenario:
        chosen = [s for s in chosen if s.name in args.scenario]
    return chosen


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.core_run import run_core_scenario
    from bench.slack_run import run_slack_scenario
    from bench.store_run import run_store_lookup

    results_dir: Path = args.results_dir
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": {**procinfo.machine(), "python": platform.python_version()},
        "note": (
            "Bot, OpenAI emulator and driver+Slack emulator are three processes sharing "
            "the machine's cores; see each run's 'cpu' block for who used how much."
        ),
        "slack": [],
        "core": [],
        "store": None,
    }
    for scenario in _scenarios(args):
        if not args.no_slack:
            print(f"[bench] slack  {scenario.name}: {scenario.description}", flush=True)
            report["slack"].append(
                await run_slack_scenario(scenario, results_dir=results_dir, profile=args.profile)
            )
        if not args.no_core and not scenario.history and not scenario.env:
            print(f"[bench] core   {scenario.name}", flush=True)
            report["core"].append(await run_core_scenario(scenario))
    if not args.no_store:
        rows = args.store_rows or (100_000 if args.quick else 1_000_000)
        print(f"[bench] store  thread lookup among {rows:,} threads", flush=True)
        report["store"] = await run_store_lookup(rows=rows)
    report["targets"] = check_targets(report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run(args))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or args.results_dir / f"bench-{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table(report))
    print(f"\nwrote {out}")
    if args.plot:
        png = plot(report, out.with_suffix(".png"))
        print(f"wrote {png}" if png else "no plot: matplotlib is not installed")
    return 0
