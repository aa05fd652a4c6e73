"""Daemon settings (daemons/btc/config.py is stdlib-only, so it is tested in-process)."""

import stat

import pytest

from daemons.btc.config import ConfigError, load_settings


def test_defaults_are_bitcart_like_and_loopback(tmp_path):
    settings = load_settings({"BTC_DATA_PATH": str(tmp_path), "BTC_PASSWORD": "secret"})
    assert (settings.network, settings.host, settings.port, settings.login) == (
        "mainnet",
        "127.0.0.1",
        5000,
        "electrum",
    )
    assert (settings.server, settings.oneserver, settings.debug) == ("", False, False)
    assert settings.password == "secret"
    assert not (tmp_path / "password").exists()  # an explicit password is never written to disk


def test_missing_password_is_generated_once_into_the_data_dir(tmp_path):
    first = load_settings({"BTC_DATA_PATH": str(tmp_path)})
    path = tmp_path / "password"
    assert path.read_text().strip() == first.password
    assert len(first.password) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings({"BTC_DATA_PATH": str(tmp_path)}).password == first.password


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BTC_NETWORK": "signet"}, "BTC_NETWORK"),
        ({"BTC_PORT": "http"}, "not a number"),
        ({"BTC_PORT": "70000"}, "BTC_PORT"),
    ],
)
def test_bad_settings_are_refused(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({"BTC_DATA_PATH": str(tmp_path), "BTC_PASSWORD": "x", **env})
