"""The rate-control simulation: the real controller against modelled providers, in virtual time.

``engine`` (the event loop), ``provider`` and ``signals`` (providers built on the
simulator's limiter), ``cloudtasks`` (the queue), ``forge`` (PromptForge's controller,
worker and queue side), ``baselines`` (what users run today), ``scenarios``,
``metrics``, ``runner``, ``report`` and ``plots``; ``cli`` is ``promptforge bench rate``
and ``wallclock`` the real-time check against the embedded runtime.
"""
