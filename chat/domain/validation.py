"""What a message must be before it reaches the database: checks with no I/O."""

import re

from django.conf import settings

from chat.domain.errors import BodyTooLong, EmptyBody, InvalidField

CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def body_validate(*, body: str) -> None:
    """Raise EmptyBody or BodyTooLong unless the body is acceptable."""
    if not body.strip():
        raise EmptyBody()
    limit = settings.CHAT_MAX_BODY_CHARS
    if len(body) > limit:
        raise BodyTooLong(f"The body has {len(body)} characters; the limit is {limit}.")


def message_validate(*, body: str, client_msg_id: str, has_attachments: bool = False) -> None:
    """Raise InvalidField, EmptyBody or BodyTooLong unless the message is acceptable (no I/O). A
    message with attachments may have an empty body."""
    if not isinstance(client_msg_id, str) or not CLIENT_MSG_ID_RE.match(client_msg_id):
        raise InvalidField("client_msg_id must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    if has_attachments and not body.strip():
        body_validate(body=body + ".")  # only the length counts
        return
    body_validate(body=body)
