import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape

from coins.evm import eip681_uri
from invoices.models import PaymentMethod
from invoices.services import invoice_create, payment_apply
from tests.chains import USDC, enable_eth
from wallets.services import wallet_create

pytestmark = pytest.mark.django_db


def test_checkout_page_renders_amount_qr_and_address(client, invoice):
    method = invoice.payment_methods.get()

    response = client.get(f"/i/{invoice.pk}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "0.00100000" in html
    assert method.address in html
    assert "<svg" in html and 'class="qr"' in html
    assert f'href="{escape(method.payment_url)}"' in html
    assert 'data-view="pay"' in html
    assert "frame-ancestors *" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response


def test_checkout_unknown_invoice_is_404(client, db):
    assert client.get("/i/NOPE").status_code == 404


def test_status_endpoint_returns_the_push_message_shape(client, invoice):
    response = client.get(f"/i/{invoice.pk}/status")

    assert response.status_code == 200
    assert response.json() == {
        "status": "pending",
        "exception_status": "none",
        "sent_amount": "0",
        "paid_currency": "",
        "payment_id": None,
    }


def test_partial_payment_shows_remaining_and_new_uri(client, invoice):
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="a" * 64, vout=0, amount=40_000)

    html = client.get(f"/i/{invoice.pk}").content.decode()
    payment = client.get(f"/i/{invoice.pk}/payment").json()

    assert 'data-exception="paid_partial"' in html
    assert "0.00060000" in html
    assert payment["remaining"] == "0.00060000"
    assert "amount=0.00060000" in payment["payment_url"]
    assert payment["qr"].startswith("<svg")


@pytest.mark.parametrize(
    ("amount", "confirmations", "view"),
    [(100_000, 0, "received"), (100_000, 1, "complete")],
)
def test_paid_invoice_renders_final_view(client, invoice, amount, confirmations, view):
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="b" * 64, vout=0, amount=amount, confirmations=confirmations)

    html = client.get(f"/i/{invoice.pk}").content.decode()

    assert f'data-view="{view}"' in html


def test_modal_alias_serves_the_script_with_cors(client, db):
    response = client.get("/modal/bitcart.js")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert b"showInvoice" in b"".join(response.streaming_content)


def test_details_step_when_store_requires_email(client, store, invoice):
    store.email_required = True
    store.save()

    html = client.get(f"/i/{invoice.pk}").content.decode()
    assert 'data-view="details"' in html

    bad = client.post(f"/i/{invoice.pk}/customer", {"buyer_email": "not-an-email"})
    assert bad.status_code == 422
    assert "valid e-mail" in bad.content.decode()
    invoice.refresh_from_db()
    assert invoice.buyer_email == ""

    ok = client.post(f"/i/{invoice.pk}/customer?modal=true", {"buyer_email": " buyer@example.com "})
    assert ok.status_code == 302
    assert ok["Location"] == reverse("invoices:checkout", args=[invoice.pk]) + "?modal=true"
    invoice.refresh_from_db()
    assert invoice.buyer_email == "buyer@example.com"
    assert 'data-view="pay"' in client.get(f"/i/{invoice.pk}").content.decode()


def test_customer_details_refused_after_payment(client, store, invoice):
    store.ask_address = True
    store.save()
    method = invoice.payment_methods.get()
    payment_apply(payment_method_id=method.pk, txid="c" * 64, vout=0, amount=100_000)

    response = client.post(f"/i/{invoice.pk}/customer", {"shipping_address": "Evil street 1"})

    assert response.status_code == 409
    assert "no longer accepts changes" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.shipping_address == ""


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"notes": "ring twice"}, "Only the store&#x27;s owner may change notes"),
        ({"shipping_address": "Evil street 1"}, "This store does not ask for shipping address"),
    ],
)
def test_customer_details_refuses_what_the_public_may_not_set(client, invoice, posted, message):
    response = client.post(f"/i/{invoice.pk}/customer", posted)

    assert response.status_code == 403
    assert message in response.content.decode()
    invoice.refresh_from_db()
    assert (invoice.notes, invoice.shipping_address) == ("", "")


def test_simulate_reports_missing_simulator(client, invoice, settings):
    settings.SANDBOX = True
    settings.SIMULATOR_HOST = "127.0.0.1"
    settings.SIMULATOR_CONTROL_PORT = 9  # discard port: nothing listens

    response = client.post(f"/i/{invoice.pk}/simulate", HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response.json()["outcome"] == "unavailable"
    assert re.search("not running", response.json()["message"])


def test_simulate_is_404_outside_the_sandbox(client, invoice, settings):
    settings.SANDBOX = False

    assert client.post(f"/i/{invoice.pk}/simulate").status_code == 404


def test_checkout_page_query_budget(client, invoice, django_assert_num_queries):
    client.get(f"/i/{invoice.pk}")  # the first view also reads the (immutable) methods and lines

    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}").status_code == 200
    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}/status").status_code == 200


def test_fiat_invoice_shows_the_rate_and_btc_invoice_does_not(invoice):
    from dataclasses import replace
    from decimal import Decimal

    from invoices.checkout import checkout_methods, fiat_rate_display

    method = checkout_methods(invoice)[0]
    assert fiat_rate_display(invoice, method) == ""

    invoice.currency = "USD"
    assert fiat_rate_display(invoice, replace(method, rate=Decimal("65000.125"))) == "1 BTC = 65,000.13 USD"
    # A stablecoin's rate keeps the places that make a difference to the buyer (up to 6).
    usdt = replace(method, currency="USDT", rate=Decimal("1.00020000"))
    assert fiat_rate_display(invoice, usdt) == "1 USDT = 1.0002 USD"
    assert fiat_rate_display(invoice, replace(usdt, rate=Decimal("0.99981234"))) == "1 USDT = 0.999812 USD"
    assert fiat_rate_display(invoice, replace(usdt, rate=Decimal("1.00000000"))) == "1 USDT = 1.00 USD"


def test_checkout_speaks_the_buyers_language(client, invoice):
    html = client.get(f"/i/{invoice.pk}", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert '<html lang="de"' in html
    assert "Fälliger Betrag" in html
    assert "In Wallet öffnen" in html
    assert "Live-Aktualisierung unterbrochen" in html  # the JS catalogue too
    assert "0,001" not in html  # amounts keep the dot wallets expect, whatever the language


# --- several payment methods: the buyer picks one --------------------------------------------------

MERCHANT_ETH = "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"
ETH_UNITS = 50_012_340_000_000_000  # 0.05 ETH with the payment tag 1234 at 10^-8
USDC_UNITS = 100_001_234  # 100 USDC with the tag 1234 in the token's last digits


@pytest.fixture
def eth_wallet(settings, merchant, store):
    enable_eth(settings)
    wallet = wallet_create(owner=merchant, name="ETH", xpub=MERCHANT_ETH, currency="ETH")
    store.wallets.add(wallet)
    return wallet


def add_eth_methods(invoice, wallet, lookups=("1", "2")) -> tuple[PaymentMethod, PaymentMethod]:
    """ETH and USDC methods on `invoice`, as the ETH daemon opens them (the merchant's address, tagged amounts)."""
    eth = PaymentMethod.objects.create(
        invoice=invoice,
        wallet=wallet,
        currency="ETH",
        decimals=18,
        amount=ETH_UNITS,
        rate=Decimal("0.02"),
        address=wallet.xpub,
        lookup=lookups[0],
        payment_url=eip681_uri(address=wallet.xpub, units=ETH_UNITS, chain_id=1337),
    )
    usdc = PaymentMethod.objects.create(
        invoice=invoice,
        wallet=wallet,
        currency="USDC",
        decimals=6,
        amount=USDC_UNITS,
        rate=Decimal("0.00001"),
        address=wallet.xpub,
        lookup=lookups[1],
        payment_url=eip681_uri(address=wallet.xpub, units=USDC_UNITS, chain_id=1337, contract=USDC),
    )
    return eth, usdc


@pytest.fixture
def methods(invoice, eth_wallet):
    """The BTC invoice of `store` (0.001 BTC) with ETH and USDC methods too: BTC, ETH, USDC in that order."""
    btc = invoice.payment_methods.get()
    eth, usdc = add_eth_methods(invoice, eth_wallet)
    return btc, eth, usdc


def method_links(html: str) -> list[tuple[str, str]]:
    """(href, text) of each link of the method list, text without tags and extra spaces."""
    found = re.search(r'<nav class="panel" data-panel="choose".*?</nav>', html, re.S)
    assert found is not None, "no method list on the page"
    nav = found.group(0)
    return [
        (href, " ".join(re.sub(r"<[^>]+>", " ", text).split()))
        for href, text in re.findall(r'<a class="method" href="([^"]+)"[^>]*>(.*?)</a>', nav, re.S)
    ]


def visible_text(html: str) -> str:
    """The page's text and attributes, without its script data (the JSON carries no words for people)."""
    return re.sub(r"<script.*?</script>", "", html, flags=re.S)


def test_several_methods_are_listed_first_with_each_amount_in_its_coins_decimals(client, invoice, methods):
    btc, eth, usdc = methods

    html = client.get(f"/i/{invoice.pk}").content.decode()

    assert 'data-view="choose"' in html
    assert 'data-panel="pay"' not in html  # nothing to pay to before a method is chosen
    page = f"/i/{invoice.pk}"
    assert method_links(html) == [
        (f"{page}?method={btc.pk}", "Bitcoin BTC 0.00100000 BTC"),
        (f"{page}?method={eth.pk}", "Ethereum ETH 0.05001234 ETH"),
        (f"{page}?method={usdc.pk}", "USD Coin USDC &middot; ERC-20 100.001234 USDC"),
    ]
    assert "Choose how to pay" in html
    assert btc.address not in html and MERCHANT_ETH not in html


def test_a_single_method_goes_straight_to_its_pay_view(client, invoice):
    html = client.get(f"/i/{invoice.pk}").content.decode()

    assert 'data-view="pay"' in html
    assert 'data-panel="choose"' not in html
    assert "Change payment method" not in html


@pytest.mark.parametrize(
    ("currency", "name", "amount", "contract_line"),
    [
        ("ETH", "Ethereum", "0.05001234", ""),
        (
            "USDC",
            "USD Coin",
            "100.001234",
            f'USDC token contract: <span class="mono" title="{USDC}">0xe7f1…0512</span>',
        ),
    ],
)
def test_the_chosen_ethereum_method_shows_its_exact_amount_address_qr_and_network(
    client, invoice, methods, currency, name, amount, contract_line
):
    method = next(m for m in methods if m.currency == currency)

    response = client.get(f"/i/{invoice.pk}?method={method.pk}")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-view="pay"' in html
    assert f'<span data-bind="remaining">{amount}</span> <span class="unit">{currency}</span>' in html
    assert f'id="pay-amount" class="mono" readonly value="{amount}"' in html
    assert f'id="pay-address" class="mono" readonly value="{MERCHANT_ETH}"' in html
    assert html.count(f'href="{escape(method.payment_url)}"') == 2  # the QR code and "Open in wallet"
    assert f"<title>QR code to pay with {name} ({currency})</title>" in html
    assert "Send exactly this amount." in html
    assert "Network: Ethereum local (chain ID 1337)" in html
    assert contract_line in html
    if not contract_line:
        assert "token contract" not in html
    # The way back to the list, where the other coins are.
    assert f'<a href="/i/{invoice.pk}" class="change" aria-label="Change payment method">Change</a>' in html
    assert 'data-panel="choose"' not in html
    assert "Bitcoin" not in visible_text(html)


def test_the_chosen_bitcoin_method_has_no_ethereum_notes(client, invoice, methods):
    btc = methods[0]

    html = client.get(f"/i/{invoice.pk}?method={btc.pk}").content.decode()

    assert f'value="{btc.address}"' in html
    assert f'href="{escape(btc.payment_url)}"' in html
    assert "<title>QR code to pay with Bitcoin (BTC)</title>" in html
    assert "Send exactly this amount." not in html and "Network:" not in html


@pytest.mark.parametrize("wanted", ["NOPE", "", "other-invoice"])
def test_an_unknown_or_foreign_method_id_shows_the_list_and_nothing_of_the_other_invoice(
    client, store, invoice, methods, eth_wallet, wanted
):
    other = invoice_create(store=store, price="0.002", currency="BTC")
    other_btc = other.payment_methods.get()
    other_eth, _ = add_eth_methods(other, eth_wallet, lookups=("3", "4"))
    wanted = other_eth.pk if wanted == "other-invoice" else wanted

    response = client.get(f"/i/{invoice.pk}?method={wanted}")
    payment = client.get(f"/i/{invoice.pk}/payment?method={other_btc.pk}")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-view="choose"' in html
    assert other_btc.address not in html and other_btc.pk not in html and other_eth.pk not in html
    assert "0.00200000" not in html
    assert payment.status_code == 404
    assert payment.json() == {"error": "payment_method_not_found"}


def test_the_method_links_keep_the_modal(client, invoice, methods):
    btc, eth, usdc = methods

    html = client.get(f"/i/{invoice.pk}?modal=true").content.decode()
    chosen = client.get(f"/i/{invoice.pk}?modal=true&method={eth.pk}").content.decode()

    assert [href for href, _ in method_links(html)] == [
        f"/i/{invoice.pk}?method={m.pk}&amp;modal=true" for m in (btc, eth, usdc)
    ]
    assert f'<a href="/i/{invoice.pk}?modal=true" class="change"' in chosen
    assert 'class="checkout in-modal"' in chosen


def test_payment_endpoint_answers_for_the_chosen_method_and_lists_what_is_left_on_each(client, invoice, methods):
    btc, eth, usdc = methods

    payment = client.get(f"/i/{invoice.pk}/payment?method={usdc.pk}").json()

    assert {k: v for k, v in payment.items() if k != "qr"} == {
        "method": usdc.pk,
        "currency": "USDC",
        "address": MERCHANT_ETH,
        "amount": "100.001234",
        "remaining": "100.001234",
        "payment_url": usdc.payment_url,
        "methods": [
            {"id": btc.pk, "currency": "BTC", "remaining": "0.00100000"},
            {"id": eth.pk, "currency": "ETH", "remaining": "0.050012340000000000"},
            {"id": usdc.pk, "currency": "USDC", "remaining": "100.001234"},
        ],
    }
    assert payment["qr"].startswith("<svg") and "<title>QR code to pay with USD Coin (USDC)</title>" in payment["qr"]
    assert "Bitcoin" not in payment["qr"]


def test_partial_ether_payment_asks_the_tagged_rest_on_the_page_and_the_endpoint(client, invoice, methods):
    eth = methods[1]
    payment_apply(payment_method_id=eth.pk, txid="0x" + "d" * 64, vout=0, amount=20_000_000_000_000_000)

    html = client.get(f"/i/{invoice.pk}?method={eth.pk}").content.decode()
    listed = client.get(f"/i/{invoice.pk}").content.decode()
    payment = client.get(f"/i/{invoice.pk}/payment?method={eth.pk}").json()

    # 0.03001234 ETH is left; the rest carries the request's tag (1234) again, so it is that exactly.
    rest = 30_012_340_000_000_000
    assert payment["remaining"] == "0.030012340000000000"
    assert payment["payment_url"] == eip681_uri(address=MERCHANT_ETH, units=rest, chain_id=1337)
    assert 'data-exception="paid_partial"' in html
    assert (
        'Received <strong class="mono" data-bind="sent">0.02000000</strong> <span data-bind="paid_currency">ETH</span>'
        in html
    )
    assert 'id="pay-amount" class="mono" readonly value="0.03001234"' in html
    assert f'href="{escape(payment["payment_url"])}"' in html
    assert ("Ethereum ETH 0.03001234 ETH") in [text for _, text in method_links(listed)]


def test_a_paid_invoice_shows_what_was_paid_in_the_coin_paid(client, invoice, methods):
    usdc = methods[2]
    payment_apply(payment_method_id=usdc.pk, txid="0x" + "e" * 64, vout=0, amount=USDC_UNITS)

    html = client.get(f"/i/{invoice.pk}").content.decode()

    assert 'data-view="received"' in html
    assert '<span data-bind="sent">100.001234</span> <span class="unit" data-bind="paid_currency">USDC</span>' in html
    assert "Waiting for 1 network confirmation." in html


def test_checkout_page_with_several_methods_query_budget(client, invoice, methods, django_assert_num_queries):
    eth = methods[1]
    client.get(f"/i/{invoice.pk}")

    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}").status_code == 200
    with django_assert_num_queries(1):
        assert client.get(f"/i/{invoice.pk}?method={eth.pk}").status_code == 200


def test_the_method_choice_speaks_the_buyers_language(client, invoice, methods):
    eth = methods[1]

    listed = client.get(f"/i/{invoice.pk}", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    chosen = client.get(f"/i/{invoice.pk}?method={eth.pk}", HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert "Wie möchten Sie bezahlen?" in listed
    assert "Zahlungsmethode ändern" in chosen
    assert "Senden Sie genau diesen Betrag." in chosen
    assert "QR-Code zum Bezahlen mit Ethereum (ETH)" in chosen
