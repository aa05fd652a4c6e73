"""Test harness: the local EVM node (ganache from npm), the test ERC-20, and the ETH daemon as subprocesses.

    install_node()                       # npm ci in daemons/eth/node (bounded), once
    node = start_evm_node(tmp_path)      # ganache on a free loopback port, no outbound connections
    token = deploy_token(node, "USDT", 6)
    daemon = start_daemon(tmp_path, node, tokens={"USDT": token.address})
    ...
    daemon.stop(); node.stop()

Loopback only: ganache binds 127.0.0.1, forks nothing (the only code path that dials out), and npm's update
notifier is off (daemons/eth/node/.npmrc). `EvmNode.remote_peers()` lists any non-loopback TCP peer of the
node's process, so tests can check that.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemons.processes import terminate
from daemons.protocol import testing as protocol_testing
from daemons.protocol.testing import DaemonRPCError as DaemonRPCError  # the tests import it from here
from daemons.protocol.testing import start_daemon_process

NODE_DIR = Path(__file__).resolve().parent / "node"
GANACHE_CLI = NODE_DIR / "node_modules" / "ganache" / "dist" / "node" / "cli.js"
CHAIN_ID = 1337
NPM_TIMEOUT = 600


def install_node() -> None:
    """`npm ci` from the committed package-lock.json unless node_modules already matches it."""
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if marker.exists() and GANACHE_CLI.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        check=True,
        timeout=NPM_TIMEOUT,
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 10) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read())
    if "error" in data:
        raise RuntimeError(f"{method}: {data['error']}")
    return data["result"]


@dataclass
class EvmNode:
    process: subprocess.Popen
    port: int
    keys: dict[str, str]  # checksummed address -> private key (ganache's deterministic accounts)
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, *params: Any) -> Any:
        return rpc_call(self.url, method, list(params))

    def mine(self, blocks: int = 1) -> int:
        for _ in range(blocks):
            self.call("evm_mine")
        return int(self.call("eth_blockNumber"), 16)

    def snapshot(self) -> str:
        return self.call("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        return self.call("evm_revert", snapshot_id)

    def remote_peers(self) -> list[str]:
        """Peers of the node process's TCP sockets that are not on the loopback (should be none)."""
        inodes = set()
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        peers = []
        for table, width in (("tcp", 8), ("tcp6", 32)):
            for line in Path(f"/proc/{self.process.pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                remote_hex, inode = fields[2].split(":")[0], fields[9]
                if inode not in inodes or int(remote_hex, 16) == 0:
                    continue  # another process's socket, or a listening one
                if width == 8:
                    loopback = bytes.fromhex(remote_hex)[::-1][0] == 127
                else:
                    raw = bytes.fromhex(remote_hex)
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    loopback = words == bytes(15) + b"\x01" or (
                        words[:12] == bytes(10) + b"\xff\xff" and words[12] == 127
                    )
                if not loopback:
                    peers.append(remote_hex)
        return peers

    def stop(self, timeout: float = 10) -> int:
        return terminate(self.process, timeout)


def start_evm_node(directory: Path, *, timeout: float = 60, attempts: int = 3) -> EvmNode:
    """ganache on a free 127.0.0.1 port with deterministic accounts; waits (bounded) for eth_chainId."""
    install_node()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "ganache.log"
    keys_path = directory / "ganache-keys.json"
    for _ in range(attempts):
        port = free_port()
        keys_path.unlink(missing_ok=True)
        args = [
            "node",
            str(GANACHE_CLI),
            "--server.host=127.0.0.1",
            f"--server.port={port}",
            f"--chain.chainId={CHAIN_ID}",
            "--wallet.deterministic=true",
            "--wallet.totalAccounts=5",
            f"--wallet.accountKeysPath={keys_path}",
            "--miner.instamine=eager",
            "--logging.quiet=true",
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(args, cwd=NODE_DIR, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if int(rpc_call(f"http://127.0.0.1:{port}", "eth_chainId", timeout=2), 16) == CHAIN_ID:
                    keys = json.loads(keys_path.read_text())["private_keys"]
                    from eth_utils import to_checksum_address

                    return EvmNode(process, port, {to_checksum_address(a): k for a, k in keys.items()}, log_path)
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(0.1)
        terminate(process, 5)
    raise RuntimeError(f"EVM node did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def compile_token() -> dict:
    """{abi, bytecode, compiler} of node/contracts/TestToken.sol, compiled by the pinned solc-js."""
    install_node()
    out = subprocess.run(["node", "compile.js"], cwd=NODE_DIR, check=True, timeout=120, capture_output=True)
    return json.loads(out.stdout)


class DaemonProcess(protocol_testing.DaemonProcess):
    def synced(self, height: int | None = None) -> bool:
        tip = self.rpc("get_tip")
        return bool(tip["synchronized"] and (height is None or tip["cursor"] >= height))


def start_daemon(
    directory: Path,
    node: EvmNode | None = None,
    *,
    server: str | None = None,
    tokens: dict[str, str] | None = None,
    login: str = "bitcart",
    password: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30,
) -> DaemonProcess:
    """`python -m daemons.eth` on a free port (ready file), data dir `directory/daemon-eth`.

    `tokens` maps symbol -> contract (6 decimals, like USDT/USDC). Starting again with the same directory reuses
    the data dir: a restart.
    """
    env = {
        "ETH_SERVER": server or (node.url if node else ""),
        "ETH_NETWORK": "local",
        "ETH_CHAIN_ID": str(CHAIN_ID),
        "ETH_POLL_INTERVAL": "0.2",
        "ETH_RPC_TIMEOUT": "5",
        "ETH_TOKENS": json.dumps({s: {"contract": c, "decimals": 6} for s, c in (tokens or {}).items()}),
    }
    return start_daemon_process(
        directory,
        prefix="ETH",
        command=[sys.executable, "-m", "daemons.eth"],
        env={**env, **(extra_env or {})},
        login=login,
        password=password or secrets.token_urlsafe(16),
        timeout=timeout,
        handle=DaemonProcess,
    )
