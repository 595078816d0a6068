"""Estimated cost of tokens: USD per million input and output tokens, per model.

The defaults are OpenAI's list prices for its current text models (standard tier,
uncached input) as published on openai.com/api/pricing; they change, so they are an
estimate, and the assistants file's `[prices]` table overrides or adds models:

```toml
[prices]
"gpt-5-mini" = { input = 0.25, output = 2.0 }
"my-local-model" = { input = 0, output = 0 }
```

A dated model id (`gpt-5-mini-2025-08-07`) takes the price of its longest listed prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

Price = tuple[float, float]  # USD per 1M input tokens, per 1M output tokens

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
}


def price_of(model: str, prices: Mapping[str, Price] = DEFAULT_PRICES) -> Price | None:
    """The price of `model`, or of the longest listed prefix of it; None if unknown."""
    if model in prices:
        return prices[model]
    prefixes = [name for name in prices if model.startswith(name + "-")]
    return prices[max(prefixes, key=len)] if prefixes else None


def cost(
    model: str, input_tokens: int, output_tokens: int, prices: Mapping[str, Price]
) -> float | None:
    """Estimated USD for the tokens; None when the model's price is unknown."""
    price = price_of(model, prices)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


__all__ = ["DEFAULT_PRICES", "Price", "cost", "price_of"]
