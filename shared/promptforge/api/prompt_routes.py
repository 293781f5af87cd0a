"""The prompt registry's operations, as Phoenix's REST API spells them.

``api.routes.API_OPERATIONS`` lists each of these once; the logic is ``prompts.registry``.
The response models document the bodies (Phoenix's ``PromptVersion``, ``Prompt`` and
``PromptVersionTag`` objects, each page ``{data, next_cursor}``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from promptforge.api.bodies import read_body
from promptforge.api.operations import Call, Failure, Operation, parse_query
from promptforge.errors import BadRequest
from promptforge.prompts import registry
from promptforge.prompts.schema import MAX_BODY_BYTES, CreatePromptBody, PromptVersionData, TagBody


class PromptVersionOut(PromptVersionData):
    """A stored version: what was posted, and its id."""

    id: str


class VersionAnswer(BaseModel):
    """``{data: <version>}``."""

    data: PromptVersionOut


class VersionPage(BaseModel):
    """A page of versions, newest first."""

    data: list[PromptVersionOut]
    next_cursor: str | None


class PromptOut(BaseModel):
    """A prompt: its id, name, description and metadata."""

    model_config = ConfigDict(extra="allow")
    id: str
    name: str


class PromptPage(BaseModel):
    """A page of prompts, by name."""

    data: list[PromptOut]
    next_cursor: str | None


class TagOut(BaseModel):
    """A tag of a version."""

    id: str
    name: str
    description: str | None = None


class TagPage(BaseModel):
    """A version's tags."""

    data: list[TagOut]
    next_cursor: str | None


class PageQuery(BaseModel):
    """Phoenix's paging: ``cursor`` from the previous page's ``next_cursor``, ``limit``."""

    model_config = ConfigDict(extra="forbid")
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the last page.")
    limit: int = Field(100, ge=1, le=1000, description="Items per page.")


def _param(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not value or len(value) > 200:
        raise BadRequest("invalid_parameter", f"path parameter {name!r} must be 1-200 characters")
    return value


async def _body(call: Call) -> bytes:
    return await read_body(call.request, MAX_BODY_BYTES, "shorten the template or schema")


def _json(data: Any) -> Response:
    return JSONResponse(data)


async def _create(call: Call) -> Response:
    version = await registry.create_version(call.deps, call.tenant, await _body(call))
    return _json({"data": version.to_api()})


async def _list(call: Call) -> Response:
    query = parse_query(PageQuery, call.request)
    return _json(await registry.list_prompts(call.deps, call.tenant, query.limit, query.cursor))


async def _versions(call: Call) -> Response:
    query = parse_query(PageQuery, call.request)
    name = _param(call.request, "name_or_id")
    page = await registry.list_versions(call.deps, call.tenant, name, query.limit, query.cursor)
    return _json(page)


async def _latest(call: Call) -> Response:
    name = _param(call.request, "name_or_id")
    return _json({"data": (await registry.latest_version(call.deps, call.tenant, name)).to_api()})


async def _version(call: Call) -> Response:
    version_id = _param(call.request, "version_id")
    version = await registry.get_version(call.deps, call.tenant, version_id)
    return _json({"data": version.to_api()})


async def _tag(call: Call) -> Response:
    version_id = _param(call.request, "version_id")
    await registry.tag_version(call.deps, call.tenant, version_id, await _body(call))
    return Response(status_code=204)


async def _tags(call: Call) -> Response:
    version_id = _param(call.request, "version_id")
    return _json(await registry.version_tags(call.deps, call.tenant, version_id))


async def _tagged(call: Call) -> Response:
    name, tag = _param(call.request, "name_or_id"), _param(call.request, "tag")
    version = await registry.tagged_version(call.deps, call.tenant, name, tag)
    return _json({"data": version.to_api()})


_PROMPT_404 = Failure(404, "No such prompt for this API key.", ("prompt_not_found",))
_VERSION_404 = Failure(
    404, "No such prompt version for this API key.", ("prompt_version_not_found",)
)
INIT_PROMPT_404 = Failure(
    404,
    "The prompt, version or tag the job names is not the caller's.",
    ("prompt_not_found", "prompt_version_not_found", "prompt_tag_not_found"),
)
"""What ``POST /v1/jobs/init`` answers for a prompt it cannot find."""
_INVALID = Failure(
    422,
    "A field is missing or invalid (details.field is its path): template format or type, "
    "invocation parameters out of the provider's range, a schema that is not JSON Schema, "
    "a tool without a name, a name outside Phoenix's rule.",
    ("invalid_prompt",),
)
_MALFORMED = Failure(400, "The body is not a JSON object.", ("malformed_json",))
_TOO_LARGE = Failure(413, "Body larger than 256 KiB.", ("body_too_large",))
_PATH = Failure(400, "A path parameter is empty or over 200 characters.", ("invalid_parameter",))
_PAGE = Failure(400, "cursor or limit invalid.", ("invalid_parameter", "unknown_parameter"))

CREATE_PROMPT = Operation(
    "POST",
    "/v1/prompts",
    "postPromptVersion",
    "Create a prompt version (the prompt too, on first use of its name)",
    _create,
    VersionAnswer,
    body=CreatePromptBody,
    failures=(_MALFORMED, _TOO_LARGE, _INVALID),
)
LIST_PROMPTS = Operation(
    "GET",
    "/v1/prompts",
    "getPrompts",
    "The caller's prompts, by name, a page at a time",
    _list,
    PromptPage,
    query=PageQuery,
    failures=(_PAGE, _PROMPT_404),
)
LIST_VERSIONS = Operation(
    "GET",
    "/v1/prompts/{name_or_id}/versions",
    "listPromptVersions",
    "A prompt's versions, newest first",
    _versions,
    VersionPage,
    query=PageQuery,
    failures=(_PATH, _PAGE, _PROMPT_404),
)
LATEST_VERSION = Operation(
    "GET",
    "/v1/prompts/{name_or_id}/latest",
    "getPromptVersionLatest",
    "A prompt's newest version",
    _latest,
    VersionAnswer,
    failures=(
        _PATH,
        _PROMPT_404,
    ),
)
GET_VERSION = Operation(
    "GET",
    "/v1/prompt_versions/{version_id}",
    "getPromptVersionByPromptVersionId",
    "One prompt version",
    _version,
    VersionAnswer,
    failures=(
        _PATH,
        _VERSION_404,
    ),
)
TAG_VERSION = Operation(
    "POST",
    "/v1/prompt_versions/{version_id}/tags",
    "createPromptVersionTag",
    "Tag a version (a tag names one version per prompt and moves when set again)",
    _tag,
    None,
    status=204,
    body=TagBody,
    failures=(_PATH, _MALFORMED, _TOO_LARGE, _INVALID, _VERSION_404),
)
VERSION_TAGS = Operation(
    "GET",
    "/v1/prompt_versions/{version_id}/tags",
    "getPromptVersionTags",
    "A version's tags",
    _tags,
    TagPage,
    failures=(
        _PATH,
        _VERSION_404,
    ),
)
TAGGED_VERSION = Operation(
    "GET",
    "/v1/prompts/{name_or_id}/tags/{tag}",
    "getPromptVersionByTagName",
    "The version a tag names",
    _tagged,
    VersionAnswer,
    failures=(
        _PATH,
        _PROMPT_404,
        Failure(404, "The prompt has no such tag.", ("prompt_tag_not_found",)),
    ),
)
