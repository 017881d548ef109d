"""HTML forms."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from chat.domain.usernames import validate_username_script
from chat.models import Room


class SignUpForm(UserCreationForm):
    """Sign-up with username and password. The username is NFKC-normalised (Django's UsernameField),
    unique regardless of case, and of one script (chat/domain/usernames.py)."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].validators.append(validate_username_script)


class RoomCreateForm(forms.ModelForm):
    """Create a room from the lobby."""

    class Meta:
        model = Room
        fields = ("title", "description", "is_private")
        labels = {
            "title": _("Title"),
            "description": _("Description"),
            "is_private": _("Private (members only)"),
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class ApiTokenCreateForm(forms.Form):
    """Name a new API token."""

    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. “Android app”.")
    )


def time_zone_choices() -> list[tuple[str, str]]:
    """ "Not set", then every IANA zone name."""
    from chat.domain.profiles import time_zone_names

    return [("", _("Not set")), *((name, name.replace("_", " ")) for name in sorted(time_zone_names()))]


class ProfileForm(forms.Form):
    """The signed-in user's own profile. The rules (lengths, characters, zone names, the avatar's
    checks) are chat/domain/profiles.py's; this form only carries the values."""

    display_name = forms.CharField(
        label=_("Display name"),
        required=False,
        strip=False,
        help_text=_("How others see you; your username stays as it is. At most 64 characters."),
        widget=forms.TextInput(attrs={"maxlength": 64, "autocomplete": "nickname"}),
    )
    status_text = forms.CharField(
        label=_("Status"),
        required=False,
        strip=False,
        help_text=_("A short line, e.g. “On holiday until Monday”. At most 140 characters."),
        widget=forms.TextInput(attrs={"maxlength": 140}),
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False, choices=time_zone_choices)
    avatar = forms.FileField(
        label=_("New picture"),
        required=False,
        help_text=_("PNG, JPEG, GIF or WebP, at most %(size)s MB; it is cropped to a square."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )
    remove_avatar = forms.BooleanField(label=_("Remove my picture (show my initials)"), required=False)

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.fields["avatar"].help_text = self.fields["avatar"].help_text % {
            "size": f"{settings.CHAT_AVATAR_MAX_BYTES / 1024 / 1024:g}"
        }
