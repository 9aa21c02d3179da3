"""URLs of the test identity provider: django-oauth-toolkit under /o/, a login page."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from oauth2_provider import urls as dot_urls
from oauth2_provider.views import ConnectDiscoveryInfoView


class Discovery(ConnectDiscoveryInfoView):
    """DOT's discovery document plus the device endpoint it serves but does not list
    (Keycloak and Entra list it)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        device = request.build_absolute_uri("/o/device-authorization/")
        data["device_authorization_endpoint"] = device
        data["grant_types_supported"] = [
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ]
        return JsonResponse(data)


urlpatterns = [
    re_path(r"^o/\.well-known/openid-configuration/?$", Discovery.as_view()),
    path("o/", include(dot_urls, namespace="oauth2_provider")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
]
