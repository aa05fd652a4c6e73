"""Run the ETH daemon: `ETH_SERVER=http://127.0.0.1:8545 .venv/bin/python -m daemons.eth` (the project venv)."""

import logging
import sys

from daemons.eth.chain import redact
from daemons.eth.config import Settings, load_settings
from daemons.eth.errors import build_spec
from daemons.eth.methods import Methods
from daemons.eth.service import Service
from daemons.protocol.bootstrap import run, serve_daemon

logger = logging.getLogger("daemons.eth")


async def serve(settings: Settings) -> int:
    def describe(port: int) -> None:
        logger.info(
            "ETH daemon ready on http://%s:%s (network=%s, chain id=%s, node=%s, data=%s)",
            settings.host,
            port,
            settings.network,
            settings.chain_id,
            redact(settings.server),
            settings.data_path,
        )

    return await serve_daemon(
        settings,
        logger=logger,
        create_service=lambda on_fatal: Service(settings, on_fatal=on_fatal),
        create_methods=Methods,
        spec=build_spec(),
        begin=Service.run,
        describe=describe,
        start_errors=(RuntimeError,),  # the node's chain id does not match, or the data dir's
    )


if __name__ == "__main__":
    sys.exit(run(prog="daemon-eth", load_settings=load_settings, serve=serve))
