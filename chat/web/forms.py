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
