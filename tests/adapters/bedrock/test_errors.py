import pytest

from adapters.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from tests.adapters.bedrock.helpers import CLAUDE, TIMEOUT_S, ask, mocked, user


def error_type(name: str) -> dict[str, str]:
    return {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


@pytest.mark.parametrize(
    ("status", "type_name", "message", "error"),
    [
        (429, "ThrottlingException", "Too many requests", RateLimited),
        # A 429 by status, but the type says the model is loading: not our rate.
        (429, "ModelNotReadyException", "Model is not ready", ProviderUnavailable),
        (400, "ServiceQuotaExceededException", "quota", RateLimited),
        (424, "ModelErrorException", "model failed", ProviderUnavailable),
        (408, "ModelTimeoutException", "timed out", ProviderTimeout),
        (500, "InternalServerException", "oops", ProviderUnavailable),
        (400, "ValidationException", "Input is too long for requested model.",
         ContextWindowExceeded),
        (400, "ValidationException", "Too many input tokens. Max input tokens: 8192",
         ContextWindowExceeded),
        (400, "ValidationException", "messages.0.content: blank text", InvalidRequest),
        (404, "ResourceNotFoundException", "no such model", InvalidRequest),
        (403, "AccessDeniedException", "You don't have access", AuthenticationFailed),
        (403, "UnrecognizedClientException", "The security token is invalid",
         AuthenticationFailed),
    ],
)  # fmt: skip
async def test_error_types_from_the_header_decide(
    status: int, type_name: str, message: str, error: type[ProviderError]
) -> None:
    adapter = mocked(
        status, {"message": message}, {**error_type(type_name), "x-amzn-RequestId": "r1"}
    )
    with pytest.raises(error) as caught:
        await adapter.complete(ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S)
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert caught.value.provider_request_id == "r1"
    assert caught.value.message == f"{type_name}: {message}"


async def test_body_type_and_status_are_fallbacks() -> None:
    body = {"Message": "slow down", "__type": "com.amazon.coral.service#ThrottlingException"}
    with pytest.raises(RateLimited) as caught:
        await mocked(400, body).complete(ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S)
    assert caught.value.message == "ThrottlingException: slow down"
    with pytest.raises(ProviderUnavailable):
        await mocked(502, {"unexpected": True}).complete(
            ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S
        )
    with pytest.raises(ContextWindowExceeded):
        await mocked(413, {"message": "too big"}, error_type("ValidationException")).complete(
            ask(user("hi"), model=CLAUDE), timeout_s=TIMEOUT_S
        )
