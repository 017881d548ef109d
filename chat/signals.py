"""Signal receivers: logging out ends that session's sockets on every node."""

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from chat.domain import services


@receiver(user_logged_out)
def end_sockets_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None and request is not None and request.session.session_key:
        services.session_end(user_id=user.pk, session_key=request.session.session_key)
