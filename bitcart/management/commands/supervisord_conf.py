"""Print the supervisord configuration for this machine, generated from settings.

`make run` writes it to data/supervisord.conf; nobody edits it by hand.
"""

import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand

from bitcart import embedded_redis


def program(
    name: str,
    command: list[str],
    *,
    directory: Path,
    environment: dict[str, str] | None = None,
    stopwaitsecs: int = 15,
    priority: int = 100,
) -> str:
    lines = [
        f"[program:{name}]",
        f"command={shlex.join(command)}",
        f"directory={directory}",
        "autostart=true",
        "autorestart=true",
        "startsecs=2",
        "startretries=100",
        "stopsignal=TERM",
        f"stopwaitsecs={stopwaitsecs}",
        "stopasgroup=true",
        "killasgroup=true",
        f"priority={priority}",
        "redirect_stderr=true",
        "stdout_logfile=/dev/stdout",
        "stdout_logfile_maxbytes=0",
    ]
    if environment:
        env = ",".join(f'{key}="{value}"' for key, value in environment.items())
        lines.append(f"environment={env}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Print the supervisord configuration (web, worker, beat, daemon, listener, sandbox services)."

    def handle(self, *args, **options) -> None:
        base = Path(settings.BASE_DIR)
        data = Path(settings.DATA_DIR)
        venv_bin = Path(sys.executable).parent
        python = str(venv_bin / "python")
        sections = [
            "\n".join(
                [
                    "[supervisord]",
                    "nodaemon=true",
                    f"logfile={data / 'supervisord.log'}",
                    f"pidfile={data / 'supervisord.pid'}",
                    "loglevel=info",
                    "",
                    "[unix_http_server]",
                    f"file={data / 'supervisor.sock'}",
                    "chmod=0700",
                    "",
                    "[rpcinterface:supervisor]",
                    "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface",
                    "",
                    "[supervisorctl]",
                    f"serverurl=unix://{data / 'supervisor.sock'}",
                ]
            )
        ]
        if settings.EMBEDDED_REDIS:
            sections.append(
                program(
                    "redis",
                    embedded_redis.command(settings.EMBEDDED_REDIS_PORT, data / "redis"),
                    directory=data,
                    priority=10,
                )
            )
            (data / "redis").mkdir(parents=True, exist_ok=True)
        sections.append(
            program(
                "web",
                [
                    str(venv_bin / "uvicorn"),
                    "bitcart.asgi:application",
                    "--host",
                    settings.WEB_HOST,
                    "--port",
                    str(settings.WEB_PORT),
                    "--workers",
                    str(settings.WEB_WORKERS),
                    "--proxy-headers",
                    "--no-access-log",
                ],
                directory=base,
                priority=50,
            )
        )
        sections.append(
            program(
                "worker",
                [
                    str(venv_bin / "celery"),
                    "-A",
                    "bitcart",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--without-gossip",
                    "--without-mingle",
                ],
                directory=base,
                priority=50,
                stopwaitsecs=30,
            )
        )
        sections.append(
            program(
                "beat",
                [
                    str(venv_bin / "celery"),
                    "-A",
                    "bitcart",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(data / "celerybeat-schedule"),
                ],
                directory=base,
                priority=50,
            )
        )
        daemon_url = urlsplit(settings.BTC_DAEMON_URL)
        daemon_env = {
            # `python3 -P` drops the working directory from sys.path; the daemon package is here.
            "PYTHONPATH": str(base),
            "BTC_NETWORK": settings.BTC_NETWORK,
            "BTC_HOST": daemon_url.hostname or "127.0.0.1",
            "BTC_PORT": str(daemon_url.port or 5000),
            "BTC_LOGIN": settings.BTC_LOGIN,
            "BTC_DATA_PATH": str(data / "daemon-btc"),
        }
        if settings.BTC_PASSWORD:
            daemon_env["BTC_PASSWORD"] = settings.BTC_PASSWORD
        if settings.SANDBOX:
            daemon_env["BTC_SERVER"] = f"{settings.SIMULATOR_HOST}:{settings.SIMULATOR_PORT}:t"
            daemon_env["BTC_ONESERVER"] = "true"
            sections.append(
                program(
                    "simulator",
                    [
                        python,
                        "-m",
                        "daemons.simulator",
                        "--host",
                        settings.SIMULATOR_HOST,
                        "--port",
                        str(settings.SIMULATOR_PORT),
                        "--control-port",
                        str(settings.SIMULATOR_CONTROL_PORT),
                        "--state-file",
                        str(data / "simulator-chain.json"),
                    ],
                    directory=base,
                    priority=20,
                )
            )
        elif settings.BTC_SERVER:
            daemon_env["BTC_SERVER"] = settings.BTC_SERVER
        sections.append(
            program(
                "daemon-btc",
                ["/usr/bin/python3", "-P", "-m", "daemons.btc"],
                directory=base,
                environment=daemon_env,
                priority=30,
                stopwaitsecs=30,
            )
        )
        sections.append(
            program(
                "listener",
                [python, "manage.py", "listen"],
                directory=base,
                priority=60,
            )
        )
        self.stdout.write("\n\n".join(sections) + "\n")
