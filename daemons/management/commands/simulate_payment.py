"""Sandbox only: pay an invoice through the regtest chain simulator, or mine blocks."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitcart.errors import ApplicationError
from bitcart.money import format_coin, to_decimal, to_units
from daemons.simulator.client import SimulatorClient, SimulatorError
from invoices.sandbox import invoice_simulate_payment

BTC_DECIMALS = 8  # the regtest simulator is a bitcoin chain


class Command(BaseCommand):
    help = (
        "Pay an invoice's address with the regtest simulator (default: what is still due, like the "
        "checkout's button), or --mine N blocks."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("invoice_id", nargs="?")
        parser.add_argument("amount", nargs="?", help="BTC; default: what is still due on the invoice")
        parser.add_argument("--mine", type=int, default=0, help="mine N blocks (after paying, if an invoice is given)")

    def handle(self, *args, invoice_id=None, amount=None, mine=0, **options) -> None:
        if not settings.SANDBOX:
            raise CommandError("simulate_payment only works in the regtest sandbox (BTC_NETWORK=regtest)")
        if not invoice_id and not mine:
            raise CommandError("give an invoice id, or --mine N")
        if invoice_id:
            try:
                sat = to_units(to_decimal(amount, field="amount"), BTC_DECIMALS) if amount else None
                paid = invoice_simulate_payment(invoice_id=invoice_id, amount_sat=sat)
            except ApplicationError as exc:
                raise CommandError(f"{exc.message} ({exc.code})") from None
            paid_text = format_coin(paid.amount_sat, BTC_DECIMALS, "BTC")
            self.stdout.write(f"paid {paid_text} to {paid.address}: txid {paid.txid}")
        if mine:
            client = SimulatorClient(f"http://{settings.SIMULATOR_HOST}:{settings.SIMULATOR_CONTROL_PORT}")
            try:
                result = client.mine(blocks=mine)
            except SimulatorError as exc:
                raise CommandError(f"simulator: {exc}") from None
            self.stdout.write(f"mined {mine} block(s); height {result['height']}")
