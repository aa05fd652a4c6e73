"""Print the supervisord configuration for this machine, generated from settings.

`make run` writes it to data/supervisord.conf; nobody edits it by hand. The program definitions are
data (`programs()`), rendered to supervisord's format by `render()` and read back by `parse()`: the
fault tests start each program from this command's output exactly as supervisord would (command,
environment on top of its own, working directory), so the configuration users run is the one tested.
"""

import configparser
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bitcart import embedded_redis


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    directory: Path
    environment: dict[str, str] = field(default_factory=dict)
    stopwaitsecs: int = 15
    priority: int = 100
    autorestart: bool = True  # supervisord starts it again whenever it exits


# One KEY="value" of an environment= line (render never writes a double quote inside a value).
_ENV_ITEM = re.compile(r'(\w+)="([^"]*)"')


def _escape(value: str) -> str:
    # supervisord expands %(name)s in commands and environments: a literal % is written %%.
    return value.replace("%", "%%")


def render_program(program: Program) -> str:
    lines = [
        f"[program:{program.name}]",
        f"command={_escape(shlex.join(program.command))}",
        f"directory={program.directory}",
        "autostart=true",
        f"autorestart={str(program.autorestart).lower()}",
        "startsecs=2",
        "startretries=100",
        "stopsignal=TERM",
        f"stopwaitsecs={program.stopwaitsecs}",
        "stopasgroup=true",
        "killasgroup=true",
        f"priority={program.priority}",
        "redirect_stderr=true",
        "stdout_logfile=/dev/stdout",
        "stdout_logfile_maxbytes=0",
    ]
    if program.environment:
        env = ",".join(f'{key}="{_escape(value)}"' for key, value in program.environment.items())
        lines.append(f"environment={env}")
    return "\n".join(lines)


def render(programs: list[Program], *, data: Path) -> str:
    header = "\n".join(
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
    return "\n\n".join([header, *(render_program(p) for p in programs)]) + "\n"


def parse(text: str) -> dict[str, Program]:
    """The programs of a rendered configuration, by name, in supervisord's start order (priority)."""
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    found = []
    for section in parser.sections():
        if not section.startswith("program:"):
            continue
        options = parser[section]
        environment = {
            key: value.replace("%%", "%") for key, value in _ENV_ITEM.findall(options.get("environment", ""))
        }
        found.append(
            Program(
                name=section.removeprefix("program:"),
                command=shlex.split(options["command"].replace("%%", "%")),
                directory=Path(options["directory"]),
                environment=environment,
                stopwaitsecs=int(options.get("stopwaitsecs", "10")),
                priority=int(options.get("priority", "999")),
                autorestart=options.get("autorestart", "unexpected") == "true",
            )
        )
    return {p.name: p for p in sorted(found, key=lambda p: p.priority)}


def programs() -> list[Program]:
    """Every process this machine runs, from settings (ports, data directory, network, sandbox)."""
    base = Path(settings.BASE_DIR)
    data = Path(settings.DATA_DIR)
    venv_bin = Path(sys.executable).parent
    python = str(venv_bin / "python")
    found: list[Program] = []
    if settings.EMBEDDED_REDIS:
        found.append(
            Program(
                "redis",
                embedded_redis.command(settings.EMBEDDED_REDIS_PORT, data / "redis"),
                directory=data,
                priority=10,
            )
        )
    found.append(
        Program(
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
    found.append(
        Program(
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
    found.append(
        Program(
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
    if "btc" in settings.BITCART_CRYPTOS:
        found += _bitcoin_programs(settings.COINS["btc"], base=base, data=data, python=python)
    if "eth" in settings.BITCART_CRYPTOS:
        found += _ethereum_programs(settings.COINS["eth"], base=base, data=data, python=python)
    # One listener per enabled chain: a chain whose daemon is down holds up no other chain's invoices.
    found += [
        Program(f"listener-{key}", [python, "manage.py", "listen", "--chain", key], directory=base, priority=60)
        for key in settings.BITCART_CRYPTOS
    ]
    return found


def _daemon_env(key: str, conf: dict, *, data: Path, default_port: int) -> dict[str, str]:
    prefix = key.upper()
    url = urlsplit(conf["daemon_url"])
    env = {
        f"{prefix}_NETWORK": conf["network"],
        f"{prefix}_HOST": url.hostname or "127.0.0.1",
        f"{prefix}_PORT": str(url.port or default_port),
        f"{prefix}_LOGIN": conf["login"],
        f"{prefix}_DATA_PATH": str(data / f"daemon-{key}"),
    }
    if conf["password"]:
        env[f"{prefix}_PASSWORD"] = conf["password"]
    return env


def _bitcoin_programs(conf: dict, *, base: Path, data: Path, python: str) -> list[Program]:
    found = []
    daemon_env = {
        # `python3 -P` drops the working directory from sys.path; the daemon package is here.
        "PYTHONPATH": str(base),
        **_daemon_env("btc", conf, data=data, default_port=5000),
    }
    if settings.SANDBOX:
        daemon_env["BTC_SERVER"] = f"{settings.SIMULATOR_HOST}:{settings.SIMULATOR_PORT}:t"
        daemon_env["BTC_ONESERVER"] = "true"
        found.append(
            Program(
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
    elif conf["server"]:
        daemon_env["BTC_SERVER"] = conf["server"]
    found.append(
        Program(
            "daemon-btc",
            ["/usr/bin/python3", "-P", "-m", "daemons.btc"],
            directory=base,
            environment=daemon_env,
            priority=30,
            stopwaitsecs=30,
        )
    )
    return found


def _ethereum_programs(conf: dict, *, base: Path, data: Path, python: str) -> list[Program]:
    """The ETH daemon (daemons/eth, from the project venv: it uses web3) over the node at ETH_SERVER."""
    if not conf["server"]:
        raise CommandError("ETH is enabled (BITCART_CRYPTOS) but ETH_SERVER, the Ethereum node's RPC URL, is not set")
    env = {**_daemon_env("eth", conf, data=data, default_port=5002), "ETH_SERVER": conf["server"]}
    if conf["chain_id"]:
        env["ETH_CHAIN_ID"] = str(conf["chain_id"])
    if conf["tokens"]:
        env["ETH_TOKENS"] = conf["tokens"]
    env["ETH_TAG_DIGITS"] = str(conf["tag_digits"])
    return [
        Program(
            "daemon-eth",
            [python, "-m", "daemons.eth"],
            directory=base,
            environment=env,
            priority=30,
            stopwaitsecs=30,
        )
    ]


class Command(BaseCommand):
    help = "Print the supervisord configuration (web, worker, beat, daemon, listener, sandbox services)."

    def handle(self, *args, **options) -> None:
        data = Path(settings.DATA_DIR)
        if settings.EMBEDDED_REDIS:
            (data / "redis").mkdir(parents=True, exist_ok=True)
        self.stdout.write(render(programs(), data=data), ending="")
