"""Runs in its own process against the browser suite's database: JSON commands in on stdin, one
JSON answer per line out. The test process sets up data through it (stores, invoices, expiry) and
reads state back; payments never go through it: the tests pay on the simulated chain, and the
daemon and the listener bring them to the page."""

import json
import os
import secrets
import sys
import traceback
from datetime import timedelta


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bitcart.settings.production")
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from invoices import services
    from invoices.models import Invoice
    from stores.models import Product, Store
    from stores.services import product_create, store_create
    from wallets.keys import generate_xpub
    from wallets.models import Wallet

    def setup(**kwargs):
        user = get_user_model().objects.create_user(username=f"m{secrets.token_hex(4)}", password=None)
        wallet = Wallet.objects.create(
            name="Main", owner=user, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
        )
        store = store_create(owner=user, name=kwargs.get("name", "Corner Shop"), default_currency="BTC")
        store.wallets.add(wallet)
        products = [
            product_create(store=store, name="Sticker pack", price="0.0001", description="Five vinyl stickers"),
            product_create(store=store, name="T-shirt", price="0.0005", quantity=10, description="Organic cotton"),
            product_create(store=store, name="Hidden", price="0.1", status=Product.Status.INACTIVE),
        ]
        return {"store": store.pk, "products": [p.pk for p in products]}

    def store_update(store, **fields):
        Store.objects.filter(pk=store).update(**fields)
        return True

    def eth_setup(name="Coin Shop", rates=None):
        """A store taking every coin: a BTC wallet and an ETH wallet (a fresh address of the merchant's), with the
        merchant's fixed rates (store rate rules, a feature of theirs) so a fiat invoice is priced in each coin."""
        from eth_account import Account

        from rates.services import store_rate_rules_update
        from wallets.services import wallet_create

        user = get_user_model().objects.create_user(username=f"m{secrets.token_hex(4)}", password=None)
        btc = Wallet.objects.create(
            name="Main", owner=user, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
        )
        eth = wallet_create(owner=user, name="ETH", xpub=Account.create().address, currency="ETH")
        # Two confirmations: the local node mines each transaction at once, so one would complete it at once.
        store = store_create(owner=user, name=name, default_currency="USD", wallets=[btc, eth], transaction_speed=2)
        store_rate_rules_update(store=store, fixed_rates=rates or {})
        return {"store": store.pk, "eth_address": eth.xpub}

    def invoice(store, price="0.001", currency="BTC", **kwargs):
        return services.invoice_create(store=Store.objects.get(pk=store), price=price, currency=currency, **kwargs).pk

    def payment_methods(invoice):
        return [
            {
                "id": m.pk,
                "currency": m.currency,
                "decimals": m.decimals,
                "address": m.address,
                "amount": str(m.amount),  # wei do not fit a JSON number a test would read as float
                "payment_url": m.payment_url,
            }
            for m in Invoice.objects.get(pk=invoice).payment_methods.order_by("created")
        ]

    def method(invoice_id):
        return Invoice.objects.get(pk=invoice_id).payment_methods.order_by("created").first()

    def payment_method(invoice):
        m = method(invoice)
        return {"address": m.address, "amount": m.amount}

    def expire(invoice):
        Invoice.objects.filter(pk=invoice).update(expires_at=timezone.now() - timedelta(seconds=1))
        return services.invoice_expire(invoice_id=invoice).status

    def get(invoice):
        i = Invoice.objects.get(pk=invoice)
        return {"status": i.status, "exception_status": i.exception_status, "sent_amount": str(i.sent_amount)}

    def latest_invoice(store):
        i = Invoice.objects.filter(store_id=store).order_by("-created").first()
        if i is None:
            return None
        return {
            "id": i.pk,
            "price": str(i.price.normalize()),
            "products": {p.product_id: p.count for p in i.invoice_products.all()},
        }

    def product_quantity(product):
        return Product.objects.get(pk=product).quantity

    commands = {
        f.__name__: f
        for f in (
            setup,
            eth_setup,
            store_update,
            invoice,
            payment_method,
            payment_methods,
            expire,
            get,
            latest_invoice,
            product_quantity,
        )
    }
    print(json.dumps({"ok": True, "result": "ready"}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = commands[request["cmd"]](**request.get("args", {}))
            print(json.dumps({"ok": True, "result": result}), flush=True)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
            print(json.dumps({"ok": False, "error": f"{exc!r}\n{traceback.format_exc()}"}), flush=True)


if __name__ == "__main__":
    main()
