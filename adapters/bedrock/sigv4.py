"""AWS Signature Version 4 for one request, computed by botocore rather than by hand."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from adapters.credentials import AwsKeys


class SigV4Signer:
    """Signs POSTs for one AWS service in one region with one set of keys."""

    def __init__(self, keys: AwsKeys, *, service: str, region: str) -> None:
        self._auth = SigV4Auth(
            BotoCredentials(keys.access_key, keys.secret_key, keys.session_token),
            service,
            region,
        )

    def sign(self, url: str, body: bytes, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` plus ``Authorization``, ``X-Amz-Date`` and, with a session token,
        ``X-Amz-Security-Token``: every header given is signed, so send them all as is.

        ``url`` must be the URL as it goes on the wire, and ``body`` the exact bytes.
        """
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        self._auth.add_auth(request)
        return {str(name): str(value) for name, value in request.headers.items()}
