"""The store: price lists, coupons, the client's cart (saved at every change), orders.

`pricing` is pure arithmetic on integer minor units (tested from tables); `catalog`
owns price lists and coupons, `carts` the client's cart, `orders` checkout and the
photographer's order handling. Models live in `store.models`.
"""
