"""The benchmark harness runs end to end on a tiny load (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

from bench.core_run import run_core_scenario
from bench.report import check_targets, table
from bench.scenarios import ModelSpec, Scenario
from bench.slack_run import run_slack_scenario
from bench.stats import max_in_window, percentile, steady_rate
from bot.config import CoreSettings

TINY = Scenario("smoke", threads=3, messages=2, model=ModelSpec(ttft=0.01), ramp=0.1)


def test_stats_helpers() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 2.5]) == 3
    assert steady_rate([float(i) for i in range(20)]) == 1.0


async def test_slack_run_answers_every_turn(tmp_path: Path) -> None:
    result = await run_slack_scenario(TINY, results_dir=tmp_path)

    assert result["turns"] == 6
    assert result["answered"] == 6, result["error_kinds"]
    assert result["errors"] == 0
    assert result["replies_with_expected_text"] == 6
    assert result["bot_exit_code"] == 0
    assert result["peak_rss_mb"] > 0
    assert result["added_first_text_ms"]["count"] == 6
    assert result["added_complete_ms"]["count"] == 6
    openai = result["openai_requests"]
    assert openai["by_route"]["POST /v1/responses"] == 6
    # At most one per thread plus the pool's refills; the threads' own may all have come
    # from the pool, created before the measured turns (the refill waits for a pause).
    pool = CoreSettings.model_fields["conversation_pool"].default
    assert openai["by_route"].get("POST /v1/conversations", 0) <= 3 + pool
    assert openai["polling_requests"] == 0
    slack = result["slack_requests"]
    assert slack["by_method_per_turn"]["chat.startStream"] == 1.0
    assert slack["by_method_per_turn"]["chat.stopStream"] == 1.0
    assert result["edits"]["bot_messages"] == 6
    assert (tmp_path / "bot-smoke.log").exists()

    report = {"slack": [result], "core": [], "store": None}
    targets = check_targets(report)
    assert any(t["target"].startswith("OpenAI requests") and t["met"] for t in targets)
    assert "smoke" in table(report)


async def test_core_run_answers_every_turn() -> None:
    result = await run_core_scenario(TINY)

    assert result["answered"] == 6, result["error_kinds"]
    assert result["openai_requests"]["by_route"]["POST /v1/responses"] == 6
    assert result["added_first_text_ms"]["count"] == 6


def test_logging_does_not_echo_sql() -> None:
    """The bench found SQLAlchemy echoing every statement at INFO; keep it off."""
    import logging

    from bot.logs import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("INFO")
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
        assert logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.WARNING)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
