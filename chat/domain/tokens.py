"""The format of API tokens: `chat_<prefix>_<secret>`. The prefix (public, unique) finds the row;
only the SHA-256 digest of the whole token is stored, so the database never holds a usable secret.
A SHA-256 of 32 random bytes needs no slow hash: it cannot be guessed from its digest."""

import hashlib
import re
import secrets

SCHEME = "chat_"
_PATTERN = re.compile(r"chat_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")


def token_new() -> tuple[str, str]:
    """A new (prefix, token): 48 random bits of prefix, 32 random bytes of secret."""
    prefix = secrets.token_hex(6)
    return prefix, f"{SCHEME}{prefix}_{secrets.token_urlsafe(32)}"


def token_prefix(token: str) -> str | None:
    """The prefix of a well-formed token, else None."""
    match = _PATTERN.fullmatch(token)
    return match.group(1) if match else None


def token_digest(token: str) -> str:
    """The stored form of a token (hex SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()
