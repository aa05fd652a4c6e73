"""HTTP helpers for tests: an authenticated API client, and a local receiver standing in for a
merchant's webhook endpoint."""

import json
import threading
from dataclasses import dataclass, field

from rest_framework.test import APIClient

from daemons.processes import wait_for


def bearer(client: APIClient, secret: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server standing in for a merchant's webhook endpoint."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    event: threading.Event = field(default_factory=threading.Event)

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        wait_for(lambda: len(self.requests) >= count, timeout=timeout, what=f"{count} request(s) at {self.url}")
        return self.requests
