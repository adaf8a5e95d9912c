"""What the ``routeyard`` commands share: the error that stops one without a traceback,
the config they load and the Kafka address they use.
"""

from __future__ import annotations

import argparse
import os

from schemas.config import GatewayConfig
from schemas.config_loader import load_config

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class UsageError(Exception):
    """A problem with how routeyard was started; printed without a traceback."""


def gateway_config(path: str) -> GatewayConfig:
    return load_config(path)


def kafka_bootstrap(args: argparse.Namespace) -> str:
    return str(args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP") or DEFAULT_BOOTSTRAP)
