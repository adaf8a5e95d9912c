"""Provider secrets, read from the environment or from files; never from the config itself.

Nothing here logs a secret: errors name the variable or the file, not its content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.config import GatewayConfig
from schemas.providers import BedrockProvider, ProviderConfig


@dataclass(frozen=True)
class AwsKeys:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = field(default=None, repr=False)
    aws: AwsKeys | None = None


def credentials_for(provider: ProviderConfig, env: Mapping[str, str] = os.environ) -> Credentials:
    """What ``provider`` authenticates with; absent values stay None (see missing_credentials)."""
    if isinstance(provider, BedrockProvider):
        access, secret = env.get(provider.aws_access_key_env), env.get(provider.aws_secret_key_env)
        if access and secret:
            token = env.get(provider.aws_session_token_env) or None
            return Credentials(aws=AwsKeys(access, secret, token))
        return Credentials()
    if provider.api_key_file:
        try:
            return Credentials(api_key=Path(provider.api_key_file).read_text().strip() or None)
        except OSError:
            return Credentials()
    if provider.api_key_env:
        return Credentials(api_key=env.get(provider.api_key_env) or None)
    return Credentials()


def missing_credentials(config: GatewayConfig, env: Mapping[str, str] = os.environ) -> list[str]:
    """One line per provider that a route uses whose credentials are not there.

    Providers no route reaches are not checked: an operator may list them ahead of use.
    """
    used_models = {m for r in config.routes for m in [r.primary, *r.fallbacks]}
    used = {config.models[m].provider for m in used_models}
    problems = []
    for name, p in sorted(config.providers.items()):
        if name not in used:
            continue
        creds = credentials_for(p, env)
        where = f"providers.{name}"
        if isinstance(p, BedrockProvider):
            if creds.aws is None:
                problems.append(
                    f"{where}: environment variables {p.aws_access_key_env} and"
                    f" {p.aws_secret_key_env} must both be set"
                )
        elif p.api_key_file and creds.api_key is None:
            problems.append(f"{where}.api_key_file: cannot read a key from {p.api_key_file}")
        elif p.api_key_env and creds.api_key is None:
            problems.append(f"{where}.api_key_env: environment variable {p.api_key_env} is not set")
    return problems
