"""Admin permissions of the "Merchants" group (stores/migrations/0002_merchants_group.py) for this app.

Webhooks: merchants manage their endpoints, read the outbox and delivery log, and redeliver.
"""

from django.db import migrations

GROUP = "Merchants"
PERMISSIONS = {
    ("webhooks", "webhookendpoint"): ("view", "add", "change", "delete"),
    # The outbox and the delivery log are written by services; merchants look and redeliver.
    ("webhooks", "webhookmessage"): ("view",),
    ("webhooks", "webhookattempt"): ("view",),
}


def grant(apps, schema_editor):
    # As in stores' migration: permissions are created here, post_migrate has not run yet.
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(db).get_or_create(name=GROUP)
    for (app_label, model_name), actions in PERMISSIONS.items():
        verbose_name = apps.get_model(app_label, model_name)._meta.verbose_name
        content_type, _ = ContentType.objects.using(db).get_or_create(app_label=app_label, model=model_name)
        for action in actions:
            permission, _ = Permission.objects.using(db).get_or_create(
                content_type=content_type,
                codename=f"{action}_{model_name}",
                defaults={"name": f"Can {action} {verbose_name}"},
            )
            group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(schema_editor.connection.alias).filter(name=GROUP).first()
    if group is None:
        return
    for (app_label, model_name), actions in PERMISSIONS.items():
        codenames = [f"{action}_{model_name}" for action in actions]
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("stores", "0002_merchants_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
