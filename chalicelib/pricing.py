"""The price table the cost ledger estimates with: USD per 1,000 input and output tokens, per model.

Defaults are Amazon Bedrock on-demand list prices for us-east-1 as published on
https://aws.amazon.com/bedrock/pricing/ (mid-2025 figures, not re-checked from this offline build
machine; they change, and other regions differ): set
QUARRY_MODEL_PRICES to a JSON object {"<model id>": {"input_per_1k": x, "output_per_1k": y}, ...} to
override or add models. Models that run in the worker (MiniLM, the hashing embedder, the local
extractor) cost no tokens: their price is 0 and their cost is Lambda time (docs/COST.md).
Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib.usage import Usage


@dataclass(frozen=True)
class Price:
    input_per_1k: float
    output_per_1k: float = 0.0


DEFAULT_PRICES: dict[str, Price] = {
    # Claude 3.5 Haiku: $0.0008 / 1K input, $0.004 / 1K output.
    "anthropic.claude-3-5-haiku-20241022-v1:0": Price(0.0008, 0.004),
    "us.anthropic.claude-3-5-haiku-20241022-v1:0": Price(0.0008, 0.004),
    # Claude 3 Haiku: $0.00025 / 1K input, $0.00125 / 1K output.
    "anthropic.claude-3-haiku-20240307-v1:0": Price(0.00025, 0.00125),
    # Titan Text Embeddings V2: $0.00002 / 1K input tokens; embeddings have no output tokens.
    "amazon.titan-embed-text-v2:0": Price(0.00002),
}


class PriceTableError(ValueError):
    pass


def price_table(override_json: str | None) -> dict[str, Price]:
    """The defaults with QUARRY_MODEL_PRICES laid over them."""
    table = dict(DEFAULT_PRICES)
    if not override_json:
        return table
    try:
        overrides = json.loads(override_json)
        for model, price in overrides.items():
            table[model] = Price(float(price["input_per_1k"]), float(price.get("output_per_1k", 0.0)))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise PriceTableError(
            'QUARRY_MODEL_PRICES must be a JSON object {"<model id>": {"input_per_1k": x, '
            f'"output_per_1k": y}}: {error}'
        ) from error
    return table


def token_cost_usd(prices: dict[str, Price], model: str, input_tokens: int, output_tokens: int) -> float:
    """Estimated USD for a model's tokens; a model missing from the table costs 0 (a local model)."""
    price = prices.get(model)
    if price is None:
        return 0.0
    return input_tokens / 1000 * price.input_per_1k + output_tokens / 1000 * price.output_per_1k


def estimated_cost_usd(prices: dict[str, Price], usage: Usage) -> float:
    return sum(
        token_cost_usd(prices, model, counts["input"], counts["output"])
        for model, counts in usage.tokens.items()
    )
