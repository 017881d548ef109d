"""The project package as a Django app, so that `manage.py check` also checks config/compat.py's table."""

from django.apps import AppConfig
from django.core import checks


class ProjectConfig(AppConfig):
    name = "config"
    verbose_name = "Project configuration"

    def ready(self) -> None:
        from config import compat

        checks.register(compat.system_check, checks.Tags.compatibility)
