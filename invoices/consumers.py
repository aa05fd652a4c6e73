from channels.generic.websocket import AsyncJsonWebsocketConsumer


def invoice_group(invoice_id: str) -> str:
    return f"invoice_{invoice_id}"


class InvoiceConsumer(AsyncJsonWebsocketConsumer):
    """Push-only: the checkout page listens for its invoice's status; nothing is read from it."""

    async def connect(self) -> None:
        self.group = invoice_group(self.scope["url_route"]["kwargs"]["invoice_id"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def invoice_update(self, event: dict) -> None:
        await self.send_json(event["data"])
