"""Admin permissions of the "Merchants" group (stores/migrations/0002_merchants_group.py) for this app.

API tokens: merchants create (secret shown once), relabel and revoke their own.
"""

from django.db import migrations

from bitcart import migration_permissions

PERMISSIONS = {
    ("apiauth", "token"): ("view", "add", "change", "delete"),
}


def grant(apps, schema_editor):
    migration_permissions.grant(apps, schema_editor, PERMISSIONS)


def revoke(apps, schema_editor):
    migration_permissions.revoke(apps, schema_editor, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("apiauth", "0001_initial"),
        ("stores", "0002_merchants_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
