from django.db import models

from bitcart.models import UlidField, UnitsField, money_field


class InvoiceStatus(models.TextChoices):
    PENDING = "pending"
    PAID = "paid"
    CONFIRMED = "confirmed"
    COMPLETE = "complete"
    EXPIRED = "expired"
    INVALID = "invalid"
    REFUNDED = "refunded"


class ExceptionStatus(models.TextChoices):
    NONE = "none"
    PAID_PARTIAL = "paid_partial"
    PAID_OVER = "paid_over"
    PAID_LATE = "paid_late"
    FAILED_CONFIRM = "failed_confirm"


class StockState(models.TextChoices):
    """What an invoice holds of its products' limited stock (unlimited products are never counted)."""

    NONE = "none"  # nothing to hold: no product line had limited stock when the invoice was created
    HELD = "held"  # taken out of stock (on creation, or again when a late payment arrived)
    RELEASED = "released"  # given back on expiry or invalidation (or never taken: invoices made before stock
    # was reserved on creation, which take it when paid, as they used to on completion)
    SHORT = "short"  # paid, but the stock it needed had been sold meanwhile: the merchant must decide


# Statuses whose invoices the payment pipeline still watches.
OPEN_STATUSES = (InvoiceStatus.PENDING, InvoiceStatus.PAID, InvoiceStatus.CONFIRMED)


class Invoice(models.Model):
    owner_path = "store__owner"  # the merchant who owns a row, for bitcart.ownership.owned
    id = UlidField()
    store = models.ForeignKey("stores.Store", on_delete=models.PROTECT, related_name="invoices")
    price = money_field()
    currency = models.CharField(max_length=10)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.PENDING)
    exception_status = models.CharField(max_length=16, choices=ExceptionStatus.choices, default=ExceptionStatus.NONE)
    # Total received, in paid_currency (coin units, that coin's decimals), from the Payment rows; never edited by hand.
    sent_amount = models.DecimalField(max_digits=50, decimal_places=20, default=0)
    paid_currency = models.CharField(max_length=10, blank=True)
    paid_date = models.DateTimeField(null=True, blank=True)
    expiration = models.PositiveIntegerField(help_text="Minutes, from the store's checkout settings.")
    expires_at = models.DateTimeField()
    # Until when the addresses stay watched after expiry (late payments become paid_late) or after
    # completion (a second payment is recorded and reported as paid_over).
    monitor_until = models.DateTimeField()
    required_confirmations = models.PositiveSmallIntegerField()
    underpaid_percentage = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    buyer_email = models.EmailField(blank=True)
    shipping_address = models.TextField(blank=True, max_length=2000)
    notes = models.TextField(blank=True, max_length=5000)
    order_id = models.CharField(max_length=255, blank=True)
    notification_url = models.URLField(max_length=2000, blank=True)
    redirect_url = models.URLField(max_length=2000, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    discount = models.ForeignKey("stores.Discount", on_delete=models.SET_NULL, null=True, blank=True)
    promocode = models.CharField(max_length=100, blank=True)
    stock = models.CharField(
        max_length=10,
        choices=StockState.choices,
        default=StockState.NONE,
        help_text="Limited stock this order holds. Short: paid after its stock was sold; restock or refund.",
    )
    products = models.ManyToManyField("stores.Product", through="InvoiceProduct", blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    # Not a column: the owner's view (invoice_snapshot) that invoice_create built for the
    # invoice.created webhook, so the API answers with it instead of serializing twice.
    snapshot_at_creation: dict | None = None

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Expiry sweep: pending invoices whose time is up.
            models.Index(fields=["status", "expires_at"], name="invoice_status_expires"),
            # Reconciliation: open invoices, expired and complete ones still inside the monitoring window.
            models.Index(fields=["status", "monitor_until"], name="invoice_status_monitor"),
            models.Index(fields=["store", "-created"], name="invoice_store_created"),
            models.Index(fields=["store", "order_id"], name="invoice_store_order"),
        ]

    def __str__(self) -> str:
        price = f"{self.price.normalize():f}" if self.price is not None else "?"
        return f"Invoice {self.id} ({price} {self.currency}, {self.status})"


class InvoiceProduct(models.Model):
    owner_path = "invoice__store__owner"  # the merchant who owns a row, for bitcart.ownership.owned
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="invoice_products")
    product = models.ForeignKey("stores.Product", on_delete=models.PROTECT)
    count = models.PositiveIntegerField(default=1)
    price = money_field(help_text="Unit price when the invoice was created.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invoice", "product"], name="invoice_product_unique")]

    def __str__(self) -> str:
        return f"{self.count} × {self.product_id}"


class PaymentMethod(models.Model):
    """One way to pay an invoice: one coin of one wallet, where to pay it and the amount asked there.

    `lookup` is how the wallet's daemon names it: the address for bitcoin-family coins (a fresh one per
    invoice), the daemon's request id for Ethereum-family coins (whose invoices share the merchant's address
    and are told apart by the amount: daemons/eth/README.md)."""

    owner_path = "invoice__store__owner"  # the merchant who owns a row, for bitcart.ownership.owned

    id = UlidField()
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payment_methods")
    wallet = models.ForeignKey("wallets.Wallet", on_delete=models.PROTECT, related_name="payment_methods")
    currency = models.CharField(max_length=10, help_text="The coin paid with (coins.registry symbol).")
    decimals = models.PositiveSmallIntegerField(help_text="The coin's decimals: amounts are in 10^-decimals units.")
    amount = UnitsField(help_text="Asked, in the coin's smallest unit.")
    rate = models.DecimalField(max_digits=40, decimal_places=20, help_text="Invoice currency per 1 coin.")
    rate_source = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=100)
    lookup = models.CharField(max_length=100, help_text="The daemon's key: the address, or its request id.")
    payment_url = models.CharField(max_length=500)
    derivation_index = models.PositiveBigIntegerField(null=True, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    is_used = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # An address (a daemon request) belongs to one invoice for all time, whatever happens to the invoice.
            models.UniqueConstraint(fields=["wallet", "currency", "lookup"], name="payment_method_unique_lookup"),
            models.UniqueConstraint(fields=["wallet", "derivation_index"], name="payment_method_unique_index"),
        ]
        indexes = [
            models.Index(fields=["address"], name="payment_method_address"),
            models.Index(fields=["lookup"], name="payment_method_lookup"),
            # The listener registers new addresses with the daemon by creation time.
            models.Index(fields=["created"], name="payment_method_created"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.address}"


class Payment(models.Model):
    """One received output (txid:vout; for Ethereum-family coins the log index, 0 for ether) paying a
    payment method."""

    owner_path = "payment_method__invoice__store__owner"  # the merchant who owns a row, for bitcart.ownership.owned

    class State(models.TextChoices):
        UNCONFIRMED = "unconfirmed"
        CONFIRMED = "confirmed"
        DROPPED = "dropped"  # left the mempool unconfirmed, or reorged out and not re-mined

    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.CASCADE, related_name="payments")
    txid = models.CharField(max_length=80)
    vout = models.PositiveIntegerField()
    amount = UnitsField(help_text="In the coin's smallest unit.")
    height = models.PositiveIntegerField(null=True, blank=True, help_text="Block height; empty in the mempool.")
    confirmations = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.UNCONFIRMED)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(fields=["txid", "vout", "payment_method"], name="payment_unique_output"),
        ]
        indexes = [models.Index(fields=["state", "height"], name="payment_state_height")]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} ({self.amount} units)"


class InvoiceEvent(models.Model):
    """Append-only audit: every status change and every payment, with its cause."""

    owner_path = "invoice__store__owner"  # the merchant who owns a row, for bitcart.ownership.owned

    class Kind(models.TextChoices):
        CREATED = "created"
        STATUS = "status"
        PAYMENT = "payment"
        PAYMENT_UPDATE = "payment_update"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16, blank=True)
    old_exception_status = models.CharField(max_length=16, blank=True)
    new_exception_status = models.CharField(max_length=16, blank=True)
    cause = models.CharField(max_length=32)
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # Set once its fan-out task queued the event's outbox messages (webhooks.WebhookMessage:
    # webhooks, e-mails, notifications). Informational: the messages are the outbox, and the
    # outbox sweep re-queues any still due, so a broker outage loses nothing.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["invoice", "id"], name="invoice_event_timeline"),
            models.Index(
                fields=["id"], name="invoice_event_undispatched", condition=models.Q(dispatched_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.old_status}→{self.new_status} ({self.cause})"
