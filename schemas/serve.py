"""``serve:``: the OpenAI-compatible HTTP front door (``routeyard serve``)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKeyConfig(_Config):
    """A gateway API key, stored as its SHA-256: the config never holds the key itself.

    ``routeyard hash-key`` prints the hash of a key read from stdin.
    """

    name: str = Field(min_length=1, max_length=64, description="for logs and usage: never the key")
    tenant: str = Field(min_length=1, max_length=64, description="requests with this key bill here")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")


class ServeConfig(_Config):
    listen: str = Field(default="127.0.0.1:8080", pattern=r"^[^\s:]+:\d{1,5}$")
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    request_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="wait for an outcome this long, then 504"
    )
    max_pending: int = Field(
        default=10_000, ge=1, description="requests one server waits for at once; 503 beyond"
    )

    @model_validator(mode="after")
    def _keys_unique(self) -> Self:
        seen: dict[str, str] = {}
        for i, key in enumerate(self.api_keys):
            if key.sha256 in seen:
                raise ValueError(f"api_keys[{i}].sha256: the same key as {seen[key.sha256]!r}")
            seen[key.sha256] = key.name
        return self

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])
