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
    return await serve_daemon(
        settings,
        logger=logger,
        service_class=Service,
        methods_class=Methods,
        spec=build_spec(),
        begin=Service.run,
        describe=lambda port: (
            f"ETH daemon ready on http://{settings.host}:{port} (network={settings.network}, "
            f"chain id={settings.chain_id}, node={redact(settings.server)}, data={settings.data_path})"
        ),
        start_errors=(RuntimeError,),  # the node's chain id does not match ETH_CHAIN_ID, or the data dir's
    )


if __name__ == "__main__":
    sys.exit(run(prog="daemon-eth", load_settings=load_settings, serve=serve))
