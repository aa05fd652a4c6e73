"""The buyer's checkout page and its small endpoints. Views only read and call services."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from bitcart.api import http_status
from bitcart.errors import ApplicationError
from bitcart.money import quantize
from coins import registry
from coins.registry import Family
from invoices.checkout import (
    FINAL_STATUSES,
    MethodView,
    checkout_invoice_get,
    checkout_methods,
    checkout_products,
    checkout_state_get,
    fiat_rate_display,
    invoice_needs_details,
    sent_display,
)
from invoices.customer import DETAIL_FIELDS, DetailsActor, invoice_details_update
from invoices.effects import invoice_public_state
from invoices.models import Invoice, InvoiceStatus
from invoices.qr import qr_svg
from invoices.sandbox import invoice_simulate_payment

# The checkout is meant to be framed by any merchant's site (the modal script), so instead of
# X-Frame-Options it sends a CSP that allows any ancestor but nothing else from elsewhere:
# scripts, styles and connections stay on this origin. Images may come from the merchant's logo URL.
CHECKOUT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; connect-src 'self'; "
    "frame-ancestors *; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SIMULATE_MESSAGES = {
    "sent": lambda: _("Test payment sent. It will show up in a moment."),
    "unavailable": lambda: _("The regtest chain simulator is not running, so no test payment could be sent."),
    "refused": lambda: _("The chain simulator refused the test payment."),
    "nothing_due": lambda: _("Nothing is left to pay on this invoice."),
}

# The service's refusal codes → what the page says (the checkout script shows the message).
SIMULATE_OUTCOMES = {
    "simulator_unavailable": "unavailable",
    "simulator_refused": "refused",
    "nothing_due": "nothing_due",
    "payment_method_not_found": "nothing_due",
}


def _with_csp(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CHECKOUT_CSP
    response["Referrer-Policy"] = "no-referrer"
    return response


def _checkout_url(invoice_id: str, request: HttpRequest, **params: str) -> str:
    query = {"modal": "true"} if request.GET.get("modal") == "true" or request.POST.get("modal") == "true" else {}
    query.update(params)
    url = reverse("invoices:checkout", args=[invoice_id])
    return f"{url}?{urlencode(query)}" if query else url


def _get_invoice(invoice_id: str) -> Invoice:
    invoice = checkout_invoice_get(invoice_id=invoice_id)
    if invoice is None:
        raise Http404("Invoice not found")
    return invoice


# Amounts for people keep at least this many places (BTC's 8 stay as they are) and lose the zeros past them:
# an ether amount asked to the payment tag's 10^-8 reads 0.05001234, not 0.050012340000000000. Exact either way.
DISPLAY_PLACES = 8


def amount_display(amount: str) -> str:
    """'0.050012340000000000' -> '0.05001234'; only zeros past DISPLAY_PLACES go (checkout.js `short` does the
    same to the amounts of live updates)."""
    whole, dot, fraction = amount.partition(".")
    if not dot or len(fraction) <= DISPLAY_PLACES:
        return amount
    return f"{whole}.{fraction[:DISPLAY_PLACES]}{fraction[DISPLAY_PLACES:].rstrip('0')}"


def short_hex(value: str) -> str:
    """'0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48' -> '0xA0b8…eB48' (the full one is in the QR and the title)."""
    return f"{value[:6]}…{value[-4:]}" if len(value) > 12 else value


@dataclass(frozen=True)
class MethodChoice:
    """One payment method as the page shows it."""

    view: MethodView
    url: str  # this page with the method chosen
    amount: str  # for people (amount_display)
    remaining: str
    label: str  # "Ethereum (ETH)"
    exact: bool  # Ethereum family: the amount's last digits tell the invoice apart, it must be sent exactly
    network: str  # "Ethereum mainnet" for Ethereum-family coins ("" otherwise)
    chain_id: int
    contract: str  # the ERC-20 contract of a token ("" otherwise)

    @property
    def id(self) -> str:
        return self.view.id

    @property
    def currency(self) -> str:
        return self.view.currency

    @property
    def contract_short(self) -> str:
        return short_hex(self.contract)


def _choice(method: MethodView, url: str) -> MethodChoice:
    coin = registry.registry().coins.get(method.currency)
    chain = registry.registry().chains.get(coin.chain) if coin else None
    ethereum = chain if chain is not None and chain.family == Family.ETHEREUM else None
    return MethodChoice(
        view=method,
        url=url,
        amount=amount_display(method.amount),
        remaining=amount_display(method.remaining),
        label=f"{method.name} ({method.currency})" if method.name != method.currency else method.currency,
        exact=ethereum is not None,
        network=f"{ethereum.native.name} {ethereum.network}" if ethereum else "",
        chain_id=ethereum.chain_id if ethereum else 0,
        contract=coin.contract if ethereum and coin else "",
    )


def _qr(method: MethodChoice) -> str:
    return qr_svg(method.view.payment_url, title=_("QR code to pay with %(coin)s") % {"coin": method.label})


def _chosen(methods: list[MethodChoice], wanted: str | None, paid_currency: str) -> MethodChoice | None:
    """The method the page shows: the one asked for (an id of this invoice's, anything else is ignored), the
    only one, or once paid the one paid in. None: the buyer chooses first."""
    found = next((m for m in methods if m.id == wanted), None) if wanted else None
    if found is None and len(methods) == 1:
        found = methods[0]
    if found is None and paid_currency:
        found = next((m for m in methods if m.currency == paid_currency), None)
    return found


def _render_checkout(request: HttpRequest, invoice: Invoice, *, error: str = "", status: int = 200) -> HttpResponse:
    store = invoice.store
    modal = request.GET.get("modal") == "true"
    base = reverse("invoices:checkout", args=[invoice.pk])
    methods = [
        _choice(m, f"{base}?{urlencode({'method': m.id, **({'modal': 'true'} if modal else {})})}")
        for m in checkout_methods(invoice)
    ]
    pending = invoice.status == InvoiceStatus.PENDING
    method = _chosen(methods, request.GET.get("method"), "" if pending else invoice.paid_currency)
    needs_details = invoice_needs_details(invoice)
    if needs_details:
        view = "details"
    elif pending:
        view = "pay" if method else "choose"
    elif invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CONFIRMED):
        view = "received"
    else:
        view = invoice.status
    state = invoice_public_state(invoice)
    products = [
        {"name": line.name, "count": line.count, "price": str(quantize(line.price, invoice.currency))}
        for line in checkout_products(invoice)
    ]
    simulate = request.GET.get("simulated", "")
    context = {
        "invoice": invoice,
        "store": store,
        "view": view,
        "methods": methods,
        "method": method,
        "choose_url": f"{base}?modal=true" if modal else base,
        "qr": _qr(method) if method else "",
        # Amounts go out as strings: a locale's decimal comma would break copying into wallets.
        "price": str(quantize(invoice.price, invoice.currency)),
        "sent": amount_display(sent_display(invoice, [m.view for m in methods])),
        "paid_currency": invoice.paid_currency or (method.currency if method else invoice.currency),
        "rate": fiat_rate_display(invoice, method.view) if method else "",
        "products": products,
        "needs_details": needs_details,
        "modal": modal,
        "sandbox": settings.SANDBOX,
        "error": error,
        "simulate_message": SIMULATE_MESSAGES[simulate]() if simulate in SIMULATE_MESSAGES else "",
        "i18n": {
            "copied": _("Copied"),
            "copy_failed": _("Select the text and copy it"),
            "expiring": _("Expiring…"),
            "offline": _("Live updates interrupted; checking every few seconds."),
            "redirecting": _("Payment received. Returning to the store…"),
            "simulating": _("Sending a test payment…"),
            "simulate_failed": _("The test payment could not be sent."),
        },
        "page_data": {
            "id": invoice.pk,
            "state": state,
            "final": list(FINAL_STATUSES),
            "expires_at": invoice.expires_at.isoformat(),
            "now": timezone.now().isoformat(),
            "currency": method.currency if method else "",
            "redirect_url": invoice.redirect_url,
            "status_url": reverse("invoices:status", args=[invoice.pk]),
            "payment_url": reverse("invoices:payment", args=[invoice.pk]),
            "ws_path": f"/ws/invoices/{invoice.pk}",
            "method": method.id if method else "",
        },
    }
    response = render(request, "invoices/checkout.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return _with_csp(response)


@require_GET
@xframe_options_exempt
def checkout(request: HttpRequest, invoice_id: str) -> HttpResponse:
    return _render_checkout(request, _get_invoice(invoice_id))


@require_GET
@cache_control(no_store=True)
def checkout_status(request: HttpRequest, invoice_id: str) -> JsonResponse:
    """The polling fallback of the websocket: the same message the push sends."""
    state = checkout_state_get(invoice_id=invoice_id)
    if state is None:
        return JsonResponse({"error": "not_found"}, status=404)
    return JsonResponse(state)


@require_GET
@cache_control(no_store=True)
def checkout_payment(request: HttpRequest, invoice_id: str) -> JsonResponse:
    """Where and how much to pay now (after a partial payment: the rest) with one method (`?method=`, by default
    the first), with its QR code; and what is left on every method, for the page's list of them."""
    invoice = _get_invoice(invoice_id)
    methods = checkout_methods(invoice)
    wanted = request.GET.get("method")
    view = next((m for m in methods if m.id == wanted), None) if wanted else (methods[0] if methods else None)
    if view is None:
        return JsonResponse({"error": "payment_method_not_found"}, status=404)
    method = _choice(view, "")
    return JsonResponse(
        {
            "method": view.id,
            "currency": view.currency,
            "address": view.address,
            "amount": view.amount,
            "remaining": view.remaining,
            "payment_url": view.payment_url,
            "qr": _qr(method),
            "methods": [{"id": m.id, "currency": m.currency, "remaining": m.remaining} for m in methods],
        }
    )


# No CSRF check: these forms carry no ambient authority (no session, no login); the unguessable
# invoice id in the URL is the only credential, and an attacker who had it could post directly.
# The check would also break them inside the modal, where the site's cookies are third-party.
@csrf_exempt
@require_POST
@xframe_options_exempt
def checkout_customer(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """The details step, as the public. Every posted detail goes to the service, so one the public
    may not set (notes, a field the store does not ask for) is refused (403), not silently dropped;
    a field the store requires is sent even when left out, and refused empty."""
    invoice = _get_invoice(invoice_id)
    store = invoice.store
    changes = {name: request.POST[name] for name in DETAIL_FIELDS if name in request.POST}
    if store.email_required:
        changes.setdefault("buyer_email", "")
    if store.ask_address:
        changes.setdefault("shipping_address", "")
    try:
        invoice_details_update(invoice_id=invoice.pk, actor=DetailsActor.PUBLIC, **changes)
    except ApplicationError as exc:
        return _render_checkout(request, _get_invoice(invoice_id), error=exc.message, status=http_status(exc))
    return redirect(_checkout_url(invoice.pk, request), permanent=False)


@csrf_exempt
@require_POST
@xframe_options_exempt
def checkout_simulate(request: HttpRequest, invoice_id: str) -> HttpResponse:
    """Sandbox only: the "Simulate payment" button (invoices.sandbox, shared with the command)."""
    if not settings.SANDBOX:
        raise Http404("Not a sandbox")
    invoice = _get_invoice(invoice_id)
    status = 200
    try:
        invoice_simulate_payment(invoice_id=invoice.pk, method_id=request.POST.get("method") or None)
        outcome = "sent"
    except ApplicationError as exc:
        outcome, status = SIMULATE_OUTCOMES.get(exc.code, "refused"), http_status(exc)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"outcome": outcome, "message": SIMULATE_MESSAGES[outcome]()}, status=status)
    method = request.POST.get("method", "")
    return redirect(_checkout_url(invoice.pk, request, simulated=outcome, **({"method": method} if method else {})))


@require_GET
def modal_script(request: HttpRequest) -> FileResponse:
    """/modal/bitcart.js, where Bitcart serves it: the same file as /static/bitcart/bitcart.js,
    loadable from any site (it is meant to be embedded)."""
    path = finders.find("bitcart/bitcart.js")
    if not path:
        raise Http404("bitcart.js not found")
    response = FileResponse(open(path, "rb"), content_type="text/javascript; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "public, max-age=3600"
    return response
