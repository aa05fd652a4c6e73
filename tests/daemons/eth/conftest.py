"""A real ganache node (from npm) for the module's tests, the test ERC-20 deployed to it, and payment helpers."""

import json

import pytest
from eth_account import Account

from daemons.eth.testing import compile_token, start_daemon
from tests.evm import start_chain

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def token_artifact():
    return compile_token()


@pytest.fixture(scope="session")
def chain(tmp_path_factory, token_artifact):
    chain = start_chain(tmp_path_factory.mktemp("evm"), token_artifact, tokens=("USDT",))
    try:
        yield chain
    finally:
        chain.node.stop()


@pytest.fixture
def merchant_address():
    return Account.create().address


@pytest.fixture
def daemon(tmp_path, chain):
    handle = start_daemon(tmp_path, chain.node, tokens={"USDT": chain.usdt})
    try:
        handle.wait_for(handle.synced, what="first scan")
        yield handle
    finally:
        handle.stop()


def updates(daemon, wallet) -> list[dict]:
    return daemon.rpc("get_updates", xpub=wallet)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)
