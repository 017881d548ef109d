"""Chat and account URLs."""

from django.contrib.auth import views as auth_views
from django.urls import path

from chat.web import api, files, ops, profiles, views

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("rooms/<slug:slug>/", views.room, name="room"),
    path("dm/<slug:slug>/", views.dm, name="dm"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", profiles.profile, name="profile"),
    path("accounts/tokens/", views.api_tokens, name="api-tokens"),
    path("accounts/tokens/<int:token_id>/revoke", views.api_token_revoke, name="api-token-revoke"),
    path("stomp-demo/", views.stomp_demo, name="stomp-demo"),
    path("api/search", api.search_view, name="api-search"),
    path("api/uploads/", files.upload, name="api-uploads"),
    path("files/<int:attachment_id>/thumbnail", files.attachment_thumbnail, name="attachment-thumbnail"),
    path("files/<int:attachment_id>/<str:name>", files.attachment, name="attachment"),
    path("avatars/<str:key>/<int:size>.webp", profiles.avatar, name="avatar"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]
