"""Run the BTC daemon: `cd /work/main && PYTHONPATH=. /usr/bin/python3 -P -m daemons.btc`.

Debian's python3 with python3-electrum 4.3.4 (and python3-aiohttp); never the Django venv.
"""

import logging
import sys

from daemons.btc.chain import select_network
from daemons.btc.config import Settings, load_settings
from daemons.protocol.bootstrap import run, serve_daemon

logger = logging.getLogger("daemons.btc")


async def serve(settings: Settings) -> int:
    # Imported here: Electrum reads the active network (constants.net) at import time in places.
    from daemons.btc.errors import build_spec
    from daemons.btc.methods import Methods
    from daemons.btc.service import Service

    return await serve_daemon(
        settings,
        logger=logger,
        service_class=Service,
        methods_class=Methods,
        spec=build_spec(),
        begin=Service.connect,
        describe=lambda port: (
            f"BTC daemon ready on http://{settings.host}:{port} (network={settings.network}, "
            f"server={settings.server or 'auto'}, data={settings.data_path})"
        ),
    )


def configure(settings: Settings) -> None:
    # Electrum logs every subscription at INFO; keep its noise for BTC_DEBUG.
    logging.getLogger("electrum").setLevel(logging.DEBUG if settings.debug else logging.WARNING)
    select_network(settings.network)


if __name__ == "__main__":
    sys.exit(run(prog="daemon-btc", load_settings=load_settings, serve=serve, configure=configure))
