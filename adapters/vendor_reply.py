"""What reading any vendor's JSON reply needs: a lenient model base, and ids for tool
calls that arrive without one."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict


class LenientModel(BaseModel):
    """Base of the models replies are read with."""

    # Vendors add response fields all the time; ignoring extras keeps us parsing.
    model_config = ConfigDict(extra="ignore", frozen=True)


def derived_call_id(prefix: str, index: int, name: str, arguments: Mapping[str, Any]) -> str:
    """An id for a tool call the vendor sent without one, derived from the call's
    position, name and arguments, so the same answer always yields the same id."""
    key = orjson.dumps([index, name, arguments], option=orjson.OPT_SORT_KEYS)
    return f"{prefix}{hashlib.sha256(key).hexdigest()[:24]}"
