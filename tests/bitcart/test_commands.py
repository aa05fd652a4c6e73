"""The newcomer's commands: the first-run banner and a regtest xpub for a sandbox wallet."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.chains import set_chain
from wallets.services import wallet_validate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_first_run_banner_prints_the_email_and_password_the_token_api_takes(settings):
    settings.SANDBOX = True

    banner = run("bootstrap_sandbox")

    assert re.search(r"^E-mail: +admin@example\.com ", banner, re.M)
    password = re.search(r"^Password: (\S+)$", banner, re.M).group(1)
    response = APIClient().post(
        "/api/token", {"email": "admin@example.com", "password": password, "permissions": ["full_control"]}
    )
    assert response.status_code == 200
    assert response.json()["permissions"] == ["full_control"]
    assert run("bootstrap_sandbox") == "Admin user exists; log in at /admin/ with your password.\n"


def test_sandbox_xpub_prints_a_fresh_regtest_key(settings):
    settings.SANDBOX, settings.BTC_NETWORK = True, "regtest"  # sandbox_xpub reads the bitcoin network

    first, second = run("sandbox_xpub").strip(), run("sandbox_xpub").strip()

    assert wallet_validate(currency="BTC", network="regtest", xpub=first) == first
    assert first.startswith("vpub") and first != second


def test_sandbox_xpub_refuses_outside_the_sandbox(settings):
    settings.SANDBOX, settings.BTC_NETWORK = False, "mainnet"

    with pytest.raises(CommandError, match="BTC_NETWORK is mainnet"):
        run("sandbox_xpub")


def test_supervisord_conf_output_parses_back_to_its_programs(settings, tmp_path):
    """What the fault tests rely on: the printed configuration is read back to exactly the programs
    (commands, environments, directories), a `%` included (supervisord needs it written `%%`)."""
    from bitcart.management.commands.supervisord_conf import parse, programs

    set_chain(settings, "btc", password="p%(here)s%%w")
    settings.DATA_DIR, settings.EMBEDDED_REDIS, settings.SANDBOX = tmp_path, True, True

    text = run("supervisord_conf")

    assert "environment=" in text and 'BTC_PASSWORD="p%%(here)s%%%%w"' in text
    parsed = parse(text)
    assert list(parsed) == ["redis", "simulator", "daemon-btc", "web", "worker", "beat", "listener-btc"]
    assert list(parsed.values()) == sorted(programs(), key=lambda program: program.priority)
    assert parsed["daemon-btc"].environment["BTC_PASSWORD"] == "p%(here)s%%w"
