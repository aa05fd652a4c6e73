"""Sandbox only: pay an invoice through the regtest chain simulator, or mine blocks."""

from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitcart.errors import ValidationFailed
from bitcart.money import btc_to_sat, to_decimal
from invoices.models import Invoice


class Command(BaseCommand):
    help = "Pay an invoice's address with the regtest simulator (default: the amount due), or --mine N blocks."

    def add_arguments(self, parser) -> None:
        parser.add_argument("invoice_id", nargs="?")
        parser.add_argument("amount", nargs="?", help="BTC; default: what the invoice asks")
        parser.add_argument("--mine", type=int, default=0, help="mine N blocks (after paying, if an invoice is given)")

    def handle(self, *args, invoice_id=None, amount=None, mine=0, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError("simulate_payment only works in the regtest sandbox (BTC_NETWORK=regtest)")
        from daemons.simulator.client import SimulatorClient, SimulatorError

        client = SimulatorClient(f"http://{settings.SIMULATOR_HOST}:{settings.SIMULATOR_CONTROL_PORT}")
        if not invoice_id and not mine:
            raise CommandError("give an invoice id, or --mine N")
        try:
            if invoice_id:
                invoice = Invoice.objects.filter(pk=invoice_id).first()
                if invoice is None:
                    raise CommandError(f"no invoice {invoice_id}")
                method = invoice.payment_methods.order_by("created").first()
                if method is None:
                    raise CommandError("the invoice has no payment method")
                try:
                    sat = btc_to_sat(to_decimal(amount, field="amount")) if amount else method.amount
                except ValidationFailed as exc:
                    raise CommandError(exc.message) from None
                if sat <= 0:
                    raise CommandError("amount must be positive")
                result = client.pay(method.address, sat)
                self.stdout.write(f"paid {Decimal(sat) / 10**8:.8f} BTC to {method.address}: txid {result['txid']}")
            if mine:
                result = client.mine(blocks=mine)
                self.stdout.write(f"mined {mine} block(s); height {result['height']}")
        except SimulatorError as exc:
            raise CommandError(f"simulator: {exc}") from None
