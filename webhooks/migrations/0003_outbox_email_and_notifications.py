import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The outbox also carries the buyer's e-mail and merchant notifications: a channel (kind),
    a topic and a recipient per message. Existing rows get their recipient in 0004."""

    dependencies = [
        ("stores", "0002_merchants_group"),
        ("webhooks", "0002_merchants_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookmessage",
            name="provider",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="messages",
                to="stores.notificationprovider",
            ),
        ),
        migrations.AddField(
            model_name="webhookmessage",
            name="recipient",
            field=models.CharField(default="", max_length=2000),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookmessage",
            name="topic",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AlterField(
            model_name="webhookmessage",
            name="kind",
            field=models.CharField(
                choices=[
                    ("endpoint", "Endpoint"),
                    ("notification_url", "Notification Url"),
                    ("email", "Email"),
                    ("notification", "Notification"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="webhookmessage",
            name="url",
            field=models.URLField(blank=True, max_length=2000),
        ),
    ]
