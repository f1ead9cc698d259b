"""Access tokens (JWTs) the sandbox issues and checks, and the client assertions it verifies.

Tokens carry ``aud``, ``tid``, ``iss``, ``exp``, ``appid``, and ``roles`` (app-only) or ``scp`` (delegated) with the
user's ``oid``/``upn``, like Entra's. The signing key persists in the state folder, so tokens that a client cached
before a restart stay valid. Token lifetimes run on the real clock (msal caches by it), not the simulated one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SIGNING_KEY = "token-signing.key"
KEY_ID = "sandbox-signing-1"


class TokenInvalid(Exception):
    """A bearer token or a client assertion that does not verify; the message says why."""


@dataclass(frozen=True)
class Claims:
    """The parts of a verified access token that authorisation needs."""

    audience: str
    tenant_id: str
    app_id: str
    roles: frozenset[str]
    scopes: frozenset[str]
    user_id: str | None
    upn: str | None
    issued_at: float

    @property
    def app_only(self) -> bool:
        return self.user_id is None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _load_or_create_key(state_dir: Path) -> rsa.RSAPrivateKey:
    path = state_dir / SIGNING_KEY
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)
    return key


class TokenService:
    """Issues and verifies the sandbox's JWTs."""

    def __init__(self, state_dir: Path, issuer: str, tenant_id: str):
        self._key = _load_or_create_key(state_dir)
        self._public = self._key.public_key()
        self.issuer = issuer
        self.tenant_id = tenant_id

    def jwks(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": KEY_ID,
                    "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                    "e": _b64url(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def _sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": KEY_ID, "typ": "JWT"})

    def access_token(
        self,
        *,
        audience: str,
        app_id: str,
        lifetime: int,
        roles: frozenset[str] = frozenset(),
        scopes: frozenset[str] = frozenset(),
        user: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": self.tenant_id,
            "appid": app_id,
            "azp": app_id,
            "ver": "2.0",
            "uti": _b64url(uuid.uuid4().bytes),
        }
        if user is None:
            payload["roles"] = sorted(roles)
            payload["idtyp"] = "app"
            payload["sub"] = payload["oid"] = app_id
        else:
            payload["scp"] = " ".join(sorted(scopes))
            payload["oid"] = payload["sub"] = user["id"]
            payload["upn"] = payload["preferred_username"] = user["userPrincipalName"]
            payload["name"] = user.get("displayName") or user["userPrincipalName"]
            payload["idtyp"] = "user"
        return self._sign(payload)

    def id_token(self, *, app_id: str, user: dict[str, Any], lifetime: int) -> str:
        now = int(time.time())
        return self._sign(
            {
                "aud": app_id,
                "iss": self.issuer,
                "iat": now,
                "nbf": now,
                "exp": now + lifetime,
                "tid": self.tenant_id,
                "oid": user["id"],
                "sub": user["id"],
                "preferred_username": user["userPrincipalName"],
                "name": user.get("displayName") or user["userPrincipalName"],
                "ver": "2.0",
            }
        )

    def verify_access_token(self, token: str) -> Claims:
        """Verify signature and lifetime; the caller checks audience and permissions."""
        try:
            data = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "aud", "tid"]},
                issuer=self.issuer,
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("Lifetime validation failed, the token is expired.") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid("Access token validation failure. Invalid issuer.") from None
        except jwt.PyJWTError:
            raise TokenInvalid("Access token validation failure.") from None
        return Claims(
            audience=str(data["aud"]).rstrip("/").lower(),
            tenant_id=str(data["tid"]).lower(),
            app_id=str(data.get("appid", "")).lower(),
            roles=frozenset(data.get("roles", [])),
            scopes=frozenset(str(data.get("scp", "")).split()) if data.get("scp") else frozenset(),
            user_id=data.get("oid") if data.get("idtyp") == "user" else None,
            upn=data.get("upn"),
            issued_at=float(data.get("iat", 0)),
        )


def certificate_thumbprints(pem: str) -> tuple[str, str, x509.Certificate]:
    """The x5t (SHA-1) and x5t#S256 header values of a PEM certificate, and the certificate."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    der = cert.public_bytes(serialization.Encoding.DER)
    return _b64url(hashlib.sha1(der).digest()), _b64url(cert.fingerprint(hashes.SHA256())), cert


def verify_client_assertion(assertion: str, certificates_pem: tuple[str, ...], client_id: str,
                            token_endpoint: str) -> None:
    """Check an RFC 7523 client assertion against the app's registered certificates.

    The header names the certificate by ``x5t#S256`` (PS256, what msal sends for a PFX) or ``x5t`` (RS256, SHA-1);
    the signature must verify with that certificate's public key, ``aud`` must be the token endpoint and
    ``iss``/``sub`` the client id. Raises TokenInvalid with the AADSTS-style reason.
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise TokenInvalid("AADSTS50027: JWT token is invalid or malformed.") from None
    by_sha256: dict[str, x509.Certificate] = {}
    by_sha1: dict[str, x509.Certificate] = {}
    for pem in certificates_pem:
        sha1, sha256, cert = certificate_thumbprints(pem)
        by_sha1[sha1] = cert
        by_sha256[sha256] = cert
    cert = None  # msal keeps the base64 padding on thumbprints, the JOSE spec drops it: accept both
    if "x5t#S256" in header:
        cert = by_sha256.get(str(header["x5t#S256"]).rstrip("="))
    elif "x5t" in header:
        cert = by_sha1.get(str(header["x5t"]).rstrip("="))
    if cert is None:
        raise TokenInvalid(
            f"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on "
            f"application. [Reason - The key was not found., Thumbprint of key used by client: "
            f"'{header.get('x5t#S256') or header.get('x5t') or 'none'}']"
        )
    algorithm = header.get("alg")
    if algorithm not in {"PS256", "RS256"}:
        raise TokenInvalid(f"AADSTS5002730: Invalid JWT token. Unsupported key for the signing algorithm {algorithm}.")
    try:
        data = jwt.decode(
            assertion,
            cert.public_key(),  # type: ignore[arg-type]
            algorithms=[algorithm],
            audience=token_endpoint,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenInvalid("AADSTS700024: Client assertion is not within its valid time range.") from None
    except jwt.InvalidAudienceError:
        raise TokenInvalid(
            f"AADSTS700016: The audience of the client assertion is not the token endpoint {token_endpoint}."
        ) from None
    except jwt.InvalidSignatureError:
        raise TokenInvalid("AADSTS7000274: Key was found, but use of the key to verify the signature failed.") from None
    except jwt.PyJWTError as exc:
        raise TokenInvalid(f"AADSTS50027: JWT token is invalid or malformed ({exc}).") from None
    if str(data.get("iss", "")).lower() != client_id or str(data.get("sub", "")).lower() != client_id:
        raise TokenInvalid("AADSTS700021: Client assertion application identifier doesn't match 'client_id' parameter.")
