"""`threadbridge feedback`: the votes on replies, per model and day, and the replies
voted down, with a link to each (the reply's first message)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from bot.models import ThreadKey
from bot.store import FeedbackRow


def message_link(key: ThreadKey, message_id: str | None) -> str:
    """Where a reply can be opened: a Slack or Discord link, else the thread's name."""
    if key.platform == "slack" and message_id:
        link = f"https://slack.com/archives/{key.channel}/p{message_id.replace('.', '')}"
        if key.thread and key.thread != message_id:
            link += f"?thread_ts={key.thread}&cid={key.channel}"
        return link
    if key.platform == "discord" and message_id and message_id.isdigit():
        return f"https://discord.com/channels/{key.scope or '@me'}/{key.channel}/{message_id}"
    return f"{key.platform}:{key.channel}/{key.thread}"


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def report(rows: Sequence[FeedbackRow]) -> str:
    """Counts per day and model, then every thumbs-down with its link."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (_day(r.at), r.model or "(unknown)", r.value) for r in rows
    )
    groups = sorted({(day, model) for day, model, _ in counts})
    lines = [f"{'day':<11} {'model':<28} {'up':>5} {'down':>5}"]
    for day, model in groups:
        up, down = counts[(day, model, "up")], counts[(day, model, "down")]
        lines.append(f"{day:<11} {model:<28} {up:>5} {down:>5}")
    if not groups:
        lines.append("(no votes in this period)")
    down_rows = [r for r in rows if r.value == "down"]
    lines += ["", f"Voted down ({len(down_rows)}):"]
    for r in down_rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.at))
        first = next((p for p in r.posted if ":" not in p), None)
        link = message_link(r.thread.key, first)
        lines.append(f"{when}  {r.thread.key.platform:<8} {r.user_id:<20} {link}")
    return "\n".join(lines)


__all__ = ["message_link", "report"]
