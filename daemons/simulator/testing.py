"""Start a simulator subprocess for tests and tools (pytest-independent).

    sim = start_simulator(tmp_path)
    try:
        sim.client.pay(address, 10_000)
        ... connect Electrum to f"127.0.0.1:{sim.electrum_port}:t" ...
    finally:
        sim.stop()

The simulator binds port 0 and reports the ports it got through a ready file, so parallel test runs
never race for "free" ports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from daemons.processes import terminate, wait_for
from daemons.simulator.client import SimulatorClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SimulatorProcess:
    process: subprocess.Popen[bytes]
    electrum_port: int
    control_port: int
    log_path: Path
    state_file: Path | None
    host: str = "127.0.0.1"
    client: SimulatorClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = SimulatorClient(self.control_url)

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    @property
    def electrum_server(self) -> str:
        """Electrum's --server string (plain TCP)."""
        return f"{self.host}:{self.electrum_port}:t"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        return terminate(self.process, timeout)


def start_simulator(
    directory: Path,
    *,
    state_file: Path | None = None,
    initial_blocks: int = 0,
    python: str | None = None,
    host: str = "127.0.0.1",
    electrum_port: int = 0,
    control_port: int = 0,
    batches: bool = True,
    timeout: float = 15,
) -> SimulatorProcess:
    """Spawn `python -m daemons.simulator` and wait (bounded) until both ports listen."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ready_file = directory / f"simulator-ready-{time.monotonic_ns()}.json"
    log_path = directory / "simulator.log"
    command = [
        python or sys.executable,
        "-m",
        "daemons.simulator",
        "--host",
        host,
        "--port",
        str(electrum_port),
        "--control-port",
        str(control_port),
        "--ready-file",
        str(ready_file),
        "--initial-blocks",
        str(initial_blocks),
    ]
    if state_file is not None:
        command += ["--state-file", str(state_file)]
    if not batches:
        command.append("--no-batches")
    # The project root must be importable whichever interpreter runs it (venv or Debian's python3).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> SimulatorProcess | None:
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited with {process.returncode}")
        if not ready_file.exists():
            return None
        ports = json.loads(ready_file.read_text())
        return SimulatorProcess(process, ports["electrum_port"], ports["control_port"], log_path, state_file, host=host)

    try:
        return wait_for(ready, timeout=timeout, what="the simulator's ready file", interval=0.02)
    except (TimeoutError, RuntimeError) as exc:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log_text = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"simulator did not start within {timeout}s ({exc}):\n{log_text}") from None
