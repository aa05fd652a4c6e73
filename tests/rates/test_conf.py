import logging

from rates import conf


def test_cryptos_default_to_btc(settings):
    del settings.RATES_CRYPTOS  # the autouse fixture sets it; here the default is what is tested
    assert conf.cryptos() == ("BTC",)


def test_cryptos_from_a_comma_list(settings, caplog):
    settings.RATES_CRYPTOS = " eth, BTC,,usdc,ETH,doge "
    with caplog.at_level(logging.ERROR, logger="rates"):
        assert conf.cryptos() == ("ETH", "BTC", "USDC")
    assert "RATES_CRYPTOS names unknown crypto(s) ['DOGE']; known: BTC, ETH, USDT, USDC" in caplog.text
