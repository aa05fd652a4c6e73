"""python -m daemons.simulator --host 127.0.0.1 --port 51001 --control-port 51002 [--state-file PATH]"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from daemons.simulator.chain import MAX_BLOCKS_PER_CALL, Chain, StateFileError
from daemons.simulator.control import ControlServer
from daemons.simulator.server import ElectrumServer

logger = logging.getLogger("daemons.simulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m daemons.simulator", description="Regtest chain simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=51001, help="Electrum protocol port (0: pick a free one)")
    parser.add_argument("--control-port", type=int, default=51002, help="HTTP control port (0: pick a free one)")
    parser.add_argument("--state-file", type=Path, help="append-only chain log; restored on start")
    parser.add_argument(
        "--initial-blocks",
        type=int,
        default=0,
        help="blocks to mine when the chain is only the genesis (e.g. 101 like a fresh bitcoind regtest)",
    )
    parser.add_argument(
        "--no-batches",
        action="store_true",
        help="refuse JSON-RPC batch requests, like an Electrum server without batch support (tests a fallback)",
    )
    parser.add_argument("--ready-file", type=Path, help="write {electrum_port, control_port, pid} here once listening")
    parser.add_argument("--log-level", default=os.environ.get("SIMULATOR_LOG_LEVEL", "INFO"))
    return parser.parse_args(argv)


def _write_ready_file(path: Path, electrum_port: int, control_port: int) -> None:
    # Atomic, so a poller never reads half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"electrum_port": electrum_port, "control_port": control_port, "pid": os.getpid()}))
    os.replace(tmp, path)


async def serve(args: argparse.Namespace) -> None:
    chain = Chain(args.state_file)
    if chain.height == 0 and args.initial_blocks > 0:
        chain.mine(min(args.initial_blocks, MAX_BLOCKS_PER_CALL))
        chain.take_changes()
    electrum = ElectrumServer(chain, batches=not args.no_batches)
    control = ControlServer(chain, electrum)
    electrum_port = await electrum.start(args.host, args.port)
    control_port = await control.start(args.host, args.control_port)
    logger.info(
        "regtest simulator: electrum %s:%d:t, control http://%s:%d, height %d",
        args.host,
        electrum_port,
        args.host,
        control_port,
        chain.height,
    )
    if args.ready_file:
        _write_ready_file(args.ready_file, electrum_port, control_port)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    # Every operation is already on disk (appended per call), so stopping only closes sockets.
    logger.info("stopping at height %d", chain.height)
    await control.close()
    await electrum.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except StateFileError as exc:
        logger.error("cannot restore %s: %s (move it away to start a fresh chain)", args.state_file, exc)
        return 2
    except OSError as exc:
        logger.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
