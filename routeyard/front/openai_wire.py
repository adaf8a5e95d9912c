"""Reading an OpenAI request body's JSON values, each failure a 400 naming its field.

``param`` is the field's path as the caller wrote it (``messages[2].content[0].text``),
which is what OpenAI puts in an error's ``param``. A ``null`` reads as an absent field,
as the OpenAI API treats it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from routeyard.front.openai_errors import INVALID_REQUEST, OpenAIError

Obj = Mapping[str, object]


def invalid(param: str, message: str, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, f"{param}: {message}", INVALID_REQUEST, param, code)


def unsupported(param: str, why: str = "") -> OpenAIError:
    return invalid(
        param, f"not supported by routeyard{': ' + why if why else ''}", "unsupported_parameter"
    )


def invalid_model(param: str, exc: ValidationError) -> OpenAIError:
    """A schema check that failed on an already translated value, under the caller's path."""
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"])
        what = err["msg"].removeprefix("Value error, ")
        named = where and where != param.rpartition(".")[2]
        problems.append(f"{where}: {what}" if named else what)
    return invalid(param, "; ".join(problems))


def present(body: Obj) -> dict[str, object]:
    """The fields that are set: a ``null`` is the same as leaving the field out."""
    return {key: value for key, value in body.items() if value is not None}


def only_keys(obj: Obj, allowed: frozenset[str], param: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise invalid(
            f"{param}.{extra[0]}" if param else extra[0],
            "unknown field",
            "unknown_parameter",
        )


def read_obj(value: object, param: str) -> dict[str, object]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise invalid(param, "expected an object")
    return present(value)


def read_list(value: object, param: str) -> list[object]:
    if not isinstance(value, list):
        raise invalid(param, "expected an array")
    return value


def read_str(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise invalid(param, "expected a string" if value is not None else "is required")
    return value


def read_bool(value: object, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(param, "expected true or false")
    return value


def read_int(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(param, "expected an integer")
    return value


def read_number(value: object, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(param, "expected a number")
    return float(value)


def read_str_map(value: object, param: str) -> dict[str, str]:
    obj = read_obj(value, param)
    for key, item in obj.items():
        read_str(item, f"{param}.{key}")
    return {key: str(item) for key, item in obj.items()}
