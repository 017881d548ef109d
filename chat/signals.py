"""Signal receivers: whatever ends a login session or an account's right to one ends its sockets on
every node, whichever path made the change (a view, the admin, a management command, the shell); a
deleted profile's picture files are deleted after commit."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from chat.domain import accounts, profiles, selectors
from chat.models import Profile

# The fields whose change can end a user's sessions (accounts.user_sessions_end_on_change).
_CREDENTIAL_FIELDS = {"password", "is_active"}


@receiver(user_logged_out)
def end_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None and request is not None and request.session.session_key:
        accounts.session_end(user_id=user.pk, session_key=request.session.session_key)


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def remember_credentials(sender, instance, raw, update_fields, **kwargs) -> None:
    # One read by primary key, only for saves that may change the password or is_active (a login's
    # save of last_login names its update_fields and is skipped).
    instance._chat_credentials_before = None
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not _CREDENTIAL_FIELDS & set(update_fields):
        return
    instance._chat_credentials_before = selectors.user_credentials(user_id=instance.pk)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def end_sockets_on_credentials_change(sender, instance, created, raw, **kwargs) -> None:
    before = getattr(instance, "_chat_credentials_before", None)
    instance._chat_credentials_before = None
    if not (created or raw):
        accounts.user_sessions_end_on_change(user=instance, before=before)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def end_sockets_on_user_delete(sender, instance, **kwargs) -> None:
    accounts.user_sessions_end(user_id=instance.pk)


@receiver(post_delete, sender=Profile)
def delete_avatar_files(sender, instance, **kwargs) -> None:
    # A deleted user's profile goes with it (CASCADE); its picture's files go after commit.
    profiles.profile_deleted(profile=instance)
