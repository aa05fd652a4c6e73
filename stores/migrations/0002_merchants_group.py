"""The "Merchants" group: what a merchant (a staff user, not a superuser) may do in the admin.

The admins scope every object to its owner; these permissions decide which admin pages a merchant
gets at all. Payment records and events are view-only: only services write them. Invoices are
added through the admin's service-backed form, never deleted.
"""

from django.db import migrations

from bitcart import migration_permissions

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
    migration_permissions.grant(apps, schema_editor, PERMISSIONS)


def delete_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=migration_permissions.MERCHANTS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("stores", "0001_initial"),
        ("wallets", "0001_initial"),
        ("invoices", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
