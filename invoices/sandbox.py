"""The sandbox's "simulate payment": one implementation for the checkout button and the
`simulate_payment` command.

It only sends a transaction on the regtest chain simulator; the payment then arrives the real way
(simulator → Electrum daemon → listener → invoices.services), exactly like a buyer's would.
"""

import logging
from dataclasses import dataclass

from django.conf import settings

from bitcart.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from coins.registry import Family
from daemons.simulator.client import SimulatorClient, SimulatorError, SimulatorUnavailable
from invoices.checkout import checkout_methods
from invoices.models import Invoice, InvoiceStatus

logger = logging.getLogger(__name__)
SIMULATOR_TIMEOUT = 5  # seconds; the checkout button waits for it


class NotSandbox(NotFound):
    """Simulated payments exist only in the regtest sandbox: elsewhere there is nothing to call."""

    code = "not_sandbox"


@dataclass(frozen=True)
class SimulatedPayment:
    invoice_id: str
    address: str
    amount_sat: int
    txid: str


def invoice_simulate_payment(
    *, invoice_id: str, amount_sat: int | None = None, method_id: str | None = None
) -> SimulatedPayment:
    """Pay one of the invoice's addresses (`method_id`, default its first payment method) on the
    regtest simulator: `amount_sat` if given, else what is still due on that method.

    Something is due only while the invoice is pending (after a partial payment: the rest); an
    explicit amount is sent whatever the status, so a merchant can try late, partial and over-
    payments. Refusals: not_sandbox, invoice_not_found, payment_method_not_found, invalid_amount,
    nothing_due (409), simulator_unavailable (503, retryable), simulator_refused (409).
    """
    if not settings.SANDBOX:
        raise NotSandbox("Simulated payments exist only in the regtest sandbox")
    invoice = Invoice.objects.select_related("store").filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound("Invoice not found", code="invoice_not_found")
    methods = checkout_methods(invoice)
    method = next((m for m in methods if m.id == method_id), None) if method_id else next(iter(methods), None)
    if method is None:
        raise NotFound("The invoice has no such payment method", code="payment_method_not_found")
    if method.family != Family.BITCOIN:
        raise ValidationFailed(
            f"The regtest simulator pays bitcoin only, not {method.currency}", code="coin_not_simulated"
        )
    if amount_sat is None:
        amount_sat = method.remaining_units if invoice.status == InvoiceStatus.PENDING else 0
        if amount_sat <= 0:
            raise Conflict("Nothing is left to pay on this invoice", code="nothing_due")
    elif isinstance(amount_sat, bool) or not isinstance(amount_sat, int) or amount_sat <= 0:
        raise ValidationFailed("The amount must be a positive number of satoshis", code="invalid_amount")
    client = SimulatorClient(
        f"http://{settings.SIMULATOR_HOST}:{settings.SIMULATOR_CONTROL_PORT}", timeout=SIMULATOR_TIMEOUT
    )
    try:
        result = client.pay(method.address, amount_sat)
    except SimulatorUnavailable as exc:
        logger.warning("simulated payment for %s: %s", invoice.pk, exc)
        raise ServiceUnavailable("The regtest chain simulator is not running", code="simulator_unavailable") from None
    except SimulatorError as exc:
        logger.warning("simulated payment for %s refused: %s", invoice.pk, exc)
        raise Conflict(
            f"The chain simulator refused the payment: {exc.message}",
            code="simulator_refused",
            extra={"simulator_code": exc.code},
        ) from None
    return SimulatedPayment(invoice_id=invoice.pk, address=method.address, amount_sat=amount_sat, txid=result["txid"])
