"""The services speaking OpenAI's Chat Completions dialect, as data.

A preset is configuration, not a subclass: the one adapter in
:mod:`adapters.openai.adapter` reads its URL shape, auth header, request field names,
the features the service can carry and the few quirks worth encoding from here.

Features are declared per service, not per model: a service that serves vision models
lists ``images`` and lets the provider reject a text-only model. A feature is left out
only when the service's wire format cannot carry it (or silently ignores it), so such a
request fails over to another model instead of being quietly changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote

from adapters.capabilities import Capabilities, Feature, features
from adapters.errors import ContentFiltered, ProviderError
from schemas.providers import OpenAIPreset, OpenAIProvider

AuthStyle = Literal["bearer", "api-key"]
MaxTokensField = Literal["max_tokens", "max_completion_tokens"]


_TEXT = features("system_prompt", "temperature", "top_p", "stop")
_TOOLS = features("tools", "tool_choice_required")
_IMAGES = features("images", "image_urls")
_JSON = features("json_object", "json_schema")
_ALL = _TEXT | _TOOLS | _IMAGES | _JSON

# OpenAI's own wording, copied by servers that have no error code for it.
_MAX_CONTEXT = "maximum context length"
# Text Generation Inference's validation message (Together runs on it too).
_TGI_INPUT_LIMIT = "`inputs` tokens + `max_new_tokens` must be <="


@dataclass(frozen=True)
class Preset:
    features: frozenset[Feature]
    auth: AuthStyle = "bearer"
    deployment_in_path: bool = False
    """Azure: the model (deployment) is in the URL with an ``api-version`` query, not in
    the body."""
    max_tokens_field: MaxTokensField = "max_tokens"
    request_id_headers: tuple[str, ...] = ("x-request-id",)
    reports_cached_tokens: bool = False
    context_window_phrases: tuple[str, ...] = ()
    """For services that report an over-long prompt as a plain 400 with no error code:
    the message is then the only signal (lower case, matched as substrings)."""
    status_errors: Mapping[int, type[ProviderError]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Statuses that mean something specific on this service."""
    short_tool_call_ids: bool = False
    """Mistral accepts only tool call ids of nine letters or digits."""
    stream_options: bool = True
    """A stream asks for its usage with ``stream_options.include_usage``. Off where the
    service refuses the field and reports usage in its chunks unasked (Mistral, Perplexity)."""
    stream_ends_with_done: bool = True
    """A stream is complete only at ``data: [DONE]``. Perplexity sends none: its stream
    is complete once a chunk carried the finish reason and the body ended."""

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            self.features, streaming=True, reports_cached_tokens=self.reports_cached_tokens
        )

    @property
    def takes_tool_choice(self) -> bool:
        # Servers without "required" also ignore the field altogether.
        return "tool_choice_required" in self.features


PRESETS: Mapping[OpenAIPreset, Preset] = MappingProxyType(
    {
        # Reasoning models refuse max_tokens; max_completion_tokens works for every model.
        "openai": Preset(
            _ALL, max_tokens_field="max_completion_tokens", reports_cached_tokens=True
        ),
        "azure": Preset(
            _ALL,
            auth="api-key",
            deployment_in_path=True,
            # Supported from api-version 2024-09-01-preview (GA 2024-10-21).
            max_tokens_field="max_completion_tokens",
            request_id_headers=("apim-request-id", "x-request-id"),
            reports_cached_tokens=True,
        ),
        "openrouter": Preset(
            _ALL,
            reports_cached_tokens=True,
            # OpenRouter's error.code is the HTTP status, so only the message is left.
            context_window_phrases=(_MAX_CONTEXT,),
            # 403 is OpenRouter's "input flagged by moderation", not a key problem.
            status_errors=MappingProxyType({403: ContentFiltered}),
        ),
        # No image input; JSON mode but no schema-constrained output.
        "deepseek": Preset(
            _TEXT | _TOOLS | features("json_object"),
            reports_cached_tokens=True,
            context_window_phrases=(_MAX_CONTEXT,),
        ),
        "xai": Preset(
            _ALL, reports_cached_tokens=True, context_window_phrases=("maximum prompt length",)
        ),
        # Sonar models: no tools, no images, no stop sequences; structured output only
        # through json_schema. Citations come back with every answer (and every chunk
        # of a stream, with the usage so far).
        "perplexity": Preset(
            features("system_prompt", "temperature", "top_p", "json_schema"),
            stream_options=False,
            stream_ends_with_done=False,
        ),
        # Extra request fields are a 422 at Mistral; usage comes in the finish chunk.
        "mistral": Preset(
            _ALL,
            context_window_phrases=(_MAX_CONTEXT,),
            short_tool_call_ids=True,
            stream_options=False,
        ),
        "together": Preset(_ALL, context_window_phrases=(_TGI_INPUT_LIMIT, _MAX_CONTEXT)),
        "groq": Preset(_ALL, reports_cached_tokens=True),
        "vllm": Preset(_ALL, context_window_phrases=(_MAX_CONTEXT,)),
        # LM Studio rejects json_object ("must be 'json_schema'"), takes inline images
        # only, and has no tool_choice.
        "lmstudio": Preset(_TEXT | features("tools", "images", "json_schema")),
        # Ollama's /v1 ignores tool_choice.
        "ollama": Preset(_TEXT | features("tools") | _IMAGES | _JSON),
        # TGI's response_format is its own grammar shape ({"type": "json", "value": ...}),
        # not OpenAI's, and it has no "required" tool choice.
        "tgi": Preset(
            _TEXT | features("tools") | _IMAGES, context_window_phrases=(_TGI_INPUT_LIMIT,)
        ),
    }
)


def preset_for(config: OpenAIProvider) -> Preset:
    return PRESETS[config.preset]


def chat_url(preset: Preset, base_url: str, model: str, api_version: str | None) -> str:
    base = base_url.rstrip("/")
    if preset.deployment_in_path:
        deployment = quote(model, safe="")
        version = quote(api_version or "", safe="")
        return f"{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"
    return f"{base}/chat/completions"


def auth_headers(preset: Preset, api_key: str | None) -> dict[str, str]:
    if not api_key:
        return {}
    if preset.auth == "api-key":
        return {"api-key": api_key}
    return {"authorization": f"Bearer {api_key}"}
