"""Daemon clients for the chain tests: the real client, talking to the real daemon, with a knob."""

from daemons.client import AddressOutputs, DaemonClient


class BudgetClient(DaemonClient):
    """The real client and daemon; the first `starved` calls give the daemon no time (budget 0), so
    whatever it has to ask the server for comes back `pending`."""

    def __init__(self, daemon_client: DaemonClient, starved: int):
        super().__init__(daemon_client.url, login=daemon_client.auth[0], password=daemon_client.auth[1])
        self.starved = starved
        self.answers: list[AddressOutputs] = []

    def get_address_outputs(self, *, xpub: str, addresses: list[str], budget: float | None = None) -> AddressOutputs:
        if len(self.answers) < self.starved:
            budget = 0
        answer = super().get_address_outputs(xpub=xpub, addresses=addresses, budget=budget)
        self.answers.append(answer)
        return answer
