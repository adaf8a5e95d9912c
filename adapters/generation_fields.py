"""Our generation parameters under the field names of a wire format."""

from __future__ import annotations

from schemas.chat import GenerationParams


def generation_fields(
    params: GenerationParams,
    *,
    max_tokens: str,
    temperature: str = "temperature",
    top_p: str = "top_p",
    stop: str = "stop",
) -> dict[str, object]:
    """The parameters that are set, each under the name given for it; unset ones are
    left out so that the provider's defaults apply."""
    fields: dict[str, object] = {}
    if params.max_tokens is not None:
        fields[max_tokens] = params.max_tokens
    if params.temperature is not None:
        fields[temperature] = params.temperature
    if params.top_p is not None:
        fields[top_p] = params.top_p
    if params.stop:
        fields[stop] = list(params.stop)
    return fields
