"""The `bitcart` SDK from PyPI, in a venv of its own.

The SDK's import name `bitcart` clashes with this project's package, so it lives in its own venv
(`.venv-sdk` in the project, created on first use) and runs in a subprocess whose cwd is outside the
project. Shared by the BTC and ETH daemons' SDK tests.
"""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SDK_VENV = PROJECT_ROOT / ".venv-sdk"
SDK_PYTHON = SDK_VENV / "bin" / "python"


def sdk_python(workdir: Path) -> Path:
    check = (
        subprocess.run([SDK_PYTHON, "-c", "import bitcart.coins.btc"], cwd=workdir, capture_output=True, timeout=60)
        if SDK_PYTHON.exists()
        else None
    )
    if check is not None and check.returncode == 0:
        return SDK_PYTHON
    subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True, timeout=120)
    install = subprocess.run(
        [SDK_PYTHON, "-m", "pip", "install", "-q", "bitcart"], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    if install.returncode != 0:
        # An unreachable registry is an install error like any other: the test fails, it is not skipped.
        output = install.stdout + install.stderr
        raise AssertionError(f"pip install bitcart failed:\n{output[-3000:]}")
    return SDK_PYTHON


@dataclass(frozen=True)
class SdkRunner:
    """Runs a script with the SDK's python against a daemon (a daemons.protocol.testing.DaemonProcess)."""

    workdir: Path
    python: Path

    def run(self, script: str, daemon, env: dict[str, str], *, timeout: float) -> dict:
        """The script gets DAEMON_URL/LOGIN/PASSWORD plus `env`, and prints one JSON line last: that, parsed."""
        path = self.workdir / "sdk_check.py"
        path.write_text(script)
        full_env = {
            "PATH": "/usr/bin:/bin",
            "DAEMON_URL": daemon.url,
            "DAEMON_LOGIN": daemon.login,
            "DAEMON_PASSWORD": daemon.password,
            **env,
        }
        run = subprocess.run(
            [self.python, str(path)], cwd=self.workdir, env=full_env, capture_output=True, text=True, timeout=timeout
        )
        assert run.returncode == 0, run.stderr[-3000:] + daemon.log()[-2000:]
        return json.loads(run.stdout.strip().splitlines()[-1])


def sdk_runner(tmp_path: Path) -> SdkRunner:
    """The SDK's venv made (or checked) and a work dir outside the project, before any daemon starts."""
    workdir = tmp_path / "sdk"
    workdir.mkdir()
    return SdkRunner(workdir, sdk_python(workdir))
