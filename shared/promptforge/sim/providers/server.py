"""The provider simulator as a Starlette app: the four providers at their real paths.

Routes (all providers at once): ``POST /v1/chat/completions`` (OpenAI),
``POST /mistral/v1/chat/completions`` (Mistral), ``POST /v1/messages`` (Anthropic),
``POST /v1beta/models/{model}:generateContent`` (Gemini; also under ``/v1``). With
``only="mistral"`` (or any provider) the app serves that provider alone at its real
path, so the simulator's root URL works as that SDK's base URL. Always:
``GET /_sim/stats``, ``GET /_sim/limits``, ``POST /_sim/limits`` (``{"limit":
"PROVIDER:name=value,..."}``, the ``--limit`` syntax: change a limit now, as
``--limit-change`` does at a time), ``POST /_sim/reset``, and ``GET /_sim/requests``
(the bodies of the last ``REQUEST_LOG`` accepted calls, to check what an adapter sent).

A call: authenticate, parse, generate the answer, charge the limits (429 if refused),
then maybe inject a fault (drop, hang, 529, 5xx: seeded RNG), sleep a lognormal
latency, give back unused tokens, answer. A request with a JSON schema is answered with
JSON built from it (``structured.py``; ``off_schema_rate`` misses it on purpose); images
count as input tokens by each provider's rule (``images.py``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from promptforge.sim.providers.anthropic import AnthropicWire
from promptforge.sim.providers.config import PROVIDERS, SimulatorConfig
from promptforge.sim.providers.gemini import GeminiWire
from promptforge.sim.providers.latency import draw_latency
from promptforge.sim.providers.limits import SimulatorLimiter
from promptforge.sim.providers.mistral import MistralWire
from promptforge.sim.providers.openai import OpenAIWire
from promptforge.sim.providers.options import overridden, parse_limit
from promptforge.sim.providers.stats import SimStats
from promptforge.sim.providers.structured import answers_off_schema, schema_completion
from promptforge.sim.providers.text import Completion, complete, prompt_key
from promptforge.sim.providers.wire import (
    CallContext,
    Caller,
    ProviderWire,
    Reply,
    SimRequest,
    WireError,
)

_RAW_SEND = "promptforge.sim.providers.raw_send"
_DISCONNECT_POLL = 0.05
_GEMINI_PATHS = ("/v1beta/models/{model}:generateContent", "/v1/models/{model}:generateContent")
_PATHS: dict[str, tuple[str, ...]] = {
    "openai": ("/v1/chat/completions",),
    "anthropic": ("/v1/messages",),
    "gemini": _GEMINI_PATHS,
    "mistral": ("/v1/chat/completions",),
}


def _wires(config: SimulatorConfig) -> dict[str, ProviderWire]:
    gemini = GeminiWire(quota_failure=config.quota_failure)
    wires: list[ProviderWire] = [OpenAIWire(), AnthropicWire(), gemini, MistralWire()]
    return {wire.name: wire for wire in wires}


def _response(reply: Reply) -> Response:
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


class _DropConnection(Response):
    """Closes the client's connection without sending a byte of response."""

    def __init__(self) -> None:
        super().__init__(status_code=502)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn's send is a bound method of the request cycle, which holds the transport.
        cycle = getattr(scope.get(_RAW_SEND), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:  # another server: the nearest thing is an empty 502
            await super().__call__(scope, receive, send)
            return
        transport.close()
        for _ in range(100):  # let the server notice, so it sends no 500 of its own
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0)


class Simulator:
    """The simulator's state and request handling, shared by every route."""

    def __init__(
        self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.wires = _wires(config)
        self.limiter = SimulatorLimiter(config.limits, config.schedule, clock, config.time_scale)
        self.stats = SimStats()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG)
        self._rng = random.Random(config.seed)

    def reset(self) -> None:
        """Full buckets, original limits, zeroed stats, the RNG reseeded."""
        self.limiter.reset()
        self.stats.reset()
        self.requests.clear()
        self._rng = random.Random(self.config.seed)

    def _fault(self, wire: ProviderWire) -> str | None:
        # Always four draws, so the sequence does not depend on which rates are set.
        draws = [self._rng.random() for _ in range(4)]
        config = self.config
        if draws[0] < config.drop_rate:
            return "drop"
        if draws[1] < config.timeout_rate:
            return "hang"
        if (
            draws[2] < config.overloaded_rate
            and type(wire).overloaded is not ProviderWire.overloaded
        ):
            return "overloaded"
        if draws[3] < config.error_rate:
            return "error"
        return None

    def _latency(self) -> float:
        config = self.config
        return draw_latency(
            self._rng, config.latency_median, config.latency_sigma, config.time_scale
        )

    async def _client_left(self, request: Request, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if await request.is_disconnected():
                return True
            await asyncio.sleep(min(_DISCONNECT_POLL, left))
        return await request.is_disconnected()

    async def handle(self, wire: ProviderWire, request: Request) -> Response:
        """Serve one provider call."""
        stats = self.stats.providers[wire.name]
        stats.requests += 1
        ctx = CallContext(wire.new_request_id(), datetime.now(UTC))
        try:
            caller = Caller(request.headers, request.query_params, self.config.api_keys)
            wire.authenticate(caller, ctx)
            call = wire.parse(await request.body(), request.path_params.get("model"), ctx)
        except WireError as exc:
            stats.rejected += 1
            return _response(exc.reply)
        self.requests.append({"provider": wire.name, "body": json.loads(await request.body())})
        key = prompt_key(call.prompt)
        self.stats.attempts_per_prompt[key] += 1
        completion, off_schema = self._complete(call)
        decision = self.limiter.admit(wire.name, wire.cost(call, completion))
        if not decision.admitted:
            stats.rate_limited += 1
            return _response(wire.rate_limited(call, completion, decision, ctx))
        fault = self._fault(wire)
        latency = self._latency()
        if fault == "drop":
            stats.errors += 1
            stats.dropped += 1
            return _DropConnection()
        if fault == "hang" and await self._client_left(request, self.config.hang_seconds):
            stats.errors += 1
            stats.timeouts += 1
            return _DropConnection()
        await asyncio.sleep(latency)
        ctx = replace(ctx, processing_ms=round(latency * 1000))
        overloaded = wire.overloaded(ctx) if fault == "overloaded" else None
        if overloaded is not None:
            stats.errors += 1
            stats.overloaded += 1
            return _response(overloaded)
        if fault == "error":
            stats.errors += 1
            stats.server_errors += 1
            return _response(wire.server_error(ctx))
        self.limiter.refund(wire.name, wire.unused(call, completion))
        stats.successes += 1
        stats.input_tokens += call.input_tokens
        stats.image_tokens += call.image_tokens
        stats.output_tokens += completion.tokens
        stats.off_schema += off_schema
        self.stats.calls_per_prompt[key] += 1
        return _response(wire.success(call, completion, decision, ctx))

    def _complete(self, call: SimRequest) -> tuple[Completion, bool]:
        """The answer, and whether it misses the request's schema on purpose."""
        config = self.config
        if call.schema is None:
            text = complete(config.seed, call.prompt, call.max_tokens, config.output_tokens_mean)
            return text, False
        off = not call.follow_up and answers_off_schema(
            config.seed, call.prompt, config.off_schema_rate
        )
        return schema_completion(config.seed, call.prompt, call.schema, off_schema=off), off

    def change_limits(self, text: str) -> None:
        """Apply ``PROVIDER:name=value,...`` now; ``ValueError`` saying what is wrong."""
        override = parse_limit(text)
        if override.provider not in self.wires:
            raise ValueError(f"limit {text!r}: {override.provider} is not served here")
        spec = overridden(self.limiter.spec(override.provider), override)
        self.limiter.change(override.provider, spec)

    def limits(self) -> dict[str, Any]:
        """Every provider's limits and their current state, as JSON."""
        return {
            name: {
                "spec": asdict(self.limiter.spec(name)),
                "state": {
                    kind.value: asdict(view) for kind, view in self.limiter.views(name).items()
                },
            }
            for name in self.wires
        }


REQUEST_LOG = 2000
"""How many accepted request bodies ``GET /_sim/requests`` keeps (the newest)."""


class _SimulatorApp(Starlette):
    """Starlette that keeps the server's own ``send`` so a route can drop the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


def _provider_route(simulator: Simulator, provider: str, path: str) -> Route:
    wire = simulator.wires[provider]

    async def endpoint(request: Request) -> Response:
        return await simulator.handle(wire, request)

    return Route(path, endpoint, methods=["POST"], name=f"{provider}:{path}")


def create_app(config: SimulatorConfig, only: str | None = None) -> Starlette:
    """The simulator app; ``only`` serves one provider at its real paths (e.g. Mistral)."""
    if only is not None and only not in PROVIDERS:
        raise ValueError(f"unknown provider {only!r}; expected one of {PROVIDERS}")
    simulator = Simulator(config)
    if only is None:
        paths = [("openai", p) for p in _PATHS["openai"]]
        paths += [("mistral", f"/mistral{p}") for p in _PATHS["mistral"]]
        paths += [("anthropic", p) for p in _PATHS["anthropic"]]
        paths += [("gemini", p) for p in _PATHS["gemini"]]
    else:
        paths = [(only, p) for p in _PATHS[only]]

    async def stats(request: Request) -> Response:
        return JSONResponse(simulator.stats.to_dict())

    async def limits(request: Request) -> Response:
        return JSONResponse(simulator.limits())

    async def change_limits(request: Request) -> Response:
        try:
            body = await request.json()
            text = body.get("limit") if isinstance(body, dict) else None
            if not isinstance(text, str):
                raise ValueError('expected a JSON body {"limit": "PROVIDER:name=value,..."}')
            simulator.change_limits(text)
        except ValueError as exc:
            return JSONResponse({"error": {"code": "invalid_limit", "message": str(exc)}}, 400)
        return JSONResponse(simulator.limits())

    async def requests(request: Request) -> Response:
        return JSONResponse(list(simulator.requests))

    async def reset(request: Request) -> Response:
        simulator.reset()
        return JSONResponse({"reset": True})

    routes = [_provider_route(simulator, provider, path) for provider, path in paths]
    routes += [
        Route("/_sim/stats", stats, methods=["GET"]),
        Route("/_sim/limits", limits, methods=["GET"]),
        Route("/_sim/limits", change_limits, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/requests", requests, methods=["GET"]),
    ]
    app = _SimulatorApp(routes=routes)
    app.state.simulator = simulator
    return app
