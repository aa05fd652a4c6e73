"""The public store: a product page with a cart, and a keypad point of sale. Both create an invoice
through invoices.services.invoice_create and send the buyer to its checkout page."""

from decimal import Decimal

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.throttling import AnonymousInvoiceThrottle
from bitcart.errors import ApplicationError
from bitcart.money import decimals, quantize
from invoices.services import invoice_create
from stores.models import Product, Store

STORE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
MAX_QUANTITY = 10_000


def _store_or_404(store_id: str) -> Store:
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        raise Http404("Store not found")
    return store


def _active_products(store: Store) -> list[Product]:
    return list(Product.objects.filter(store=store, status=Product.Status.ACTIVE).order_by("created"))


def _in_stock(product: Product) -> bool:
    return product.quantity == Product.UNLIMITED or product.quantity > 0


def _parse_cart(post, products: list[Product]) -> dict[str, int]:
    """Quantities from the form (`qty_<product id>`); products left at 0 are not ordered."""
    counts: dict[str, int] = {}
    for product in products:
        raw = (post.get(f"qty_{product.pk}") or "0").strip()
        if not raw.isdigit() or int(raw) > MAX_QUANTITY:
            raise ApplicationError(_("Enter a whole number of items for %(name)s.") % {"name": product.name})
        if int(raw) > 0:
            counts[product.pk] = int(raw)
    if not counts:
        raise ApplicationError(_("Choose at least one product."))
    return counts


def _throttled(request: HttpRequest) -> bool:
    """Every invoice reserves an address and rows, so anonymous buyers share the API's budget for
    anonymous invoice creation (per client IP); a logged-in merchant trying the store is not limited."""
    return not AnonymousInvoiceThrottle().allow_request(request, None)


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Content-Security-Policy"] = STORE_CSP
    return response


@require_http_methods(["GET", "POST"])
def store_page(request: HttpRequest, store_id: str) -> HttpResponse:
    store = _store_or_404(store_id)
    products = _active_products(store)
    error = ""
    status = 200
    if request.method == "POST" and _throttled(request):
        error, status = _("Too many orders from your network. Please try again in a minute."), 429
    elif request.method == "POST":
        try:
            counts = _parse_cart(request.POST, products)
            invoice = invoice_create(
                store=store,
                products=counts,
                promocode=(request.POST.get("promocode") or "").strip()[:100],
                buyer_email=(request.POST.get("buyer_email") or "").strip(),
            )
        except ApplicationError as exc:
            error, status = exc.message, 422
        else:
            return redirect(reverse("invoices:checkout", args=[invoice.pk]))
    places = decimals(store.default_currency)
    items = [
        {
            "product": product,
            # A string: a locale's decimal comma would break the cart script's parsing.
            "price": str(quantize(product.price, store.default_currency)),
            "in_stock": _in_stock(product),
            "max": MAX_QUANTITY if product.quantity == Product.UNLIMITED else product.quantity,
            "qty": request.POST.get(f"qty_{product.pk}", "0") if request.method == "POST" else "0",
        }
        for product in products
    ]
    context = {
        "store": store,
        "items": items,
        "error": error,
        "places": places,
        "promocode": request.POST.get("promocode", ""),
        "buyer_email": request.POST.get("buyer_email", ""),
    }
    return _render(request, "stores/store.html", context, status=status)


@require_http_methods(["GET", "POST"])
def store_pos(request: HttpRequest, store_id: str) -> HttpResponse:
    """A keypad for a custom amount in the store's currency (a shop counter, a donation)."""
    store = _store_or_404(store_id)
    error = ""
    status = 200
    amount = (request.POST.get("amount") or "").strip().replace(",", ".")
    if request.method == "POST" and _throttled(request):
        error, status = _("Too many orders from your network. Please try again in a minute."), 429
    elif request.method == "POST":
        try:
            invoice = invoice_create(
                store=store,
                price=amount,
                currency=store.default_currency,
                notes=(request.POST.get("notes") or "").strip()[:500],
            )
        except ApplicationError as exc:
            error, status = exc.message, 422
        else:
            return redirect(reverse("invoices:checkout", args=[invoice.pk]))
    context = {
        "store": store,
        "error": error,
        "amount": amount,
        "places": decimals(store.default_currency),
        "step": Decimal(1).scaleb(-decimals(store.default_currency)),
    }
    return _render(request, "stores/pos.html", context, status=status)
