"""The Python client of the PromptForge API.

::

    import asyncio
    from pathlib import Path

    from promptforge.client import PromptForgeClient


    async def main() -> None:
        async with PromptForgeClient("http://127.0.0.1:8080", "pf_...") as client:
            report = await client.validate(Path("prompts.jsonl"), "openai", "gpt-4o-mini")
            if not report["valid"]:
                raise SystemExit(report["errors"])
            job = await client.submit(
                Path("prompts.jsonl"), "openai", "gpt-4o-mini",
                name="nightly", metadata={"team": "search"}, idempotency_key="nightly-42",
            )
            print(await client.status(job["job_id"]))
            async for line in client.stream_results(job["job_id"]):
                print(line)


    asyncio.run(main())

Every method is one API call; a failed call raises :class:`ClientError`, whose message
says what to fix and whose ``retryable`` says whether trying again may help. The CLI
(``promptforge submit``, ``promptforge jobs ...``) is built on this client.
"""

from promptforge.client._client import CHUNK_SIZE, PromptForgeClient
from promptforge.client._errors import ClientError

__all__ = ["CHUNK_SIZE", "ClientError", "PromptForgeClient"]
