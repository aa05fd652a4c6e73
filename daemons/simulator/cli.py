"""Command line for the simulator's control port.

python -m daemons.simulator.cli [--url URL] pay ADDRESS AMOUNT_BTC | pay ADDRESS --sat N
python -m daemons.simulator.cli mine [N] [--address ADDRESS]
python -m daemons.simulator.cli drop TXID
python -m daemons.simulator.cli reorg [DEPTH] [--blocks N] [--to-mempool] [--drop-tx TXID ...]
python -m daemons.simulator.cli tx TXID
python -m daemons.simulator.cli info

The URL comes from --url, else $SIMULATOR_CONTROL_URL, else http://127.0.0.1:51002.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal, InvalidOperation

from daemons.simulator.client import DEFAULT_CONTROL_URL, SimulatorClient, SimulatorError, SimulatorUnavailable
from daemons.simulator.primitives import COIN


def btc_to_sat(text: str) -> int:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    sats = amount * COIN
    if not amount.is_finite() or sats != sats.to_integral_value() or sats <= 0:
        raise argparse.ArgumentTypeError(f"{text} BTC is not a positive whole number of satoshis")
    return int(sats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m daemons.simulator.cli", description="Drive the regtest simulator")
    parser.add_argument("--url", default=os.environ.get("SIMULATOR_CONTROL_URL", DEFAULT_CONTROL_URL))
    parser.add_argument("--timeout", type=float, default=10)
    commands = parser.add_subparsers(dest="command", required=True)

    pay = commands.add_parser("pay", help="pay an address from a fake coin (unconfirmed until mined)")
    pay.add_argument("address")
    pay.add_argument("amount_btc", nargs="?", type=btc_to_sat, help="amount in BTC, e.g. 0.001")
    pay.add_argument("--sat", type=int, help="amount in satoshis instead of BTC")

    mine = commands.add_parser("mine", help="mine blocks including the whole mempool")
    mine.add_argument("blocks", nargs="?", type=int, default=1)
    mine.add_argument("--address", help="coinbase reward address")

    drop = commands.add_parser("drop", help="remove an unconfirmed tx (and its descendants) from the mempool")
    drop.add_argument("txid")

    reorg = commands.add_parser("reorg", help="replace the last blocks")
    reorg.add_argument("depth", nargs="?", type=int, default=1)
    reorg.add_argument("--blocks", type=int, help="length of the new branch (default: depth)")
    reorg.add_argument("--to-mempool", action="store_true", help="return the reorged txs to the mempool")
    reorg.add_argument("--drop-tx", action="append", default=[], help="make this tx vanish (repeatable)")

    tx = commands.add_parser("tx", help="status of a transaction")
    tx.add_argument("txid")

    commands.add_parser("info", help="height, tip and mempool")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    client = SimulatorClient(args.url, timeout=args.timeout)
    try:
        if args.command == "pay":
            if (args.amount_btc is None) == (args.sat is None):
                parser.error("give either AMOUNT_BTC or --sat N")
            result = client.pay(args.address, args.sat if args.sat is not None else args.amount_btc)
        elif args.command == "mine":
            result = client.mine(args.blocks, args.address)
        elif args.command == "drop":
            result = client.drop(args.txid)
        elif args.command == "reorg":
            result = client.reorg(args.depth, keep_txs=not args.to_mempool, drop_txids=args.drop_tx, blocks=args.blocks)
        elif args.command == "tx":
            result = client.tx(args.txid)
        else:
            result = client.info()
    except SimulatorUnavailable as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 3
    except SimulatorError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
