from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from bitcart import embedded_redis
from stores.models import Store
from wallets.keys import generate_xpub
from wallets.models import Wallet


@pytest.fixture(scope="session", autouse=True)
def _sqlite_test_files():
    """Django deletes the SQLite test database file but not its WAL/SHM companions."""
    yield
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def _redis_server():
    """CI points REDIS_URL at a real Redis; locally the embedded one is started for the run."""
    process = None
    if settings.EMBEDDED_REDIS:
        process = embedded_redis.ensure_running(settings.EMBEDDED_REDIS_PORT, settings.DATA_DIR / "test-redis")
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def merchant(django_user_model):
    return django_user_model.objects.create_user(
        username="merchant", email="merchant@example.com", password="correct horse battery", is_staff=True
    )


@pytest.fixture
def other_merchant(django_user_model):
    return django_user_model.objects.create_user(
        username="other", email="other@example.com", password="correct horse battery", is_staff=True
    )


@pytest.fixture
def wallet(merchant):
    return Wallet.objects.create(
        name="Main", owner=merchant, currency="BTC", network="regtest", xpub=generate_xpub("regtest")
    )


@pytest.fixture
def store(merchant, wallet):
    store = Store.objects.create(name="Shop", owner=merchant, default_currency="BTC", underpaid_percentage=Decimal("0"))
    store.wallets.add(wallet)
    return store
