"""Where a payment provider plugs in.

Proofroom places every order for offline payment ("pay by invoice or in the studio"):
no provider can be reached from a self-hosted studio by default. A provider such as
Stripe implements `PaymentProvider`: `start()` is called after the order is committed and
returns the URL of its hosted checkout page (the client is sent there), and its webhook
route calls `orders.mark_paid_by_provider()` in a unit of work once the payment clears —
which unlocks digital files exactly as the photographer's "Mark paid" does.
"""

from __future__ import annotations

from typing import Protocol

from .models import Order


class PaymentProvider(Protocol):
    #: Stored on the order (`payment_method`).
    name: str

    def start(self, order: Order, return_url: str) -> str | None:
        """Begin paying `order`: a URL to send the client to, or None to show the order
        page straight away (payment arranged outside the app)."""


class OfflinePayment:
    name = "offline"

    def start(self, order: Order, return_url: str) -> str | None:
        return None


#: What `Services` uses unless a deployment configures another provider.
DEFAULT = OfflinePayment()
