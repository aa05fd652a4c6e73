"""The store and POS pages in a real browser, through to a paid checkout."""

import re

from playwright.sync_api import expect

WAIT = 10_000


def test_buy_two_products_and_complete_the_purchase(page, base_url, helper, shop, pay, mine, artifacts):
    sticker, shirt, hidden = shop["products"]
    stock_before = helper("product_quantity", product=shirt)
    page.goto(f"{base_url}/s/{shop['store']}")

    expect(page.get_by_role("heading", name="Sticker pack")).to_be_visible()
    expect(page.get_by_role("heading", name="Hidden")).to_have_count(0)  # inactive products are not sold
    page.locator(f"#qty_{sticker}").fill("2")
    page.locator(f"#qty_{shirt}").fill("1")
    expect(page.locator("[data-total]")).to_have_text("0.00070000")
    page.screenshot(path=artifacts / "store.png", full_page=True)

    page.get_by_role("button", name="Check out").click()

    page.wait_for_url(re.compile(r"/i/\w+$"), timeout=WAIT)
    invoice = page.url.rsplit("/", 1)[1]
    assert helper("latest_invoice", store=shop["store"]) == {
        "id": invoice,
        "price": "0.0007",
        "products": {sticker: 2, shirt: 1},
    }
    expect(page.locator(".amount-due .due")).to_have_text("0.00070000 BTC")
    page.locator("details.items summary").click()
    expect(page.locator("details.items")).to_contain_text("2 × Sticker pack")

    pay(invoice)
    expect(page.locator("#checkout")).to_have_attribute("data-view", "received", timeout=WAIT)
    mine()
    expect(page.locator("#checkout")).to_have_attribute("data-view", "complete", timeout=WAIT)
    assert helper("product_quantity", product=shirt) == stock_before - 1


def test_store_shows_service_errors_to_the_buyer(page, base_url, shop):
    sticker = shop["products"][0]
    page.goto(f"{base_url}/s/{shop['store']}")
    page.locator(f"#qty_{sticker}").fill("1")
    page.get_by_label("Promo code").fill("NOSUCHCODE")

    page.get_by_role("button", name="Check out").click()

    expect(page.get_by_role("alert")).to_have_text("This promocode is not valid")
    expect(page.locator(f"#qty_{sticker}")).to_have_value("1")  # the cart is kept


def test_pos_keypad_charges_a_custom_amount(page, base_url, shop, artifacts):
    page.goto(f"{base_url}/s/{shop['store']}/pos")
    for key in ["0", ".", "0", "0", "2", "5"]:
        page.locator(f"[data-key='{key}']").click()
    expect(page.get_by_label("Amount (BTC)")).to_have_value("0.0025")
    page.screenshot(path=artifacts / "pos.png", full_page=True)

    page.get_by_role("button", name="Charge").click()

    page.wait_for_url(re.compile(r"/i/\w+$"), timeout=WAIT)
    expect(page.locator(".amount-due .due")).to_have_text("0.00250000 BTC")
