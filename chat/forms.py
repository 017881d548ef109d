"""HTML forms."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

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
        labels = {"is_private": "Private (members only)"}
