"""Tables for rooms, memberships, messages and their changes. No rules live here (chat/domain)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Room(models.Model):
    """A chat room; public rooms are open to every signed-in user, private ones to members.
    A direct-message conversation (`kind` "dm") is a private room whose members are its set."""

    class Kind(models.TextChoices):
        ROOM = "room"
        DM = "dm"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ROOM, db_default=Kind.ROOM)
    # A DM's member set as its members' sorted ids ("3,8,15"): unique, so that one set of people has
    # one conversation even when two nodes open it at once. None for rooms.
    dm_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    is_private = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False, db_index=True)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_rooms",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The seq of the room's newest change (a new message, an edit, a deletion, a reaction...);
    # bumped inside the writing transaction, which locks this row, so concurrent writers on any
    # node get consecutive numbers.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms", blank=True
    )

    class Meta:
        ordering = ["title", "pk"]

    def __str__(self) -> str:
        return self.title


class Membership(models.Model):
    """A user's membership of a room, with their role there (chat/domain/rooms.py has the rules)."""

    class Role(models.TextChoices):
        OWNER = "owner"
        MODERATOR = "moderator"
        MEMBER = "member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER, db_default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["room", "user"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_room_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Message(models.Model):
    """A message. Its `seq` is the room's change number of its creation: a room's seqs 1, 2, 3, ...
    have no gaps, and each is either a message's creation or a MessageChange."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    body = models.TextField(max_length=4000)
    # The body rendered to sanitized HTML (chat/domain/formatting.py) when it was written.
    body_html = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    client_msg_id = models.CharField(max_length=64)
    # Deletion keeps the row (body blanked) so that seq stays gap-free for clients.
    deleted_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # A reply names its parent, a message of the same room; the parent counts its replies.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    # A system line ("alice added bob") is a message of kind "system" in the room's seq stream, with
    # no author and its event in `system` ({"event", "actor", "target"?, ...}); `body` is an English
    # fallback. Never searchable, editable or reactable (chat/domain/system_lines.py).
    kind = models.CharField(max_length=8, default="message", db_default="message")
    system = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            models.UniqueConstraint(
                fields=["author", "client_msg_id"], name="message_unique_author_client_msg_id"
            ),
        ]
        # The rate limit counts an author's recent messages (chat.domain.queries.author_rate_wait).
        indexes = [models.Index(fields=["author", "created_at"], name="message_author_recent")]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class MessageChange(models.Model):
    """A change to a stored message, numbered in its room's seq like a new message."""

    class Kind(models.TextChoices):
        EDITED = "edited"
        DELETED = "deleted"
        REACTIONS = "reactions"
        REPLIES = "replies"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="changes")
    seq = models.PositiveBigIntegerField()
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_message_changes",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="messagechange_unique_room_seq"),
        ]
        # The per-user limit on edits and reactions counts an actor's recent changes.
        indexes = [models.Index(fields=["actor", "created_at"], name="messagechange_actor_recent")]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.kind} of message {self.message_id}"


class MessageEdit(models.Model):
    """A message's body before one of its edits (the edit history moderators and admins see)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="edits")
    body = models.TextField(max_length=4000)
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_message_edits",
    )
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "edited_at", "pk"]

    def __str__(self) -> str:
        return f"edit of message {self.message_id} at {self.edited_at:%Y-%m-%d %H:%M}"


class Reaction(models.Model):
    """One user's emoji on one message."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reactions"
    )
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="reaction_unique_message_user_emoji"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on message {self.message_id}"


class ReadPosition(models.Model):
    """How far a user has read a room: the highest seq they have seen (messages and changes share
    a room's seq). Only ever moves forward (chat/domain/reads.py)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_read_positions"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_positions")
    seq = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user", "room"]
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="readposition_unique_user_room"),
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.room} to #{self.seq}"


class Mention(models.Model):
    """A user named (@username) in a message, stored at send for the unread mention counts; only
    users who may read the room, never the author (services._mentioned_readers)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_mentions")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="mentions")
    seq = models.PositiveBigIntegerField()  # the message's seq

    class Meta:
        ordering = ["user", "room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="mention_unique_message_user"),
        ]
        # A user's unread mentions in a room: a range of this index after their read position.
        indexes = [models.Index(fields=["user", "room", "seq"], name="mention_user_room_seq")]

    def __str__(self) -> str:
        return f"@{self.user} in {self.room_id}#{self.seq}"


def attachment_storage():
    """The storage of uploads (settings.STORAGES["attachments"]): a directory under var/ by default,
    or an S3-compatible bucket (README, "Configuration"). Every node must see the same one."""
    from django.core.files.storage import storages

    return storages["attachments"]


class Attachment(models.Model):
    """An uploaded file; `message` is set when a message that carries it is sent."""

    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_attachments"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    # Stored under a random key; `name` is the uploader's file name, sanitized, for display only.
    file = models.FileField(storage=attachment_storage, max_length=200)
    thumbnail = models.FileField(storage=attachment_storage, max_length=200, blank=True)
    name = models.CharField(max_length=150)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["message", "pk"]
        # The quota sums an uploader's files; the sweep finds old unsent ones.
        indexes = [models.Index(fields=["uploader", "created_at"], name="attachment_uploader_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_type}, {self.size} bytes)"


class ApiToken(models.Model):
    """A user's API token for clients that cannot use the session cookie (STOMP `Authorization:
    Bearer`). Only a SHA-256 digest of the secret is stored; `prefix` finds the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}) of {self.user}"


class Profile(models.Model):
    """How a user shows to others: a display name, an avatar, a time zone, a status line. Created on
    its user's first profile write (chat.domain.profiles); a user without one shows the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="chat_profile"
    )
    display_name = models.CharField(max_length=64, blank=True)
    status_text = models.CharField(max_length=140, blank=True)
    # An IANA time zone name (zoneinfo), or blank: not said.
    time_zone = models.CharField(max_length=64, blank=True)
    # The avatar's random key: its files are avatars/<key>/<size>.webp in the attachments' storage,
    # and its URL names the key alone, so a new avatar is a new URL (cached for ever) and the URL
    # tells nothing of the user. Blank: no avatar (clients draw the initials).
    avatar_key = models.CharField(max_length=32, blank=True, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user"]

    def __str__(self) -> str:
        return f"profile of {self.user_id}"
