"""Delete uploads that were never sent in a message, older than CHAT_UPLOAD_ORPHAN_HOURS (or --hours)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from chat.domain import attachments


class Command(BaseCommand):
    help = "Delete uploads never attached to a message, older than N hours (run it hourly from cron)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--hours", type=float, default=settings.CHAT_UPLOAD_ORPHAN_HOURS)

    def handle(self, *args, hours: float, **options) -> None:
        count = attachments.attachments_sweep(older_than=timedelta(hours=hours))
        self.stdout.write(f"{count} orphaned upload(s) deleted")
