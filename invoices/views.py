"""The buyer's checkout page and its small endpoints. Views only read and call services."""

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
from invoices.checkout import (
    FINAL_STATUSES,
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
from invoices.models import Invoice
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


def _render_checkout(request: HttpRequest, invoice: Invoice, *, error: str = "", status: int = 200) -> HttpResponse:
    store = invoice.store
    methods = checkout_methods(invoice)
    method = next((m for m in methods if m.id == request.GET.get("method")), methods[0] if methods else None)
    state = invoice_public_state(invoice)
    products = [
        {"name": line.name, "count": line.count, "price": str(quantize(line.price, invoice.currency))}
        for line in checkout_products(invoice)
    ]
    simulate = request.GET.get("simulated", "")
    context = {
        "invoice": invoice,
        "store": store,
        "methods": methods,
        "method": method,
        "qr": qr_svg(method.payment_url, title=_("QR code to pay with a wallet")) if method else "",
        # Amounts go out as strings: a locale's decimal comma would break copying into wallets.
        "price": str(quantize(invoice.price, invoice.currency)),
        "sent": sent_display(invoice, methods),
        "rate": fiat_rate_display(invoice, method) if method else "",
        "products": products,
        "needs_details": invoice_needs_details(invoice),
        "modal": request.GET.get("modal") == "true",
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
            "amount_units": str(method.amount_units) if method else "0",
            "decimals": method.decimals if method else 0,
            "currency": method.currency if method else "",
            "address": method.address if method else "",
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
    """Where and how much to pay now (after a partial payment: the rest), with its QR code."""
    invoice = _get_invoice(invoice_id)
    methods = checkout_methods(invoice)
    method = next((m for m in methods if m.id == request.GET.get("method")), methods[0] if methods else None)
    if method is None:
        return JsonResponse({"error": "no_payment_method"}, status=404)
    return JsonResponse(
        {
            "method": method.id,
            "address": method.address,
            "amount": method.amount,
            "remaining": method.remaining,
            "payment_url": method.payment_url,
            "qr": qr_svg(method.payment_url, title=_("QR code to pay with a Bitcoin wallet")),
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
    return redirect(_checkout_url(invoice.pk, request, simulated=outcome))


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
