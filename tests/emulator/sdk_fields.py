"""Walking a JSON document against a vendor SDK's types, key by key.

The SDKs' models keep unknown keys as extras or drop them, and their request
TypedDicts are not checked at run time at all, so validation alone would miss a
misspelt or invented field. :func:`model_errors` (pydantic models, e.g. replies) and
:func:`params_errors` (request TypedDicts) report every key the SDK does not declare,
every required one that is missing, and values of the wrong kind or outside a Literal
(or Enum), at any depth.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin

from pydantic import BaseModel

# The SDKs declare their TypedDicts with typing_extensions, which typing's helpers
# do not recognise on Python 3.11.
from typing_extensions import get_type_hints, is_typeddict


def model_errors(
    value: object, tp: Any, path: str = "$", *, opaque: tuple[type, ...] = ()
) -> list[str]:
    """Where ``value`` does not fit ``tp``; empty when it fits. Models in ``opaque`` are
    taken as they come (e.g. a wrapper the SDK serialises to a plain string)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return []
    if origin is Annotated:
        return model_errors(value, args[0], path, opaque=opaque)
    if _is_model(tp):
        return [] if tp in opaque else _object_errors(value, tp, path, opaque)
    if origin in (Union, types.UnionType):
        # Fern's open enums are Literal[...] | Any: hold values to the documented ones.
        candidates = [a for a in args if a is not Any] or list(args)
        if Any in args and candidates == [type(None)]:
            return []  # Optional[Any]: a free-form value, such as a JSON schema
        # Judge a value by the alternatives of its own kind, so that a near miss is
        # reported against the model it was meant for, not as "not a string".
        candidates = [a for a in candidates if _same_kind(value, a)] or candidates
        if isinstance(value, dict):
            # A model declares its keys; a bare mapping alongside it would accept any.
            candidates = [a for a in candidates if _is_model(a)] or candidates
        return min((model_errors(value, a, path, opaque=opaque) for a in candidates), key=len)
    if origin is Literal:
        return [] if value in args else [f"{path}: {value!r} not in {args}"]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [] if value in {m.value for m in tp} else [f"{path}: {value!r} not in {tp}"]
    if origin in (list, Sequence):
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        item_type = args[0] if args else Any
        return [
            e
            for i, item in enumerate(value)
            for e in model_errors(item, item_type, f"{path}[{i}]", opaque=opaque)
        ]
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        item_type = args[1] if len(args) == 2 else Any
        return [
            e
            for key, item in value.items()
            for e in model_errors(item, item_type, f"{path}.{key}", opaque=opaque)
        ]
    return _scalar_errors(value, tp, path)


def _scalar_errors(value: object, tp: Any, path: str) -> list[str]:
    if tp in (str, int, float, bool):
        fits = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            fits = True
        return [] if fits else [f"{path}: {value!r} is not {tp.__name__}"]
    if tp is type(None):
        return [] if value is None else [f"{path}: expected null"]
    return []


def _object_errors(
    value: object, model: type[BaseModel], path: str, opaque: tuple[type, ...]
) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object for {model.__name__}"]
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    errors = [
        f"{path}.{key}: not a field of {model.__name__}" for key in value if key not in fields
    ]
    errors += [
        f"{path}.{key}: required by {model.__name__}"
        for key, info in fields.items()
        if info.is_required() and key not in value
    ]
    for key, item in value.items():
        if key in fields:
            errors += model_errors(item, fields[key].annotation, f"{path}.{key}", opaque=opaque)
    return errors


def _is_model(tp: Any) -> bool:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _same_kind(value: object, tp: Any) -> bool:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    origin = get_origin(tp)
    if isinstance(value, dict):
        return _is_model(tp) or origin in (dict, Mapping)
    if isinstance(value, list):
        return origin in (list, Sequence)
    return not _is_model(tp) and origin not in (dict, Mapping, list, Sequence)


def params_errors(value: object, tp: Any, path: str = "$") -> list[str]:
    """Where ``value`` does not fit the SDK's request TypedDict ``tp``; empty when it fits."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any or tp is object:
        return []
    if origin is Annotated:
        return params_errors(value, args[0], path)
    if is_typeddict(tp):
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {tp.__name__}"]
        hints = get_type_hints(tp)
        errors = [f"{path}.{k}: not a field of {tp.__name__}" for k in value if k not in hints]
        errors += [
            f"{path}.{k}: required by {tp.__name__}" for k in sorted(_required(tp) - set(value))
        ]
        for key, item in value.items():
            if key in hints:
                errors += params_errors(item, hints[key], f"{path}.{key}")
        return errors
    if origin in (Union, types.UnionType):
        # Judge a value by the alternatives of its own JSON shape, so an array is not
        # reported as "not a string"; blocks are dicts, held to the Param TypedDicts
        # rather than the response models some SDKs also accept.
        candidates = [a for a in args if _same_shape(value, a)] or list(args)
        return min((params_errors(value, a, path) for a in candidates), key=len)
    if origin is Literal:
        return [] if value in args else [f"{path}: {value!r} not in {args}"]
    if origin in (dict, Mapping):
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        item_type = args[1] if len(args) == 2 else Any
        return [e for k, v in value.items() for e in params_errors(v, item_type, f"{path}.{k}")]
    if origin is not None and args:
        # Iterable, Sequence, SequenceNotStr: a JSON array of the one item type.
        if not isinstance(value, list):
            return [f"{path}: expected an array"]
        return [e for i, v in enumerate(value) for e in params_errors(v, args[0], f"{path}[{i}]")]
    return _scalar_errors(value, tp, path)


def _required(typed_dict: Any) -> set[str]:
    """Its required keys; with string annotations ``__required_keys__`` cannot see the
    ``Required``/``NotRequired`` markers, but the annotations themselves can."""
    markers: dict[str, object] = {
        key: get_origin(hint)
        for key, hint in get_type_hints(typed_dict, include_extras=True).items()
    }
    required = set(typed_dict.__required_keys__)
    required |= {key for key, marker in markers.items() if marker is Required}
    return required - {key for key, marker in markers.items() if marker is NotRequired}


def _same_shape(value: object, tp: Any) -> bool:
    origin = get_origin(tp)
    if isinstance(value, dict):
        return is_typeddict(tp) or origin in (dict, Mapping)
    if isinstance(value, list):
        return origin is not None and origin not in (dict, Mapping, Literal)
    return not is_typeddict(tp) and (origin is None or origin is Literal)
