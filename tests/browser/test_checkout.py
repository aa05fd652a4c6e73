"""The checkout page in a real browser: live updates, partial payment, expiry, fallback, modal."""

import re

import pytest
from playwright.sync_api import expect

WAIT = 10_000  # ms, for anything the server pushes


def open_checkout(page, base_url, invoice_id, requests=None):
    """Open the checkout and return once its websocket is subscribed (the page then asks /status once)."""
    if requests is not None:
        page.on("requestfinished", lambda request: requests.append(request))
    with page.expect_response(re.compile(r"/status$"), timeout=WAIT):
        page.goto(f"{base_url}/i/{invoice_id}")
    page.evaluate("window.notReloaded = true")


def view(page):
    return page.locator("#checkout")


def test_checkout_goes_live_from_pending_to_paid_to_complete(page, base_url, helper, shop, pay, mine, artifacts):
    invoice = helper("invoice", store=shop["store"], price="0.001")
    requests: list = []
    sockets: list = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    open_checkout(page, base_url, invoice, requests)

    expect(view(page)).to_have_attribute("data-view", "pay")
    expect(page.locator(".amount-due .due")).to_contain_text("0.00100000 BTC")
    expect(page.locator(".qr-box svg")).to_be_visible()
    expect(page.locator("#pay-amount")).to_have_value("0.00100000")
    expect(page.locator("[data-bind=countdown]")).to_have_text(re.compile(r"^1[45]:\d\d$"))
    page.screenshot(path=artifacts / "checkout-pending.png", full_page=True)

    # Everything the page loaded came from this server, and it all fits in 100 KB.
    page.wait_for_load_state("networkidle")
    origins = {re.match(r"^\w+://[^/]+", r.url).group(0) for r in requests}
    assert origins == {base_url}, origins
    assert sockets == [f"{base_url.replace('http', 'ws')}/ws/invoices/{invoice}"]
    total = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in requests)
    assert total < 100_000, total
    (artifacts / "checkout-transfer.txt").write_text(
        "".join(f"{r.sizes()['responseBodySize']:>8} {r.url}\n" for r in requests) + f"{total:>8} total bytes\n"
    )
    status_polls = len([r for r in requests if r.url.endswith("/status")])

    pay(invoice)
    expect(view(page)).to_have_attribute("data-view", "received", timeout=WAIT)
    expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
    page.screenshot(path=artifacts / "checkout-paid.png", full_page=True)

    mine()  # the same output, now confirmed
    expect(view(page)).to_have_attribute("data-view", "complete", timeout=WAIT)
    expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    page.screenshot(path=artifacts / "checkout-complete.png", full_page=True)

    assert page.evaluate("window.notReloaded") is True
    # The changes came over the websocket, not by polling.
    assert len([r for r in requests if r.url.endswith("/status")]) == status_polls


def test_partial_payment_shows_banner_and_asks_for_the_rest(page, base_url, helper, shop, pay, artifacts):
    invoice = helper("invoice", store=shop["store"], price="0.001")
    open_checkout(page, base_url, invoice)
    banner = page.locator(".banner[data-show=partial]")
    expect(banner).to_be_hidden()

    pay(invoice, 40_000)

    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_contain_text("0.00040000")
    expect(banner).to_contain_text("0.00060000")
    expect(view(page)).to_have_attribute("data-view", "pay")
    expect(page.locator("#pay-amount")).to_have_value("0.00060000")
    # The QR code and wallet link now ask for the remaining amount only.
    expect(page.locator("a.btn.primary")).to_have_attribute("href", re.compile(r"amount=0\.00060000"), timeout=WAIT)
    page.screenshot(path=artifacts / "checkout-partial.png", full_page=True)

    pay(invoice, 60_000)
    expect(view(page)).to_have_attribute("data-view", "received", timeout=WAIT)
    expect(banner).to_be_hidden()
    expect(page.locator(".amount-paid .due")).to_have_text("0.00100000 BTC")


def test_expiry_screen_then_late_payment(page, base_url, helper, shop, pay, artifacts):
    invoice = helper("invoice", store=shop["store"], price="0.0005")
    open_checkout(page, base_url, invoice)

    assert helper("expire", invoice=invoice) == "expired"

    expect(view(page)).to_have_attribute("data-view", "expired", timeout=WAIT)
    expect(page.get_by_role("heading", name="Invoice expired")).to_be_visible()
    expect(page.locator(".qr-box")).to_be_hidden()
    page.screenshot(path=artifacts / "checkout-expired.png", full_page=True)

    # Paid anyway, inside the monitoring window: accepted as paid_late, and the buyer is told.
    pay(invoice)
    expect(view(page)).to_have_attribute("data-view", "received", timeout=WAIT)
    expect(view(page)).to_have_attribute("data-exception", "paid_late")
    expect(page.locator("[data-panel=received] [data-show=late]")).to_be_visible()
    page.screenshot(path=artifacts / "checkout-paid-late.png", full_page=True)


def test_polling_takes_over_when_the_websocket_is_dropped(page, base_url, helper, shop, pay, mine):
    invoice = helper("invoice", store=shop["store"], price="0.001")
    routes: list = []
    statuses: list = []
    page.on("request", lambda r: statuses.append(r.url) if r.url.endswith("/status") else None)

    def handle(route):
        # First connection: through to the real server. Later ones: refused, as by a server that
        # went away, so only the polling fallback can bring news.
        if not routes:
            route.connect_to_server()
        else:
            route.close(code=1011, reason="gone")
        routes.append(route)

    page.route_web_socket(re.compile(r"/ws/invoices/"), handle)
    open_checkout(page, base_url, invoice)
    routes[0].close(code=1012, reason="server restart")
    expect(page.locator("[data-bind=live]")).to_contain_text("interrupted", timeout=WAIT)

    pay(invoice)
    expect(view(page)).to_have_attribute("data-view", "received", timeout=WAIT + 5_000)
    mine()
    expect(view(page)).to_have_attribute("data-view", "complete", timeout=WAIT + 5_000)
    assert page.evaluate("window.notReloaded") is True
    assert len(statuses) >= 3  # the one after subscribing, then polls
    assert len(routes) >= 2  # it kept trying to reconnect


def test_simulate_payment_goes_live_through_the_chain(page, base_url, helper, shop, simulator, artifacts):
    """Every process real: the button pays on the simulated chain, the Electrum daemon sees it, the
    listener applies it, the page changes without a reload; one mined block completes it."""
    invoice = helper("invoice", store=shop["store"], price="0.00123")
    open_checkout(page, base_url, invoice)
    before = set(simulator.client.info()["mempool"])

    page.get_by_role("button", name="Simulate payment (sandbox)").click()

    expect(page.locator("[data-bind=simulate]")).to_contain_text("Test payment sent", timeout=WAIT)
    new = set(simulator.client.info()["mempool"]) - before
    assert len(new) == 1
    tx = simulator.client.tx(new.pop())
    assert tx["status"] == "mempool"
    assert (123_000).to_bytes(8, "little").hex() in tx["hex"]  # an output of exactly the amount due
    expect(view(page)).to_have_attribute("data-view", "received", timeout=WAIT)
    simulator.client.mine(blocks=1)
    expect(view(page)).to_have_attribute("data-view", "complete", timeout=WAIT)
    page.screenshot(path=artifacts / "checkout-complete-chain.png", full_page=True)
    assert page.evaluate("window.notReloaded") is True


def test_buyer_details_step_and_dark_mode(page, base_url, helper, shop, artifacts):
    helper("store_update", store=shop["store"], email_required=True, use_dark_mode=True)
    try:
        invoice = helper("invoice", store=shop["store"], price="0.001")
        page.goto(f"{base_url}/i/{invoice}")
        expect(view(page)).to_have_attribute("data-view", "details")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        page.screenshot(path=artifacts / "checkout-details-dark.png", full_page=True)

        page.get_by_label("E-mail").fill("buyer@example.com")
        page.get_by_role("button", name="Continue to payment").click()

        expect(view(page)).to_have_attribute("data-view", "pay")
        page.screenshot(path=artifacts / "checkout-pending-dark.png", full_page=True)
    finally:
        helper("store_update", store=shop["store"], email_required=False, use_dark_mode=False)


def test_redirects_to_the_merchant_when_paid(page, base_url, helper, shop, other_site, pay):
    invoice = helper("invoice", store=shop["store"], price="0.001", redirect_url=f"{other_site}/thanks.html")
    open_checkout(page, base_url, invoice)

    pay(invoice)

    page.wait_for_url(f"{other_site}/thanks.html", timeout=WAIT)
    expect(page.get_by_role("heading", name="Thanks for your order")).to_be_visible()


def test_modal_on_another_site_reports_status_by_post_message(
    page, base_url, helper, shop, other_site, pay, mine, artifacts
):
    invoice = helper("invoice", store=shop["store"], price="0.001")
    page.goto(f"{other_site}/host.html?invoice={invoice}")

    page.get_by_role("button", name="Pay with Bitcoin").click()

    frame = page.frame_locator("iframe[name=bitcart]")
    expect(frame.locator(".qr-box svg")).to_be_visible()
    page.wait_for_function("window.log.entered === 1", timeout=WAIT)
    page.wait_for_function("window.log.messages.some(m => m && m.status === 'pending')", timeout=WAIT)
    page.screenshot(path=artifacts / "modal-pending.png")
    # A look-alike posted by some other window must not reach the callback.
    page.evaluate("window.postMessage({invoiceId: 'forged', status: 'complete'}, '*')")

    pay(invoice)
    page.wait_for_function("window.log.messages.some(m => m && m.status === 'paid')", timeout=WAIT)
    mine()

    page.wait_for_function("window.log.messages.some(m => m && m.status === 'complete')", timeout=WAIT)
    # Exactly the page's own messages, one per status, in order; never the forged one.
    unpaid = {"exceptionStatus": "none", "sentAmount": "0", "paidCurrency": ""}
    paid = {"exceptionStatus": "none", "sentAmount": "0.00100000", "paidCurrency": "BTC"}
    assert page.evaluate("window.log.messages") == [
        "loaded",
        {"invoiceId": invoice, "status": "pending", **unpaid},
        {"invoiceId": invoice, "status": "paid", **paid},
        {"invoiceId": invoice, "status": "complete", **paid},
    ]
    expect(frame.get_by_role("heading", name="Payment complete")).to_be_visible()
    page.screenshot(path=artifacts / "modal-complete.png")

    frame.get_by_role("button", name="Close").click()
    expect(page.locator("iframe[name=bitcart]")).to_have_count(0)
    assert page.evaluate("window.log.left") == 1


@pytest.mark.parametrize("path", ["/modal/bitcart.js", "/static/bitcart/bitcart.js"])
def test_modal_script_is_served_at_both_paths(page, base_url, path):
    response = page.request.get(f"{base_url}{path}", timeout=WAIT)

    assert response.status == 200
    assert "setAdminUrlPrefix" in response.text()
