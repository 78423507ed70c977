"""The store's tables. Money is always an integer count of the studio currency's minor
unit (cents); every row carries photographer_id like the rest of the schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, tenant_fk, utcnow

#: What a price list can sell. Prints and products take option groups; digital files are
#: one image (web or full size) or the whole gallery; packages bundle other items.
ITEM_KINDS = ("print", "digital", "product", "package")
DIGITAL_SCOPES = ("web", "full", "gallery")
#: How far along the ordering process a client got (the Activity report's SAVED CART).
CART_STAGES = ("browsing", "cart", "details", "review", "ordered")
ORDER_STATES = ("placed", "paid", "in_production", "shipped", "delivered", "cancelled")


class StoreSettings(Base):
    """One row per studio (made on first save; defaults until then)."""

    __tablename__ = "store_settings"
    photographer_id: Mapped[int] = mapped_column(
        ForeignKey("photographers.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    #: Basis points: 825 is 8.25 %.
    tax_rate_bp: Mapped[int] = mapped_column(Integer, default=0)
    tax_inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    shipping_flat: Mapped[int] = mapped_column(Integer, default=0)
    free_shipping_over: Mapped[int | None] = mapped_column(Integer)
    next_order_number: Mapped[int] = mapped_column(Integer, default=1001)


class PriceList(Base):
    __tablename__ = "price_lists"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PriceItem(Base):
    """One thing on a price list. `options`: [{"name": "Paper", "choices": [{"name":
    "Lustre", "price": 0}, …]}, …], one choice per group, each adding its price.
    `contents` (packages): [{"item_id": 3, "quantity": 3}, …]."""

    __tablename__ = "price_items"
    __table_args__ = (Index("ix_price_items_list", "price_list_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(String(500), default="")
    price: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[list[Any]] = mapped_column(JSON, default=list)
    digital_scope: Mapped[str | None] = mapped_column(String(20))
    contents: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (UniqueConstraint("photographer_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    code: Mapped[str] = mapped_column(String(40))  # stored upper case
    kind: Mapped[str] = mapped_column(String(10))  # percent | fixed
    #: percent: whole percent (1-100); fixed: minor units.
    amount: Mapped[int] = mapped_column(Integer)
    min_order: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    once_per_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cart(Base):
    """A contact's cart in one gallery; `version` moves with every change, and checkout
    names the version it saw (a double click places one order)."""

    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("event_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk()
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(20), default="browsing")
    version: Mapped[int] = mapped_column(Integer, default=0)
    coupon_code: Mapped[str] = mapped_column(String(40), default="")
    #: Checkout details: name, email, phone, address lines. Shown only to a verified device.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CartItem(Base):
    __tablename__ = "cart_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"), index=True)
    price_item_id: Mapped[int] = mapped_column(ForeignKey("price_items.id", ondelete="CASCADE"))
    #: The photo (prints, products, single digital files); None for gallery-wide items.
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    #: {"Paper": "Lustre", …}: one choice name per option group.
    choices: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Packages: the photos the client picked for its slots, in order.
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    #: The browser that added it: an unverified one sees and orders only its own lines.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A placed order keeps its own lines and totals: editing a price list later changes
    nothing here."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("photographer_id", "number"),
        UniqueConstraint("cart_id", "cart_version"),
        Index("ix_orders_tenant_placed", "photographer_id", "placed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    cart_version: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    #: The client's way back to the order page (unguessable).
    token: Mapped[str] = mapped_column(String(40), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="placed")
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    discount: Mapped[int] = mapped_column(Integer, default=0)
    tax: Mapped[int] = mapped_column(Integer, default=0)
    tax_inclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    shipping: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)
    coupon_code: Mapped[str] = mapped_column(String(40), default="")
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"))
    customer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payment_method: Mapped[str] = mapped_column(String(40), default="offline")
    internal_note: Mapped[str] = mapped_column(Text, default="")
    tracking_note: Mapped[str] = mapped_column(String(500), default="")
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    options: Mapped[str] = mapped_column(String(500), default="")  # "Paper: Lustre"
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    digital_scope: Mapped[str | None] = mapped_column(String(20))
    #: Package contents as bought: [{"kind", "name", "quantity", "digital_scope"}, …].
    contents: Mapped[list[Any]] = mapped_column(JSON, default=list)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(Integer)


class CouponUse(Base):
    __tablename__ = "coupon_uses"
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    __table_args__ = (
        UniqueConstraint("order_id"),
        Index("ix_coupon_uses_coupon_contact", "coupon_id", "contact_id"),
    )


class DigitalGrant(Base):
    """A paid order's digital files: the contact may download these images (image_id
    None: the whole gallery) at `size`, whatever the gallery's own download settings."""

    __tablename__ = "digital_grants"
    __table_args__ = (Index("ix_digital_grants_contact", "event_id", "contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photographer_id: Mapped[int] = tenant_fk(index=False)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    size: Mapped[str] = mapped_column(String(20), default="original")  # original | web
