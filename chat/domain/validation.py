"""What a message must be before it reaches the database: checks with no I/O.

Everything that passes can be stored by SQLite and PostgreSQL alike (a send that fails in the
database instead is rolled back alone, but costs a traceback in the log and an internal_error).
"""

import re

from django.conf import settings

from chat.domain.errors import BodyTooLong, EmptyBody, InvalidField

# Patterns that validate a whole value are used with fullmatch: `$` also matches before a trailing
# newline, and "id\n" passed (a 64-character one then failed the insert, with its whole batch).
CLIENT_MSG_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What no body may hold: lone surrogates (valid in JSON, not encodable as UTF-8: no database can
# store them), NUL (PostgreSQL's text cannot), and the other control characters (C0, DEL and C1)
# except newline and tab, which mean nothing in a chat message.
BODY_FORBIDDEN_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def body_validate(*, body: str, may_be_empty: bool = False) -> None:
    """Raise InvalidField, EmptyBody or BodyTooLong unless the body is acceptable; `may_be_empty`:
    a message with attachments needs no text."""
    if not isinstance(body, str):
        raise InvalidField("body must be a string.")
    if BODY_FORBIDDEN_RE.search(body):
        raise InvalidField(
            "body must not contain control characters (except newline and tab) or lone surrogates."
        )
    if not body.strip() and not may_be_empty:
        raise EmptyBody()
    limit = settings.CHAT_MAX_BODY_CHARS
    if len(body) > limit:
        raise BodyTooLong(f"The body has {len(body)} characters; the limit is {limit}.")


def message_validate(*, body: str, client_msg_id: str, has_attachments: bool = False) -> None:
    """Raise InvalidField, EmptyBody or BodyTooLong unless the message is acceptable."""
    if not isinstance(client_msg_id, str) or not CLIENT_MSG_ID_RE.fullmatch(client_msg_id):
        raise InvalidField("client_msg_id must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    body_validate(body=body, may_be_empty=has_attachments)
