"""Django admin for rooms, messages, files, profiles, sessions and API tokens. Every change goes
through the domain's services (rooms.py, message_changes.py, accounts.py, profiles.py), so connected
clients on every node see it live and the rooms' invariants hold here too.

One module of ~490 lines on purpose: it is Django's admin registry, one ModelAdmin per model, each
short and thin over the services; Django finds it as `chat.admin`, and splitting it by model would
only scatter the registrations."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from chat.domain import accounts, message_changes, profile_selectors, profiles, rooms
from chat.models import ApiToken, Attachment, Membership, Message, MessageEdit, Profile, Reaction, Room


class MembershipFormSet(BaseInlineFormSet):
    """The members of a room as the admin edits them, with the rule the services keep: a room that
    has an owner keeps one (chat/domain/rooms.py); this check only turns it into a form error."""

    def clean(self) -> None:
        super().clean()
        room = self.instance
        if room.pk is None or room.kind == Room.Kind.DM:
            return
        roles = dict(Membership.objects.filter(room=room).values_list("pk", "role"))
        if rooms.OWNER not in roles.values():
            return
        after = dict(roles)
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            pk = form.instance.pk
            if form in self.deleted_forms:
                after.pop(pk, None)
            elif form.cleaned_data.get("user"):
                after[pk or id(form)] = form.cleaned_data.get("role") or rooms.MEMBER
        if rooms.OWNER not in after.values():
            raise ValidationError("A room must keep an owner: make another member owner first.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 1
    autocomplete_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)

    def _editable(self, obj: Room | None) -> bool:
        return obj is None or obj.kind != Room.Kind.DM  # a DM's members are its set

    def has_add_permission(self, request: HttpRequest, obj: Room | None = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Room | None = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Room | None = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    """Rooms and DMs. A DM's title names its members but nothing of what they wrote; its settings
    and members are fixed (it can be deleted). Changes go through chat/domain/rooms.py with
    as_admin: no role check, the same invariants, a system line in the room."""

    list_display = ("title", "slug", "kind", "is_private", "is_archived", "last_seq", "creator", "created_at")
    list_filter = ("kind", "is_private", "is_archived", "created_at")
    search_fields = ("title", "slug", "description")
    fields = (
        "title",
        "slug",
        "kind",
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

    def get_readonly_fields(self, request: HttpRequest, obj: Room | None = None) -> tuple[str, ...]:
        if obj is not None and obj.kind == Room.Kind.DM:
            return self.fields
        return ("kind", "last_seq", "created_at", "is_archived")

    def save_model(self, request: HttpRequest, obj: Room, form, change: bool) -> None:
        if not change:
            data = form.cleaned_data
            created = rooms.room_create(
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
        if obj.kind == Room.Kind.DM:
            return
        editable = rooms.ADMIN_EDITABLE_FIELDS
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        if changes:
            slug = Room.objects.values_list("slug", flat=True).get(pk=obj.pk)
            rooms.room_update(room_slug=slug, actor=request.user, as_admin=True, **changes)
        if "creator" in form.changed_data:
            obj.save(update_fields=["creator"])

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        room = Room.objects.get(pk=form.instance.pk)
        slug, actor = room.slug, request.user
        # The admin's change history reads these three lists.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        removals: list[str] = []
        roles: list[tuple[str, str]] = []
        with transaction.atomic():
            for inline_form in formset.forms:
                if inline_form in formset.deleted_forms or not inline_form.has_changed():
                    continue
                instance = inline_form.instance
                user = inline_form.cleaned_data.get("user")
                role = inline_form.cleaned_data.get("role") or rooms.MEMBER
                if instance.pk and "user" in inline_form.changed_data:
                    removals.append(Membership.objects.get(pk=instance.pk).user.get_username())
                    formset.changed_objects.append((instance, ["user"]))
                if user:
                    rooms.room_member_add(
                        room_slug=slug, actor=actor, username=user.get_username(), as_admin=True
                    )
                    roles.append((user.get_username(), role))
                    if not instance.pk:
                        formset.new_objects.append(Membership.objects.get(room=room, user=user))
                    elif "role" in inline_form.changed_data:
                        formset.changed_objects.append((instance, ["role"]))
            for inline_form in formset.deleted_forms:
                if inline_form.instance.pk:
                    removals.append(inline_form.instance.user.get_username())
                    formset.deleted_objects.append(inline_form.instance)
            # New owners first, so that handing a room over and removing the old owner passes.
            roles.sort(key=lambda item: item[1] != rooms.OWNER)
            for username, role in roles:
                rooms.room_role_set(room_slug=slug, actor=actor, username=username, role=role, as_admin=True)
            for username in removals:
                rooms.room_member_remove(room_slug=slug, actor=actor, username=username, as_admin=True)

    @admin.action(description="Archive selected rooms (read-only)")
    def archive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset.exclude(kind=Room.Kind.DM):
            rooms.room_set_archived(room_slug=room.slug, actor=request.user, archived=True, as_admin=True)
        self.message_user(request, f"Archived {queryset.count()} room(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected rooms")
    def unarchive_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset.exclude(kind=Room.Kind.DM):
            rooms.room_set_archived(room_slug=room.slug, actor=request.user, archived=False, as_admin=True)
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
    # DM messages are not listed, searched or offered as a filter (RelatedOnlyFieldListFilter offers
    # the rooms of the listed messages): the admin shows no one what a conversation says.
    list_filter = (("room", admin.RelatedOnlyFieldListFilter), "deleted_at", "created_at")
    search_fields = ("room__slug", "room__title", "author__username", "body")
    list_select_related = ("room", "author")
    readonly_fields = (
        "room", "seq", "author", "body", "client_msg_id", "created_at", "edited_at", "deleted_at",
        "reply_to", "reply_count", "last_reply_at",
    )  # fmt: skip
    inlines = (MessageEditInline, ReactionInline, ReplyInline, AttachmentInline)
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).exclude(room__kind=Room.Kind.DM)

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attachment]:
        # Files sent in direct messages are the DM's contents: not listed, as its messages are not.
        return super().get_queryset(request).exclude(message__room__kind=Room.Kind.DM)

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


# --- profiles: their own list, and an inline on the user; writes through chat.domain.profiles ---


def _time_zone_choices() -> list[tuple[str, str]]:
    return [("", "-"), *((name, name) for name in sorted(profiles.time_zone_names()))]


class ProfileAdminForm(forms.ModelForm):
    """The profile's text fields under the same rules as the profile page; the operator may remove
    a picture (not upload one: that is the user's page)."""

    time_zone = forms.ChoiceField(required=False, choices=_time_zone_choices)
    remove_avatar = forms.BooleanField(required=False, label="Remove the picture")

    class Meta:
        model = Profile
        fields = ("display_name", "status_text", "time_zone")

    def clean(self) -> dict:
        data = super().clean()
        errors = {}
        for name, check in (
            (
                "display_name",
                lambda v: profiles.profile_clean_text(
                    v, field="display_name", max_length=profiles.DISPLAY_NAME_MAX
                ),
            ),
            (
                "status_text",
                lambda v: profiles.profile_clean_text(
                    v, field="status_text", max_length=profiles.STATUS_TEXT_MAX
                ),
            ),
            ("time_zone", profiles.profile_clean_time_zone),
        ):
            try:
                data[name] = check(data.get(name) or "")
            except ValidationError as error:
                errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)
        return data


def _profile_save(user, form: ProfileAdminForm) -> None:
    data = form.cleaned_data
    profiles.profile_save(
        user=user,
        display_name=data["display_name"],
        status_text=data["status_text"],
        time_zone=data["time_zone"],
        remove_avatar=bool(data.get("remove_avatar")),
    )


def _avatar_preview(profile: Profile) -> str:
    if not profile.avatar_key:
        return "-"
    return format_html(
        '<img src="{}" width="64" height="64" alt="">', profile_selectors.avatar_url(profile.avatar_key, 64)
    )


class ProfileInline(admin.StackedInline):
    model = Profile
    form = ProfileAdminForm
    can_delete = False
    fields = ("display_name", "status_text", "time_zone", "avatar", "remove_avatar", "updated_at")
    readonly_fields = ("avatar", "updated_at")

    @admin.display(description="picture")
    def avatar(self, profile: Profile) -> str:
        return _avatar_preview(profile)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    """Django's user admin, with the profile inline (saved through the profile services, so that
    the change is announced like one made on the profile page)."""

    inlines = (*UserAdmin.inlines, ProfileInline)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Profile:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if inline_form.has_changed():
                _profile_save(form.instance, inline_form)
                formset.changed_objects.append((inline_form.instance, inline_form.changed_data))


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    list_display = ("user", "display_name", "status_text", "time_zone", "has_avatar", "updated_at")
    search_fields = ("user__username", "display_name", "status_text")
    list_select_related = ("user",)
    fields = ("user", "display_name", "status_text", "time_zone", "avatar", "remove_avatar", "updated_at")
    readonly_fields = ("user", "avatar", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a profile is made with its user's first change (or from the user's page)

    @admin.display(boolean=True, description="picture")
    def has_avatar(self, profile: Profile) -> bool:
        return bool(profile.avatar_key)

    @admin.display(description="picture")
    def avatar(self, profile: Profile) -> str:
        return _avatar_preview(profile)

    def save_model(self, request: HttpRequest, obj: Profile, form, change: bool) -> None:
        _profile_save(obj.user, form)
