"""Access tokens of the test identity provider: RS256 JWTs signed with the active key.

``kid`` is the key's thumbprint, as in the provider's JWKS; the Slurm user is the
``preferred_username`` claim (the OAuth client's owner for client credentials).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from jwcrypto import jwt
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem


def jwt_access_token(request: Any, refresh_token: bool = False) -> str:
    key = jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    user = getattr(request, "user", None) or getattr(request.client, "user", None)
    now = int(time.time())
    default = oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS
    lifetime = int(getattr(request, "expires_in", None) or default)
    claims = {
        "iss": oauth2_settings.oidc_issuer(request),
        "sub": str(user.pk) if user else request.client.client_id,
        "aud": "slurmrestd",
        "client_id": request.client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    if user is not None:
        claims["preferred_username"] = user.get_username()
    token = jwt.JWT(header={"alg": "RS256", "typ": "JWT", "kid": key.thumbprint()}, claims=claims)
    token.make_signed_token(key)
    return str(token.serialize())
