"""The regtest chain simulator: an Electrum-protocol server that plays the Bitcoin regtest network.

Stdlib only and free of Django imports, so it runs under the project venv and under Debian's python3.

    python -m daemons.simulator --host 127.0.0.1 --port 51001 --control-port 51002 --state-file data/sim.jsonl
    python -m daemons.simulator.cli pay bcrt1q... 0.001 && python -m daemons.simulator.cli mine 1

primitives.py (encodings), chain.py (state + persistence), server.py (Electrum protocol),
control.py (HTTP control port), client.py / cli.py (drive it), testing.py (start one for tests).
"""
