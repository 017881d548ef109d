"""The STOMP destination table (docs/stomp.md): which destinations mean which room, and in which
layout a subscription's MESSAGE bodies are written.

Prefixes come from settings, so a team migrating from a Spring chat can match its clients:
CHAT_STOMP_ROOM_PREFIXES (subscribe to a room), CHAT_STOMP_ROOM_SEND (post to a room),
CHAT_STOMP_PUBLIC_TOPIC and CHAT_STOMP_PUBLIC_SEND (the one public room, CHAT_STOMP_PUBLIC_ROOM),
CHAT_STOMP_NOTIFICATIONS (this user's mentions).
"""

from dataclasses import dataclass

from django.conf import settings

ROOM = "room"  # body fields roomId, message, type (TALK, ENTER, QUIT)
PUBLIC = "public"  # body fields content, type (CHAT, JOIN, LEAVE)
NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Target:
    layout: str
    slug: str | None  # None for notifications


def subscription_target(destination: str) -> Target | None:
    """What a SUBSCRIBE destination means, or None if it is not one of ours."""
    if destination == settings.CHAT_STOMP_NOTIFICATIONS:
        return Target(NOTIFICATIONS, None)
    if destination == settings.CHAT_STOMP_PUBLIC_TOPIC:
        return Target(PUBLIC, settings.CHAT_STOMP_PUBLIC_ROOM)
    for prefix in settings.CHAT_STOMP_ROOM_PREFIXES:
        if destination.startswith(prefix) and len(destination) > len(prefix):
            return Target(ROOM, destination[len(prefix) :])
    return None


def send_layout(destination: str) -> str | None:
    """The layout of a SEND destination's JSON body, or None if it is not one of ours."""
    if destination in settings.CHAT_STOMP_ROOM_SEND:
        return ROOM
    if destination in settings.CHAT_STOMP_PUBLIC_SEND:
        return PUBLIC
    return None


# The `type` values of each layout: (post, join, leave).
TYPES = {ROOM: ("TALK", "ENTER", "QUIT"), PUBLIC: ("CHAT", "JOIN", "LEAVE")}


def message_body(layout: str, message: dict, *, slug: str) -> dict:
    """A stored message (a `message` frame of docs/protocol.md) in a layout's field names."""
    body = {
        "type": TYPES[layout][0],
        "sender": message.get("author"),
        "seq": message["seq"],
        "id": message["id"],
        "createdAt": message["created_at"],
    }
    text = message.get("body", "")
    if layout == ROOM:
        body.update(roomId=slug, message=text)
    else:
        body["content"] = text
    if message.get("deleted"):
        body["deleted"] = True
    if message.get("edited_at"):
        body["editedAt"] = message["edited_at"]
    if message.get("reply_to") is not None:
        body["replyTo"] = message["reply_to"]
    return body


def announcement_body(layout: str, *, slug: str, username: str, joined: bool) -> dict:
    """ENTER/QUIT (JOIN/LEAVE): someone came online in the room or left it (nothing stored)."""
    kind = TYPES[layout][1 if joined else 2]
    text = f"{username} {'joined' if joined else 'left'}."
    if layout == ROOM:
        return {"type": kind, "roomId": slug, "sender": username, "message": text}
    return {"type": kind, "sender": username, "content": text}
