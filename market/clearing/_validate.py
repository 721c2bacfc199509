"""Checks and conversions of :func:`market.clearing.clear`'s inputs (one-line errors naming the
field and the first bad index)."""

from __future__ import annotations

import math

import numpy as np

RULES = ("uniform", "pay_as_bid")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _as_1d(name: str, x) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got {a.ndim} dimensions")
    return a


def _as_int(name: str, a: np.ndarray, what: str) -> np.ndarray:
    """Integer view of ``a``; floats must be finite and integral."""
    if a.dtype.kind in "iu":
        return a
    if a.dtype == bool:
        return a.astype(np.int64)
    if np.issubdtype(a.dtype, np.integer):
        return a
    if np.issubdtype(a.dtype, np.floating):
        bad = ~np.isfinite(a)
        bad[~bad] = a[~bad] != np.floor(a[~bad])
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(f"{name}[{i}] is {a[i].item()!r}: {what} must be integers")
        return a.astype(np.int64)
    if a.size == 0:
        return a.astype(np.int64)
    raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")


def _as_float(name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype == np.float64:
        return a
    if a.size == 0:
        return a.astype(np.float64)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.iscomplexobj(a):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def check(product, side, price, quantity, n_products, priority, k, rule, count=False):
    """Validate and convert the inputs; returns the (numeric, +-1) ``side`` array itself, the
    (min, max) of the prices, the largest quantity and, with ``count``, the number of orders
    of each product (else None).

    Each array is checked by a few reductions (min, max, count); the element-wise masks that
    locate the first bad entry are built only when a check fails."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; valid rules: {', '.join(map(repr, RULES))}")
    k = float(k)
    if not 0.0 <= k <= 1.0:  # also rejects NaN
        raise ValueError(f"k={k!r} is outside [0, 1]")
    arrays = {
        "product": _as_1d("product", product),
        "side": _as_1d("side", side),
        "price": _as_1d("price", price),
        "quantity": _as_1d("quantity", quantity),
    }
    if priority is not None:
        arrays["priority"] = _as_1d("priority", priority)
    n = len(arrays["product"])
    for name, a in arrays.items():
        if len(a) != n:
            raise ValueError(
                f"arrays differ in length: product has length {n} but {name} has length {len(a)}"
            )

    price = _as_float("price", arrays["price"])
    prange = (float(price.min()), float(price.max())) if n else (0.0, 0.0)
    if not (math.isfinite(prange[0]) and math.isfinite(prange[1])):
        bad = ~np.isfinite(price)
        i = _first_bad(bad)
        raise ValueError(f"price[{i}] is {price[i].item()!r}: prices must be finite")

    quantity = _as_float("quantity", arrays["quantity"])
    qmax = float(quantity.max()) if n else 0.0
    if n and not (quantity.min() >= 0 and qmax < math.inf):  # NaN fails too
        bad = ~(np.isfinite(quantity) & (quantity >= 0))
        i = _first_bad(bad)
        raise ValueError(
            f"quantity[{i}] is {quantity[i].item()!r}: quantities must be finite and >= 0"
        )

    side = arrays["side"]
    if side.size and side.dtype.kind not in "iu" and not np.issubdtype(side.dtype, np.number):
        raise ValueError(f"side must be a numeric array, got dtype {side.dtype}")
    ok = (
        n == 0
        or side.dtype.kind in "iu"
        and side.min() >= -1
        and side.max() <= 1
        and np.count_nonzero(side) == n
    )
    if not ok:
        bad = (side != 1) & (side != -1)
        if bad.any():
            i = _first_bad(bad)
            raise ValueError(
                f"side[{i}] is {side[i].item()!r}: side must be +1 (buy) or -1 (sell)"
            )

    product = _as_int("product", arrays["product"], "products")
    if n_products is not None:
        if int(n_products) != n_products or n_products < 0:
            raise ValueError(f"n_products={n_products!r} must be an integer >= 0")
        n_products = int(n_products)
    counts = None
    if count and n and product.dtype.kind in "iu":
        try:  # orders per product; its own pass finds negative products and the largest
            counts = np.bincount(product.astype(np.intp, copy=False),
                                 minlength=n_products or 0)
        except ValueError:
            pass
    if n_products is None:
        if counts is not None:
            n_products = len(counts)
        else:
            n_products = max(int(product.max()) + 1 if n > 0 else 0, 0)
    if n and (len(counts) > n_products if counts is not None
              else product.min() < 0 or product.max() >= n_products):
        bad = (product < 0) | (product >= n_products)
        i = _first_bad(bad)
        raise ValueError(
            f"product[{i}] is {product[i].item()!r}: products must be integers in "
            f"0..{n_products - 1} (n_products={n_products})"
        )
    product = product.astype(np.intp, copy=False)

    if priority is not None:
        prio = _as_int("priority", arrays["priority"], "priority classes")
        if n and prio.min() < 0:
            bad = prio < 0
            i = _first_bad(bad)
            raise ValueError(f"priority[{i}] is {prio[i].item()!r}: priority classes must be >= 0")
        if n == 0 or not prio.any():
            prio = None
    else:
        prio = None
    return product, side, price, quantity, n_products, prio, k, prange, qmax, counts


