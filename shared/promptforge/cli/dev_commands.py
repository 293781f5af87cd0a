"""``promptforge dev google``: the demo job through the Google path, on this machine.

The step before ``terraform apply`` (docs/deploy.md): the four functions run as deployed,
on the Firestore, GCS and Cloud Tasks emulators, behind a stand-in for Cloud Run's front
end, against the provider simulator; the job shows the same progress as
``promptforge demo``. Every process started is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from promptforge.cli.commands import _demo_file, console, run_demo_job, simulator_config

SIMULATED_KEY = "sk-demo-simulated"


async def cmd_dev_google(args: argparse.Namespace) -> int:
    """Start the Google stand-ins and the functions, run the demo job, stop everything."""
    from promptforge.devstack.google import google_dev_stack
    from promptforge.embedded.server import BackgroundServer
    from promptforge.logs import configure_logging
    from promptforge.sim.providers.server import create_app

    configure_logging("WARNING")
    with contextlib.ExitStack() as stack:
        work = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        sim_config = simulator_config(rpm=args.limit_rpm, tpm=None, latency=0.3)
        async with BackgroundServer(create_app(sim_config)) as simulator:
            provider = {
                "PROMPTFORGE_OPENAI_API_KEY": SIMULATED_KEY,
                "PROMPTFORGE_OPENAI_BASE_URL": simulator.url,
            }
            console.print(
                "starting the Firestore, GCS and Cloud Tasks emulators and the four functions "
                f"(logs in {work})…"
            )
            async with google_dev_stack(work, provider) as google:
                console.print(
                    f"PromptForge's functions on the emulators, api on {google.api_url}; "
                    f"provider simulator on {simulator.url} (OpenAI API, limit "
                    f"{args.limit_rpm} RPM — PromptForge is not told it)"
                )
                prompts = _demo_file(work, args.prompts)
                where = " through the Google path"
                return await run_demo_job(google.api_url, google.api_key, prompts, args.out, where)
    return 1  # pragma: no cover - the stack's context returns above
