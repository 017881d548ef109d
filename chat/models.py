"""Tables for rooms, memberships and messages. No rules live here (see services/selectors)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Room(models.Model):
    """A chat room; public rooms are open to every signed-in user, private ones to members."""

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
    # The seq of the newest message; bumped inside the writing transaction, which
    # locks this row, so concurrent writers on any node get consecutive numbers.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms", blank=True
    )

    class Meta:
        ordering = ["title", "pk"]

    def __str__(self) -> str:
        return self.title


class Membership(models.Model):
    """A user's membership of a (private) room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["room", "user"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique_room_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class Message(models.Model):
    """A message; `seq` numbers a room's messages 1, 2, 3, ... without gaps."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    client_msg_id = models.CharField(max_length=64)
    # Deletion keeps the row (body blanked) so that seq stays gap-free for clients.
    deleted_at = models.DateTimeField(null=True, blank=True)

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
