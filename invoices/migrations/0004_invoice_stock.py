from django.db import migrations, models


def existing_stock(apps, schema_editor):
    """Invoices made before stock was reserved on creation: complete (and refunded) ones took their
    stock when they completed; any other one with a limited product has taken nothing, so it is
    `released` and takes its stock if it gets paid, as it would have on completion."""
    Invoice = apps.get_model("invoices", "Invoice")
    with_limited = Invoice.objects.filter(invoice_products__product__quantity__gte=0)
    with_limited.filter(status__in=["complete", "refunded"]).update(stock="held")
    with_limited.exclude(status__in=["complete", "refunded"]).update(stock="released")


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0003_payment_method_created_index"),
        ("stores", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="stock",
            field=models.CharField(
                choices=[("none", "None"), ("held", "Held"), ("released", "Released"), ("short", "Short")],
                default="none",
                help_text="Limited stock this order holds. Short: paid after its stock was sold; restock or refund.",
                max_length=10,
            ),
        ),
        migrations.RunPython(existing_stock, migrations.RunPython.noop),
    ]
