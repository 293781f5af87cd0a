"""A price before running: what a prompts file would cost, from its token counts and the catalogue.

``Estimator`` is fed each valid prompt of a file (the validate call feeds it) and gives
``CostEstimate``: the input tokens at the stated approximation (``core.tokens``), the most
output tokens the job could be billed (``max_tokens``, or the model's output cap, per
prompt), and a bracket of the job's price at list prices:

- ``usd_low``: the input at its low count (six characters a token) and empty answers —
  the least the file can plausibly cost;
- ``usd_high``: the input at one token per byte and every answer at ``max_tokens`` — the
  most it can cost; the cost cap (``core.spend``) reserves the same per call, plus the
  bytes of a ``response_format`` schema and of ``tools``, which this leaves out.

Retries of failed calls are not counted: a retried call is billed again only if the
provider served it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from promptforge.core.messages import Prompt
from promptforge.core.tokens import approx_tokens, max_tokens_of, min_tokens_of
from promptforge.providers.catalogue import Catalogue, ModelInfo

TOKENIZER = "approximate"
"""How input tokens are counted (``core.tokens``): no exact tokenizer works offline."""


class CostEstimate(BaseModel):
    """What a file would cost on a model, before it runs."""

    input_tokens: int = Field(
        description="Input tokens at about four characters a token, chat overheads included."
    )
    output_tokens_max: int = Field(
        description="Every prompt answered at max_tokens (the model's output cap if unset)."
    )
    usd_low: float = Field(description="Input at six characters a token, empty answers.")
    usd_high: float = Field(
        description="Input at one token per byte, every answer at max_tokens: the worst case."
    )
    tokenizer: str = Field(
        TOKENIZER, description="approximate: see docs/api.md for how tokens are counted."
    )


class Estimator:
    """Sums a file's prompts into a ``CostEstimate`` for one model."""

    def __init__(
        self, info: ModelInfo, *, max_tokens: int | None = None, system: str | None = None
    ) -> None:
        self._info = info
        self._output_per_prompt = max_tokens if max_tokens is not None else info.max_output_tokens
        self._system = system
        self._approx = self._low = self._high = self._prompts = 0

    def add(self, prompt: Prompt) -> None:
        """Count one valid prompt."""
        self._prompts += 1
        self._approx += approx_tokens(prompt, self._system)
        self._low += min_tokens_of(prompt, self._system)
        self._high += max_tokens_of(prompt, self._system)

    def result(self) -> CostEstimate:
        """The estimate of every prompt added so far."""
        output_max = self._prompts * self._output_per_prompt
        low = Catalogue.estimate_cost(self._info, self._low, 0)
        high = Catalogue.estimate_cost(self._info, self._high, output_max)
        return CostEstimate(
            input_tokens=self._approx,
            output_tokens_max=output_max,
            usd_low=round(low, 6),
            usd_high=round(high + 5e-7, 6),  # rounded up: the bound stays a bound
        )
