"""HTML forms."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from chat.models import Room


class SignUpForm(UserCreationForm):
    """Sign-up with username and password."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


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
