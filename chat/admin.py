"""Django admin for rooms, messages, files, sessions and API tokens. Every change goes through
chat.domain.services, so connected clients on every node see it live."""

from django.contrib import admin, messages
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from chat.domain import accounts, message_changes, services
from chat.models import ApiToken, Attachment, Membership, Message, MessageEdit, Reaction, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_private", "is_archived", "last_seq", "creator", "created_at")
    list_filter = ("is_private", "is_archived", "created_at")
    search_fields = ("title", "slug", "description")
    readonly_fields = ("last_seq", "created_at", "is_archived")
    fields = (
        "title",
        "slug",
        "description",
        "is_private",
        "is_archived",
        "creator",
        "last_seq",
        "created_at",
    )
    autocomplete_fields = ("creator",)
    inlines = (MembershipInline,)
    actions = ("archive_rooms", "unarchive_rooms")

    def save_model(self, request: HttpRequest, obj: Room, form, change: bool) -> None:
        if not change:
            data = form.cleaned_data
            created = services.room_create(
                creator=data.get("creator") or request.user,
                title=data["title"],
                description=data.get("description", ""),
                is_private=data.get("is_private", False),
                slug=data.get("slug") or None,
                limit_rate=False,  # the operator, acting for any creator
            )
            obj.pk, obj.created_at = created.pk, created.created_at
            obj._state.adding = False
            return
        editable = services.ROOM_EDITABLE_FIELDS
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        if changes:
            services.room_update(room=Room.objects.get(pk=obj.pk), **changes)
        if "creator" in form.changed_data:
            obj.save(update_fields=["creator"])

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        room = form.instance
        # The admin's change history reads these three lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        with transaction.atomic():
            for inline_form in formset.deleted_forms:
                if inline_form.instance.pk:
                    services.room_member_remove(room=room, user=inline_form.instance.user)
                    formset.deleted_objects.append(inline_form.instance)
            for inline_form in formset.forms:
                if inline_form in formset.deleted_forms or not inline_form.has_changed():
                    continue
                instance = inline_form.instance
                if instance.pk and "user" in inline_form.changed_data:
                    previous = Membership.objects.get(pk=instance.pk).user
                    services.room_member_remove(room=room, user=previous)
                    formset.changed_objects.append((instance, ["user"]))
                user = inline_form.cleaned_data.get("user")
                if user:
                    membership = services.room_member_add(room=room, user=user)
                    if not instance.pk:
                        formset.new_objects.append(membership)

    @admin.action(description="Archive selected rooms (read-only)")
    def archive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            services.room_set_archived(room=room, archived=True)
        self.message_user(request, f"Archived {queryset.count()} room(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected rooms")
    def unarchive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            services.room_set_archived(room=room, archived=False)
        self.message_user(request, f"Unarchived {queryset.count()} room(s).", messages.SUCCESS)


class MessageEditInline(admin.TabularInline):
    """The bodies a message had before each edit (read-only)."""

    model = MessageEdit
    extra = 0
    can_delete = False
    fields = readonly_fields = ("edited_at", "editor", "body")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReactionInline(admin.TabularInline):
    """Who reacted with what (read-only)."""

    model = Reaction
    extra = 0
    can_delete = False
    fields = readonly_fields = ("emoji", "user", "created_at")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReplyInline(admin.TabularInline):
    """The thread under a message (read-only)."""

    model = Message
    fk_name = "reply_to"
    verbose_name = verbose_name_plural = "replies"
    extra = 0
    can_delete = False
    fields = readonly_fields = ("seq", "author", "body", "created_at", "deleted_at")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AttachmentInline(admin.TabularInline):
    """The files a message carries (read-only)."""

    model = Attachment
    extra = 0
    can_delete = False
    fields = readonly_fields = ("name", "content_type", "size", "uploader", "created_at")

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "room",
        "seq",
        "author",
        "short_body",
        "created_at",
        "edited_at",
        "reply_count",
        "deleted_at",
    )
    list_filter = ("room", "deleted_at", "created_at")
    search_fields = ("room__slug", "room__title", "author__username", "body")
    list_select_related = ("room", "author")
    readonly_fields = (
        "room", "seq", "author", "body", "client_msg_id", "created_at", "edited_at", "deleted_at",
        "reply_to", "reply_count", "last_reply_at",
    )  # fmt: skip
    inlines = (MessageEditInline, ReactionInline, ReplyInline, AttachmentInline)
    ordering = ("-created_at",)

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are written by users, through the chat

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        message_changes.message_delete(message=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        for message in queryset.select_related("room"):
            message_changes.message_delete(message=message, actor=request.user)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    """Uploaded files: who uploaded them, the message and room they were sent in (none yet: an
    upload not sent, swept after CHAT_UPLOAD_ORPHAN_HOURS). Read-only: a file goes with its message
    (delete the message here, and its files are deleted after commit, on every node's storage)."""

    list_display = ("name", "content_type", "size", "uploader", "room", "message_link", "created_at")
    list_filter = ("content_type", ("message", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "uploader__username")
    list_select_related = ("uploader", "message__room")
    fields = (
        "name", "content_type", "size", "width", "height", "uploader", "room", "message_link", "created_at",
    )  # fmt: skip
    readonly_fields = fields
    ordering = ("-created_at", "-pk")

    @admin.display(description="room", ordering="message__room__slug")
    def room(self, obj: Attachment) -> str:
        return obj.message.room.slug if obj.message_id else "—"

    @admin.display(description="message")
    def message_link(self, obj: Attachment) -> str:
        if not obj.message_id:
            return "(not sent)"
        url = reverse("admin:chat_message_change", args=[obj.message_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.message.seq, obj.message.room.slug)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Attachment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Attachment | None = None) -> bool:
        return False  # the files would stay in storage; deleting the message deletes them


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Login sessions, so that an operator can sign one out: deleting a session (the "Delete
    selected" action) ends it and closes the sockets opened with it on every node. Deactivating a
    user or changing their password (the user admin) ends all of theirs."""

    list_display = ("user", "expire_date")
    list_display_links = None  # no change page: its URL would carry the session key
    list_per_page = 50
    ordering = ("-expire_date",)

    @admin.display(description="user")
    def user(self, obj: Session) -> str:
        user_id = obj.get_decoded().get(SESSION_KEY)
        if user_id is None:
            return "(anonymous)"
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return str(user) if user is not None else f"(deleted user {user_id})"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        accounts.session_delete(session_key=obj.session_key)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        for session_key in queryset.values_list("session_key", flat=True):
            accounts.session_delete(session_key=session_key)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Users' API tokens (STOMP's `Authorization: Bearer`): listed and revoked here, created by their
    users in the web UI (the secret is shown once, there; only its digest is stored). Revoking closes
    the connections opened with the token on every node."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    actions = ("revoke_tokens",)

    @admin.action(description="Revoke selected tokens (and close their connections)")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            accounts.api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # revoke instead: a deleted token's connections would not be closed
