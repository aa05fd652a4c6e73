"""The "Merchants" group: what a merchant (a staff user, not a superuser) may do in the admin.

The admins scope every object to its owner; these permissions decide which admin pages a merchant
gets at all. Payment records and events are view-only: only services write them. Invoices are
added through the admin's service-backed form, never deleted.
"""

from django.db import migrations

GROUP = "Merchants"
ALL = ("view", "add", "change", "delete")
PERMISSIONS = {
    ("stores", "store"): ALL,
    ("stores", "product"): ALL,
    ("stores", "discount"): ALL,
    ("stores", "notificationprovider"): ALL,
    ("stores", "template"): ALL,
    ("wallets", "wallet"): ALL,
    ("invoices", "invoice"): ("view", "add", "change"),
    ("invoices", "invoiceproduct"): ("view",),
    ("invoices", "paymentmethod"): ("view",),
    ("invoices", "payment"): ("view",),
    ("invoices", "invoiceevent"): ("view",),
}


def create_group(apps, schema_editor):
    # Permissions are normally created by post_migrate, after every migration has run; on a fresh
    # database they do not exist yet here, so they are created now, the way Django names them.
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


def delete_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0001_initial"),
        ("wallets", "0001_initial"),
        ("invoices", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
