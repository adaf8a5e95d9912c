"""The ``providers`` entries of the config file: one model per wire format, chosen by ``format``.

Each format takes only its own fields (AWS key names and a region on ``bedrock``, a
``preset`` and an ``api_version`` on ``openai``), so a field given to the wrong kind of
provider stops start-up with its path in the message. Default endpoints are here, next
to the OpenAI presets' names, because the config check needs them: a provider that has
neither a default nor a ``base_url`` is refused when the file is loaded. What a preset
changes on the wire is data in :mod:`adapters.openai.presets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

WireFormat = Literal["openai", "anthropic", "gemini", "cohere", "bedrock", "ollama"]
# OpenAI-compatible services: the same wire format, differing in URL, auth and quirks.
OpenAIPreset = Literal[
    "openai",
    "azure",
    "openrouter",
    "deepseek",
    "xai",
    "perplexity",
    "mistral",
    "together",
    "groq",
    "vllm",
    "lmstudio",
    "ollama",
    "tgi",
]

# Public endpoints; self-hosted servers and Azure resources have none and need base_url.
OPENAI_PRESET_BASE_URLS: Mapping[OpenAIPreset, str | None] = MappingProxyType(
    {
        "openai": "https://api.openai.com/v1",
        "azure": None,
        "openrouter": "https://openrouter.ai/api/v1",
        "deepseek": "https://api.deepseek.com/v1",
        "xai": "https://api.x.ai/v1",
        "perplexity": "https://api.perplexity.ai",
        "mistral": "https://api.mistral.ai/v1",
        "together": "https://api.together.xyz/v1",
        "groq": "https://api.groq.com/openai/v1",
        "vllm": None,
        "lmstudio": None,
        "ollama": "http://127.0.0.1:11434/v1",
        "tgi": None,
    }
)
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
COHERE_BASE_URL = "https://api.cohere.com"
OLLAMA_BASE_URL = "http://127.0.0.1:11434"


class _Provider(BaseModel):
    """What every format takes: where to send, how long to wait, extra headers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl | None = Field(default=None, description="defaults per format and preset")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra static headers, e.g. OpenRouter's X-Title"
    )

    def default_base_url(self) -> str | None:
        """The endpoint used when the config gives no ``base_url``; None when there is none."""
        return None

    @property
    def resolved_base_url(self) -> str:
        if self.base_url is not None:
            return str(self.base_url).rstrip("/")
        default = self.default_base_url()
        if default is None:
            # Each format's validator refuses such a config; only model_construct gets here.
            raise ValueError(f"{type(self).__name__} has no base_url and no default endpoint")
        return default


class _KeyedProvider(_Provider):
    """A provider that takes an API key, read from the environment or from a file."""

    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the key"
    )
    api_key_file: str | None = Field(default=None, description="a file holding the key")

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if self.api_key_env and self.api_key_file:
            raise ValueError("api_key_env and api_key_file: give one of them, not both")
        return self


class OpenAIProvider(_KeyedProvider):
    format: Literal["openai"]
    preset: OpenAIPreset = Field(default="openai", description="which compatible service")
    api_version: str | None = Field(default=None, description="Azure OpenAI's api-version")

    def default_base_url(self) -> str | None:
        return OPENAI_PRESET_BASE_URLS[self.preset]

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.preset == "azure" and not self.api_version:
            raise ValueError("api_version: required by the azure preset, e.g. 2024-10-21")
        if self.base_url is None and self.default_base_url() is None:
            raise ValueError(f"base_url: required for format openai with preset {self.preset}")
        return self


class AnthropicProvider(_KeyedProvider):
    format: Literal["anthropic"]

    def default_base_url(self) -> str:
        return ANTHROPIC_BASE_URL


class GeminiProvider(_KeyedProvider):
    format: Literal["gemini"]

    def default_base_url(self) -> str:
        return GEMINI_BASE_URL


class CohereProvider(_KeyedProvider):
    format: Literal["cohere"]

    def default_base_url(self) -> str:
        return COHERE_BASE_URL


class OllamaProvider(_KeyedProvider):
    """A local server takes no key; ollama.com does."""

    format: Literal["ollama"]

    def default_base_url(self) -> str:
        return OLLAMA_BASE_URL


class BedrockProvider(_Provider):
    """AWS signs with an access key pair (SigV4), read from the environment."""

    format: Literal["bedrock"]
    region: str | None = Field(default=None, description="else read from base_url's host")
    aws_access_key_env: str = "AWS_ACCESS_KEY_ID"
    aws_secret_key_env: str = "AWS_SECRET_ACCESS_KEY"
    aws_session_token_env: str = "AWS_SESSION_TOKEN"

    def default_base_url(self) -> str | None:
        return f"https://bedrock-runtime.{self.region}.amazonaws.com" if self.region else None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not (self.region or self.base_url):
            raise ValueError("region: required by format bedrock (or give base_url)")
        return self


ProviderConfig = Annotated[
    OpenAIProvider
    | AnthropicProvider
    | GeminiProvider
    | CohereProvider
    | BedrockProvider
    | OllamaProvider,
    Field(discriminator="format"),
]
