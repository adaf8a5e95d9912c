"""Bedrock Runtime's request shapes, from botocore's service model, as a JSON validator.

The emulator rejects a Converse body the way Bedrock does, against the vendor's own
model rather than a hand-kept list: unknown members, wrong types, enum values, ranges,
unions with other than one member set, and missing required members.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import botocore.session

from emulator.fields import FieldError

_SERVICE = "bedrock-runtime"
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "timestamp": (str, int, float),
}


@functools.cache
def operation_input(operation: str) -> Any:
    """The operation's input shape (botocore is untyped, hence Any)."""
    model = botocore.session.get_session().get_service_model(_SERVICE)
    return model.operation_model(operation).input_shape


def check_body(body: dict[str, Any], operation: str) -> None:
    """Raise :class:`FieldError` where ``body`` breaks the operation's input shape."""
    shape = operation_input(operation)
    # Members bound to the URI or headers never appear in the JSON body.
    in_body = {n for n, m in shape.members.items() if "location" not in m.serialization}
    _check_structure(body, shape, "", in_body)


def _check(value: Any, shape: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return  # free-form JSON, e.g. a tool's input schema
        if not isinstance(value, dict):
            raise FieldError(path, "expected an object")
        _check_structure(value, shape, path, set(shape.members))
    elif kind == "list":
        if not isinstance(value, list):
            raise FieldError(path, "expected a list")
        _check_range(len(value), shape, path, "length")
        for i, item in enumerate(value):
            _check(item, shape.member, f"{path}.{i}")
    elif kind == "map":
        if not isinstance(value, dict):
            raise FieldError(path, "expected an object")
        for key, item in value.items():
            _check(item, shape.value, f"{path}.{key}")
    elif kind == "blob":
        _check_base64(value, path)
    else:
        _check_scalar(value, shape, path)


def _check_structure(value: dict[str, Any], shape: Any, path: str, allowed: set[str]) -> None:
    prefix = f"{path}." if path else ""
    for key, item in value.items():
        if key not in allowed:
            raise FieldError(f"{prefix}{key}", "extraneous key is not permitted")
        _check(item, shape.members[key], f"{prefix}{key}")
    for required in shape.required_members:
        if required in allowed and required not in value:
            raise FieldError(f"{prefix}{required}", "Member must not be null")
    if shape.metadata.get("union") and len(value) != 1:
        raise FieldError(path or "body", "exactly one member must be set")


def _check_scalar(value: Any, shape: Any, path: str) -> None:
    expected = _JSON_TYPES.get(shape.type_name, (object,))
    # bool is an int in Python, but not a JSON number.
    if isinstance(value, bool) != (shape.type_name == "boolean") or not isinstance(value, expected):
        raise FieldError(path, f"expected a {shape.type_name}")
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        raise FieldError(path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    if isinstance(value, str):
        _check_range(len(value), shape, path, "length")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_range(value, shape, path, "value")


def _check_range(value: float, shape: Any, path: str, what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        raise FieldError(path, f"Member must have {what} greater than or equal to {low}")
    if high is not None and value > high:
        raise FieldError(path, f"Member must have {what} less than or equal to {high}")


def _check_base64(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise FieldError(path, "expected base64 data")
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise FieldError(path, "expected base64 data") from exc
