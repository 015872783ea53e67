"""Position arithmetic: average price and realised P&L under fills.

Used for our per-strategy books and for the Mock broker's account, so that both
agree to the cent on the same fills.
"""

from __future__ import annotations

from .models import PositionLot

_EPSILON = 1e-9


def apply_fill(
    lot: PositionLot, signed_quantity: float, price: float, multiplier: float = 1.0
) -> PositionLot:
    """Return the lot after a fill of ``signed_quantity`` (buy > 0, sell < 0) at ``price``."""
    old = lot.quantity
    new = old + signed_quantity
    realized = lot.realized_pnl
    if old == 0 or (old > 0) == (signed_quantity > 0):
        # Opening or increasing: blend the average price.
        avg = (abs(old) * lot.avg_price + abs(signed_quantity) * price) / abs(new)
    else:
        closed = min(abs(signed_quantity), abs(old))
        direction = 1 if old > 0 else -1
        realized += closed * (price - lot.avg_price) * direction * multiplier
        if abs(new) < _EPSILON:
            new, avg = 0.0, 0.0
        elif (new > 0) == (old > 0):
            avg = lot.avg_price  # reduced, same side: average unchanged
        else:
            avg = price  # flipped through zero: the remainder opened at this price
    return PositionLot(quantity=round(new, 9), avg_price=avg, realized_pnl=realized)


def unrealized_pnl(lot: PositionLot, mark: float, multiplier: float = 1.0) -> float:
    return lot.quantity * (mark - lot.avg_price) * multiplier
