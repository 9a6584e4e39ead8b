"""What a request costs: serverless token prices times usage, in exact Decimal dollars.

The runner uses this for its budget guard (worst case before sending, actual after); the cost
reports build on the same two functions. Managed compute is billed per VM-hour, not per token, so
its requests have no token cost here (``None`` with ``price_known=False``): the hourly cost is a
separate calculation over the run's wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .prices import PriceBook, TokenPrice

THOUSAND = Decimal(1000)


@dataclass(frozen=True)
class RequestPrice:
    """The price that applies to one deployment's requests (None when tokens are not billed or unknown)."""

    price: TokenPrice | None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.price is not None and self.price.known

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
        """USD for this usage; None when there is no token price (never a silent zero)."""
        if not self.known:
            return None
        assert self.price is not None and self.price.input_per_1k is not None and self.price.output_per_1k is not None
        return Decimal(prompt_tokens) * self.price.input_per_1k / THOUSAND + Decimal(completion_tokens) * self.price.output_per_1k / THOUSAND


def price_for(prices: PriceBook, model: str | None, kind: str) -> RequestPrice:
    """The token price for a deployment's model and kind."""
    if kind == "managed":
        return RequestPrice(None, "managed compute is billed per VM-hour, not per token")
    if model is None:
        return RequestPrice(None, "no catalog model named for this deployment")
    price = prices.token_price(model, "serverless")
    if price is None or not price.known:
        note = f" ({price.note})" if price is not None and price.note else ""
        return RequestPrice(price, f"no price for {model}{note}")
    return RequestPrice(price)
