"""First-run setup for `make run`: an admin login (printed once) and, in the sandbox, a demo store."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from stores.models import Store
from stores.services import product_create, store_create
from wallets.keys import generate_xpub
from wallets.services import wallet_create

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@example.com"


class Command(BaseCommand):
    help = "Create the first superuser (login printed once) and a sandbox demo store. Does nothing if done."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        with transaction.atomic():
            if User.objects.filter(is_superuser=True).exists():
                self.stdout.write("Admin user exists; log in at /admin/ with your password.")
                return
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, password)
            if settings.SANDBOX and not Store.objects.exists():
                wallet = wallet_create(
                    owner=user, name="Sandbox wallet (regtest)", xpub=generate_xpub("regtest"), network="regtest"
                )
                store = store_create(
                    owner=user,
                    name="Demo store (sandbox)",
                    default_currency="BTC",
                    wallets=[wallet],
                    transaction_speed=1,
                )
                product_create(store=store, name="Sticker", price="0.0001", description="A sandbox product")
                product_create(store=store, name="T-shirt", price="0.0005", quantity=10)
        banner = "=" * 64
        self.stdout.write(banner)
        self.stdout.write(f"Admin:    {settings.SITE_URL}/admin/  (username {ADMIN_USERNAME})")
        self.stdout.write(f"E-mail:   {ADMIN_EMAIL}  (the API's POST /api/token takes the e-mail)")
        self.stdout.write(f"Password: {password}")
        self.stdout.write("This password is shown only now. Change it in the admin.")
        if settings.SANDBOX:
            self.stdout.write("SANDBOX: regtest chain simulator, no real funds. Pay invoices with")
            self.stdout.write("  .venv/bin/python manage.py simulate_payment <invoice id> [amount BTC]")
            self.stdout.write("A regtest xpub for a new wallet: .venv/bin/python manage.py sandbox_xpub")
        self.stdout.write(banner)
