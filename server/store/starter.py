"""A starter price list: what a studio typically sells, to edit rather than type from
nothing (the demo account gets it, and the price lists page offers it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .models import PriceItem, PriceList

_PAPER = {"name": "Paper", "choices": [{"name": "Lustre", "price": 0},
                                       {"name": "Metallic", "price": 400},
                                       {"name": "Fine art matte", "price": 700}]}
_PRINTS = [("4x6 print", 900), ("5x7 print", 1500), ("8x10 print", 2500),
           ("11x14 print", 4500), ("16x20 print", 7500)]
_PRODUCTS = [
    ("Gallery canvas", "Hand-stretched on a 1.5 in frame.", 12000, [
        {"name": "Size", "choices": [{"name": "12x18", "price": 0},
                                     {"name": "20x30", "price": 8000},
                                     {"name": "30x40", "price": 16000}]},
        {"name": "Frame", "choices": [{"name": "No frame", "price": 0},
                                      {"name": "Black float frame", "price": 6500},
                                      {"name": "Natural oak float frame", "price": 7500}]}]),
    ("Lay-flat album", "20 spreads, linen cover.", 65000, [
        {"name": "Size", "choices": [{"name": "10x10", "price": 0},
                                     {"name": "12x12", "price": 15000}]},
        {"name": "Cover", "choices": [{"name": "Linen", "price": 0},
                                      {"name": "Leather", "price": 12000}]}]),
]


def add_starter_price_list(session: Session, photographer_id: int,
                           name: str = "Standard prices") -> PriceList:
    price_list = PriceList(photographer_id=photographer_id, name=name)
    session.add(price_list)
    session.flush()
    position = 0

    def item(kind: str, name: str, price: int, **fields) -> PriceItem:
        nonlocal position
        row = PriceItem(photographer_id=photographer_id, price_list_id=price_list.id,
                        kind=kind, name=name, price=price, position=position,
                        description=fields.pop("description", ""),
                        options=fields.pop("options", []), contents=fields.pop("contents", []),
                        digital_scope=fields.pop("digital_scope", None))
        position += 1
        session.add(row)
        session.flush()
        return row

    prints = {name: item("print", name, price, options=[_PAPER]) for name, price in _PRINTS}
    web = item("digital", "Digital file — web size", 1500, digital_scope="web",
               description="2048 px, for sharing online.")
    item("digital", "Digital file — full resolution", 3500, digital_scope="full",
         description="The original file, for printing anywhere.")
    item("digital", "The whole gallery — digital", 45000, digital_scope="gallery",
         description="Every photo in the gallery at full resolution.")
    for name, description, price, options in _PRODUCTS:
        item("product", name, price, description=description, options=options)
    item("package", "Keepsake package", 9900,
         description="Three 5x7 prints and ten web-size digital files of your choice.",
         contents=[{"item_id": prints["5x7 print"].id, "quantity": 3},
                   {"item_id": web.id, "quantity": 10}])
    return price_list
