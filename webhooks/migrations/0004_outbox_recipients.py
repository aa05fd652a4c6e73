from django.db import migrations
from django.db.models import F


def fill_recipients(apps, schema_editor):
    """Messages written before 0003 went to an endpoint or an invoice's notification_url: their
    recipient is that endpoint's id or that URL (what the unique constraint of 0005 compares)."""
    message = apps.get_model("webhooks", "WebhookMessage")
    message.objects.filter(kind="endpoint", recipient="").update(recipient=F("endpoint_id"))
    message.objects.filter(kind="notification_url", recipient="").update(recipient=F("url"))


class Migration(migrations.Migration):
    # Its own migration (its own transaction): PostgreSQL refuses to alter a table in the
    # transaction that updated its rows while deferred foreign-key checks are pending.
    dependencies = [("webhooks", "0003_outbox_email_and_notifications")]

    operations = [migrations.RunPython(fill_recipients, migrations.RunPython.noop)]
