"""What every API command shares (``cli/calls.py``): its group, its client, its exit codes."""

from __future__ import annotations

import argparse

import pytest

from promptforge.cli.calls import DEFAULT_URL, with_client
from promptforge.cli.main import build_parser
from promptforge.client import ClientError, PromptForgeClient

pytestmark = pytest.mark.anyio


def test_a_group_command_takes_json_and_the_client_options() -> None:
    args = build_parser().parse_args(["prompts", "show", "greeting@production", "--json"])
    assert (args.prompts_command, args.json) == ("show", True)
    assert args.version == {"prompt": "greeting", "tag": "production"}
    assert args.url == DEFAULT_URL
    jobs = build_parser().parse_args(["jobs", "cancel", "job-1", "--url", "http://pf:1"])
    assert (jobs.jobs_command, jobs.job_id, jobs.url, jobs.json) == (
        "cancel",
        "job-1",
        "http://pf:1",
        False,
    )


async def test_without_an_api_key_nothing_runs_and_the_exit_code_is_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMPTFORGE_API_KEY", raising=False)
    ran: list[PromptForgeClient] = []

    async def run(client: PromptForgeClient) -> int:
        ran.append(client)
        return 0

    assert await with_client(argparse.Namespace(url=DEFAULT_URL), run) == 2
    assert ran == []


async def test_an_api_error_is_printed_and_answers_1_else_the_commands_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROMPTFORGE_API_KEY", "pf_test")
    args = argparse.Namespace(url="http://127.0.0.1:9")

    async def refused(client: PromptForgeClient) -> int:
        assert client.base_url == "http://127.0.0.1:9"
        raise ClientError(404, "job_not_found", "no job [x]", hint="check the id")

    async def done(client: PromptForgeClient) -> int:
        return 7

    assert await with_client(args, refused) == 1
    assert "no job [x] [job_not_found, HTTP 404]. check the id" in capsys.readouterr().err
    assert await with_client(args, done) == 7
