from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0004_outbox_recipients")]

    operations = [
        migrations.AddConstraint(
            model_name="webhookmessage",
            constraint=models.UniqueConstraint(
                fields=("event", "kind", "topic", "recipient"), name="webhook_message_unique_target"
            ),
        ),
    ]
