"""The registry maps every wire format to an adapter built the one way all adapters are."""

import inspect
from typing import get_args, get_type_hints

import httpx
import pytest

from adapters.credentials import Credentials
from adapters.registry import ADAPTERS
from schemas.providers import WireFormat


def test_every_format_has_an_adapter() -> None:
    assert set(ADAPTERS) == set(get_args(WireFormat))


@pytest.mark.parametrize("fmt", get_args(WireFormat))
def test_each_adapter_takes_the_config_of_its_own_format(fmt: WireFormat) -> None:
    init = ADAPTERS[fmt].__init__
    assert list(inspect.signature(init).parameters) == [
        "self",
        "name",
        "config",
        "http",
        "credentials",
    ]
    hints = get_type_hints(init)
    assert (hints["http"], hints["credentials"]) == (httpx.AsyncClient, Credentials)
    assert get_args(get_type_hints(hints["config"])["format"]) == (fmt,)
