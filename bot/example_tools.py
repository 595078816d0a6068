"""Example function tools. Enable with `THREADBRIDGE_TOOLS=bot.example_tools`.

Copy this file into your own package and point `THREADBRIDGE_TOOLS` at it. Every
public function becomes a tool: its type hints make the JSON schema, the docstring's
first paragraph is the description, and its `Args:` section describes the parameters.
A parameter annotated `ToolContext` receives the thread and the asking user.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Literal

from bot.tools import ToolContext

__all__ = ["current_time", "get_weather", "who_am_i"]

_FORECASTS = {"paris": (18, "light rain"), "tokyo": (24, "clear"), "oslo": (4, "snow")}


async def get_weather(
    city: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
) -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    """
    celsius, sky = _FORECASTS.get(city.strip().lower(), (15, "cloudy"))
    temperature = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": temperature, "unit": unit, "sky": sky}


def current_time(timezone: str = "UTC") -> str:
    """Tell the current date and time in a time zone.

    Args:
        timezone: An IANA time zone name such as "Europe/Paris".
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"Unknown time zone {timezone!r}."
    return dt.datetime.now(zone).isoformat(timespec="seconds")


def who_am_i(context: ToolContext) -> dict[str, str | None]:
    """Tell who is asking and in which chat thread (for per-user actions)."""
    return {
        "user_id": context.user_id,
        "user_name": context.user_name,
        "platform": context.thread.platform,
        "thread": context.thread.thread,
    }
