"""The brake in the runtime: a worker's refusal at slow start's cliff slows the key at once.

The rule is the controller's (``ratecontrol.brake``): the first fresh 429 of a headerless
key in slow start clamps its rate to a third. A worker that gets a 429 asks it with the
key's saved state; when it applies, the worker saves the braked state (the controller's
next step sees the brake in the rate history and measures its cut after it) and
configures the key's queue(s) at the braked rate (``core.control.configure_queues``:
at once on the embedded dispatcher). The rule declines where a gate thins dispatches
(Google Cloud, whose queues apply a rate seconds late; measured slower there, see
``ratecontrol.brake.brake``). The save is ``ratestate.update_rate_state``'s compare-and-set:
a controller step saved since the worker's read wins (the queue is put back at its rate),
and so does another worker's brake.
"""

from __future__ import annotations

import dataclasses
import logging

from promptforge.core.control import configure_queues
from promptforge.core.deps import Deps
from promptforge.core.ratestate import RateKeyState, update_rate_state
from promptforge.ratecontrol.base import Observation
from promptforge.ratecontrol.brake import brake, braked_at
from promptforge.ratecontrol.headroom import queue_history

__all__ = ["brake_key"]

log = logging.getLogger(__name__)


async def brake_key(
    deps: Deps, key: str, observation: Observation, cached: RateKeyState | None = None
) -> float | None:
    """Brake ``key`` on a refusal a worker just saw, if the rule says so; the braked rate.

    ``cached``: a copy of the key's saved state the worker holds (up to a period old).
    When the rule does not apply to it (a key past slow start: most refusals), the store
    is not read; otherwise the rule is asked again on a fresh read, which is what is
    saved back (a stale copy would undo the controller's last step).
    """
    config = deps.config.rate_control
    now = deps.clock.now().timestamp()
    if cached is not None and (
        cached.state is None or brake(cached.state, observation, now, config) is None
    ):
        return None
    saved = await deps.store.load_rate_state(key)
    if saved is None or saved.state is None or saved.decision is None:
        return None
    braked = brake(saved.state, observation, now, config)
    if braked is None:
        return None
    queued = queue_history(braked)[-1][1]
    sent = await configure_queues(deps, saved, queued)
    decision = dataclasses.replace(
        saved.decision, rate=braked.rate, queue_rate=queued, applied_rate=queued, sent_rate=sent
    )
    steps = saved.steps

    def fold(latest: RateKeyState) -> RateKeyState | None:
        if latest.steps != steps or latest.state is None:
            return None  # the controller stepped meanwhile: its decision stands
        if braked_at(latest.state) is not None:
            return None  # another worker braked first (the same rule, the same rate)
        return dataclasses.replace(latest, state=braked, decision=decision)

    latest, written = await update_rate_state(deps.store, key, fold)
    if not written:
        if latest.decision is not None and latest.steps != steps:
            # The queue, braked for a moment, goes back to the step's rate.
            has = dataclasses.replace(latest.decision, sent_rate=queued)
            await configure_queues(
                deps, dataclasses.replace(latest, decision=has), latest.decision.applied_rate
            )
        return None
    log.info("rate key %s: braked to %.2f/s at its first 429", key, braked.rate)
    return braked.rate
