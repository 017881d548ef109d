"""Domain errors; each carries the protocol error code that adapters send (docs/protocol.md)."""


class ChatError(Exception):
    """A request the chat refuses; `code` is the documented error code."""

    code = "bad_request"
    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)

    def frame_fields(self) -> dict[str, object]:
        """Fields of the `error` frame besides `code`, `detail` and `ref` (docs/protocol.md)."""
        return {}


class InvalidJson(ChatError):
    code = "invalid_json"
    default_detail = "The frame is not a JSON object."


class InvalidFrame(ChatError):
    code = "invalid_frame"
    default_detail = "Only JSON text frames are accepted."


class UnknownType(ChatError):
    code = "unknown_type"
    default_detail = "Unknown frame type."


class InvalidField(ChatError):
    code = "invalid_field"
    default_detail = "A field is missing or invalid."


class UnknownRoom(ChatError):
    code = "unknown_room"
    default_detail = "No such room."


class ReadOnly(ChatError):
    code = "read_only"
    default_detail = "The room is archived and read-only."


class EmptyBody(ChatError):
    code = "empty_body"
    default_detail = "The message body is empty."


class BodyTooLong(ChatError):
    code = "body_too_long"
    default_detail = "The message body is too long."


class SearchTimedOut(ChatError):
    code = "search_timeout"
    default_detail = "The search took too long; narrow it with a room, an author or dates."


class RateLimited(ChatError):
    code = "rate_limited"
    default_detail = "Too many messages; slow down."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        # Seconds until the author's oldest counted message leaves the rate limit's window.
        self.retry_after = retry_after

    def frame_fields(self) -> dict[str, object]:
        return {} if self.retry_after is None else {"retry_after": self.retry_after}


class TooManyRooms(ChatError):
    code = "too_many_rooms"
    default_detail = "You have created too many rooms recently; try again later."


class ClientMsgIdConflict(ChatError):
    code = "client_msg_id_conflict"
    default_detail = "This client_msg_id was already used for a message in another room."


class TooManySubscriptions(ChatError):
    code = "too_many_subscriptions"
    default_detail = "Too many rooms subscribed on this connection."


class NotSubscribed(ChatError):
    code = "not_subscribed"
    default_detail = "This connection is not subscribed to that room."


class InternalError(ChatError):
    """A server fault (logged where it happened); the client may retry with the same client_msg_id."""

    code = "internal_error"
    default_detail = "Server error."


class UnknownMessage(ChatError):
    code = "unknown_message"
    default_detail = "No such message in this room."


class NotAllowed(ChatError):
    code = "not_allowed"
    default_detail = "You may not change this message."


class EditWindowClosed(ChatError):
    code = "edit_window_closed"
    default_detail = "This message can no longer be edited."


class MessageDeleted(ChatError):
    code = "message_deleted"
    default_detail = "The message was deleted."


class TooManyReactions(ChatError):
    code = "too_many_reactions"
    default_detail = "This message has as many different reactions as it may have."


class InvalidEmoji(ChatError):
    code = "invalid_emoji"
    default_detail = "emoji must be one emoji."


class InvalidQuery(ChatError):
    code = "invalid_query"
    default_detail = "The search query is invalid."


class UploadTooLarge(ChatError):
    code = "too_large"
    default_detail = "The file is larger than the upload limit."


class QuotaExceeded(ChatError):
    code = "quota_exceeded"
    default_detail = "Your files would exceed your storage quota."


class UnsupportedType(ChatError):
    code = "unsupported_type"
    default_detail = "This type of file is not accepted."


class InvalidAttachment(ChatError):
    code = "invalid_attachment"
    default_detail = "attachments must name your own uploads, not yet sent."


class Forbidden(ChatError):
    """The sender's role in the room does not allow the action (docs/rooms.md has the table)."""

    code = "forbidden"
    default_detail = "Your role in this room does not allow that."


class NotFound(ChatError):
    """No such room or user visible to the sender (the same answer for both: no existence oracle)."""

    code = "not_found"
    default_detail = "No such room or user."


class LastOwner(ChatError):
    code = "last_owner"
    default_detail = "The last owner of a room must hand ownership over first."
