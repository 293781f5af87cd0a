"""What an OpenAI-compatible base URL implies: request URL, key header, max-tokens field.

The operator names an endpoint by its base URL alone (``PROMPTFORGE_OPENAI_BASE_URL`` or the
secrets file); everything else follows from it:

    https://api.openai.com
        {base}/v1/chat/completions, Bearer key, max_completion_tokens
    https://RES.openai.azure.com/openai/v1   (Azure OpenAI v1 API)
        {base}/chat/completions, api-key header, max_completion_tokens
    https://RES.openai.azure.com/openai/deployments/DEPLOYMENT[?api-version=V]
        {base}/chat/completions?api-version=V (AZURE_API_VERSION if none), api-key header,
        max_completion_tokens; any host with such a path is taken as Azure-style
    anything else: vLLM, Ollama, DeepSeek, xAI, ...
        {base}/v1/chat/completions, Bearer key (none if the key is empty), max_tokens

OpenAI's own API refuses ``max_tokens`` for its reasoning models, so it and Azure OpenAI get
``max_completion_tokens``; compatible servers all accept ``max_tokens`` (Ollama and DeepSeek
know no other). A base URL that already ends in ``/chat/completions`` is used as is. Such a
server's models join the catalogue as ``"provider": "openai"`` entries of the operator's
models file (``PROMPTFORGE_MODELS_FILE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

AZURE_API_VERSION = "2024-10-21"
"""The Azure OpenAI GA API version used when a deployments URL names none."""

_OPENAI_HOSTS = frozenset({"api.openai.com"})
_AZURE_HOST_SUFFIXES = (
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
)
_DEPLOYMENTS = "/openai/deployments/"
_CHAT = "/chat/completions"


@dataclass(frozen=True)
class ChatEndpoint:
    """Where to POST a chat completion and how the endpoint wants the key and the length cap."""

    url: str
    key_header: str  # "Authorization" (sent as ``Bearer KEY``) or "api-key"
    max_tokens_field: str

    def key_headers(self, api_key: str) -> dict[str, str]:
        """The header that carries ``api_key``; none when there is no key (local servers)."""
        if not api_key:
            return {}
        if self.key_header == "Authorization":
            return {"Authorization": f"Bearer {api_key}"}
        return {self.key_header: api_key}


def chat_endpoint(base_url: str) -> ChatEndpoint:
    """The endpoint a base URL names, by the table in this module's docstring."""
    parts = urlsplit(base_url.strip())
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    azure = host.endswith(_AZURE_HOST_SUFFIXES) or _DEPLOYMENTS in f"{path}/"
    official = azure or host in _OPENAI_HOSTS
    field = "max_completion_tokens" if official else "max_tokens"
    header = "api-key" if azure else "Authorization"
    if path.endswith(_CHAT):
        return ChatEndpoint(base_url.strip(), header, field)
    query = parts.query
    if _DEPLOYMENTS in f"{path}/":
        path += _CHAT
        if "api-version" not in dict(parse_qsl(query)):
            query = urlencode([*parse_qsl(query), ("api-version", AZURE_API_VERSION)])
    elif azure and path.endswith("/v1"):
        path += _CHAT
    else:
        path = path.removesuffix("/v1") + "/v1" + _CHAT
    url = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    return ChatEndpoint(url, header, field)
