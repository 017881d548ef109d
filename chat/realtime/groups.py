"""Channel-layer group names, built from validated primary keys, never from client text."""

LOBBY_GROUP = "chat.lobby"
ROOM_GROUP_PREFIX = "chat.room."


def room_group(room_id: int) -> str:
    """Group of the connections subscribed to a room."""
    return f"{ROOM_GROUP_PREFIX}{int(room_id)}"


def user_group(user_id: int) -> str:
    """Group of every connection of one user, on every node."""
    return f"chat.user.{int(user_id)}"


def room_id_of(group: str) -> int | None:
    """The room pk of a room group's name, or None for any other group."""
    if group.startswith(ROOM_GROUP_PREFIX):
        return int(group[len(ROOM_GROUP_PREFIX) :])
    return None
