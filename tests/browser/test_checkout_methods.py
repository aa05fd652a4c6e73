"""The buyer picks a payment method in a real browser, then pays it on a real chain: a USD invoice of a store with
a BTC and an ETH wallet is payable in BTC, ETH, USDC and USDT (the merchant's fixed rates price it); Ethereum
payments are transactions on the local EVM node, seen by the ETH daemon and brought to the page by its listener."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from coins import evm as evm_rules

WAIT = 20_000  # ms: the ETH daemon polls the node every 0.2 s, then the listener and the push
RATES = {"USD": "50000", "ETH/USD": "2500", "USDT/USD": "1.0002", "USDC/USD": "0.9998"}
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDC": "USD Coin", "USDT": "Tether USD"}


@pytest.fixture(scope="module")
def coin_shop(helper) -> dict:
    return helper("eth_setup", name="Coin Shop", rates=RATES)


def shown(method: dict) -> str:
    """How the page writes a method's amount: its coin's places, zeros past the 8th dropped."""
    value = Decimal(int(method["amount"])).scaleb(-method["decimals"])
    return f"{value:.{min(method['decimals'], 8)}f}"


def methods_of(helper, invoice: str) -> dict[str, dict]:
    return {m["currency"]: m for m in helper("payment_methods", invoice=invoice)}


def screenshots(page, artifacts, name: str) -> None:
    """Full-page screenshots at a desktop's and a phone's size; the page is left at the phone's."""
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=artifacts / f"{name}-{size}.png", full_page=True)


def open_checkout(page, url: str) -> None:
    """Open a checkout page and return once its websocket is subscribed (it then asks /status once)."""
    with page.expect_response(re.compile(r"/status$"), timeout=WAIT):
        page.goto(url)


def choice(page):
    return page.get_by_role("navigation", name="Choose how to pay")


def test_the_buyer_picks_a_coin_sees_what_to_pay_and_the_page_goes_live_when_paid(
    page, base_url, helper, coin_shop, evm, artifacts
):
    invoice = helper("invoice", store=coin_shop["store"], price="100", currency="USD")
    methods = methods_of(helper, invoice)
    assert list(methods) == ["BTC", "ETH", "USDC", "USDT"]
    eth, usdc = methods["ETH"], methods["USDC"]
    requests: list = []
    page.on("requestfinished", lambda request: requests.append(request))

    open_checkout(page, f"{base_url}/i/{invoice}")

    expect(page.locator("#checkout")).to_have_attribute("data-view", "choose")
    expect(page.locator(".amount-due .due")).to_have_text("100.00 USD")
    links = choice(page).get_by_role("link")
    expect(links).to_have_text(
        [f"{NAMES[c]} {c}{' · ERC-20' if c.startswith('USD') else ''} {shown(m)} {c}" for c, m in methods.items()]
    )
    expect(page.locator("#pay-address")).to_have_count(0)  # nowhere to pay before a coin is chosen
    page.wait_for_load_state("networkidle")
    screenshots(page, artifacts, "methods-choose")
    transfer = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in requests)
    (artifacts / "methods-transfer.txt").write_text(
        "".join(f"{r.sizes()['responseBodySize']:>8} {r.url}\n" for r in requests) + f"{transfer:>8} total bytes\n"
    )
    assert {re.match(r"^\w+://[^/]+", r.url).group(0) for r in requests} == {base_url}
    assert transfer < 100_000, transfer

    # Keyboard only: the first stop is the first coin, the second Ethereum; Enter opens it.
    page.keyboard.press("Tab")
    expect(links.first).to_be_focused()
    page.keyboard.press("Tab")
    expect(links.nth(1)).to_be_focused()
    with page.expect_response(re.compile(r"/status$"), timeout=WAIT):
        page.keyboard.press("Enter")

    expect(page).to_have_url(f"{base_url}/i/{invoice}?method={eth['id']}")
    expect(page.locator("#checkout")).to_have_attribute("data-view", "pay")
    expect(page.locator(".method-bar")).to_contain_text("Paying with Ethereum (ETH)")
    expect(page.locator(".amount-due .due")).to_have_text(f"{shown(eth)} ETH")
    expect(page.locator("#pay-amount")).to_have_value(shown(eth))
    expect(page.locator("#pay-address")).to_have_value(coin_shop["eth_address"])
    uri = f"ethereum:{coin_shop['eth_address']}@1337?value={eth['amount']}"
    assert eth["payment_url"] == uri
    expect(page.get_by_role("link", name="Open in wallet", exact=True).first).to_have_attribute("href", uri)
    expect(page.locator("a.qr-box")).to_have_attribute("href", uri)
    expect(page.locator(".qr-box svg title")).to_have_text("QR code to pay with Ethereum (ETH)")
    expect(page.locator(".note")).to_contain_text("Send exactly this amount.")
    expect(page.locator(".note")).to_contain_text("Network: Ethereum local (chain ID 1337)")
    expect(page.locator("[data-panel=pay]")).not_to_contain_text("Bitcoin")
    screenshots(page, artifacts, "methods-eth")

    # Back to the list, and a token: its transfer call on its contract, and which contract it is.
    page.get_by_role("link", name="Change payment method").click()
    expect(page.locator("#checkout")).to_have_attribute("data-view", "choose")
    choice(page).get_by_role("link", name=re.compile(r"^USD Coin")).click()
    expect(page.locator("#pay-amount")).to_have_value(shown(usdc))
    contract = evm.tokens["USDC"]
    token_uri = f"ethereum:{contract}@1337/transfer?address={coin_shop['eth_address']}&uint256={usdc['amount']}"
    expect(page.locator("a.qr-box")).to_have_attribute("href", token_uri)
    expect(page.locator(".note")).to_contain_text(f"USDC token contract: {contract[:6]}…{contract[-4:]}")
    screenshots(page, artifacts, "methods-usdc")

    open_checkout(page, f"{base_url}/i/{invoice}?method={eth['id']}")
    page.evaluate("window.notReloaded = true")
    evm.pay_eth(coin_shop["eth_address"], str(Decimal(int(eth["amount"])).scaleb(-18)))

    expect(page.locator("#checkout")).to_have_attribute("data-view", "received", timeout=WAIT)
    expect(page.locator(".amount-paid .due")).to_have_text(f"{shown(eth)} ETH")
    expect(page.get_by_text("Waiting for 2 network confirmations.")).to_be_visible()
    screenshots(page, artifacts, "methods-eth-paid")
    evm.node.mine(1)
    expect(page.locator("#checkout")).to_have_attribute("data-view", "complete", timeout=WAIT)
    assert page.evaluate("window.notReloaded") is True


def test_a_partly_paid_token_asks_the_rest_the_server_computes(page, base_url, helper, coin_shop, evm, artifacts):
    invoice = helper("invoice", store=coin_shop["store"], price="40", currency="USD")
    usdt = methods_of(helper, invoice)["USDT"]
    amount = int(usdt["amount"])
    contract = evm.tokens["USDT"]
    open_checkout(page, f"{base_url}/i/{invoice}?method={usdt['id']}")
    page.evaluate("window.notReloaded = true")

    # 15 USDT short, the tag in the last digits intact (an exchange keeping a fee): the daemon still matches it.
    first = amount - 15_000_000
    first_text = f"{Decimal(first).scaleb(-6):.6f}"
    evm.pay_token(coin_shop["eth_address"], first_text, contract=contract)

    banner = page.locator(".banner[data-show=partial]")
    expect(banner).to_be_visible(timeout=WAIT)
    expect(banner).to_contain_text(f"Received {first_text} USDT.")
    # What is left, rounded up to carry the invoice's payment tag again (or the daemon could not match it).
    rest = evm_rules.with_tag(15_000_000, evm_rules.tag_of(amount, 1, 4), 1, 4)
    assert rest == 15_000_000 + amount % 10_000
    rest_text = f"{Decimal(rest).scaleb(-6):.6f}"
    expect(page.locator("a.qr-box")).to_have_attribute("href", re.compile(rf"&uint256={rest}$"), timeout=WAIT)
    expect(page.locator("#pay-amount")).to_have_value(rest_text)
    expect(page.locator(".amount-due .due")).to_have_text(f"{rest_text} USDT")
    expect(banner).to_contain_text(f"Please send the remaining {rest_text} USDT.")
    screenshots(page, artifacts, "methods-usdt-partial")

    evm.pay_token(coin_shop["eth_address"], rest_text, contract=contract)

    expect(page.locator("#checkout")).to_have_attribute("data-view", "received", timeout=WAIT)
    expect(page.locator(".amount-paid .due")).to_have_text(f"{Decimal(first + rest).scaleb(-6):.6f} USDT")
    assert page.evaluate("window.notReloaded") is True


def test_the_choice_works_without_javascript(browser, base_url, helper, coin_shop):
    invoice = helper("invoice", store=coin_shop["store"], price="100", currency="USD")
    btc = methods_of(helper, invoice)["BTC"]
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{base_url}/i/{invoice}?modal=true")

        choice(page).get_by_role("link", name=re.compile(r"^Bitcoin")).click()

        expect(page).to_have_url(f"{base_url}/i/{invoice}?method={btc['id']}&modal=true")
        expect(page.locator("#pay-address")).to_have_value(btc["address"])
        expect(page.locator("#pay-amount")).to_have_value(shown(btc))
        expect(page.locator("a.qr-box")).to_have_attribute("href", btc["payment_url"])
        expect(page.locator(".qr-box svg")).to_be_visible()
        page.get_by_role("link", name="Change payment method").click()
        expect(page).to_have_url(f"{base_url}/i/{invoice}?modal=true")
        expect(choice(page).get_by_role("link")).to_have_count(4)
    finally:
        context.close()
