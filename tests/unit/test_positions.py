import pytest

from shared.domain.models import PositionLot
from shared.domain.positions import apply_fill, unrealized_pnl


def test_average_price_blends_on_increase():
    lot = apply_fill(apply_fill(PositionLot(), 100, 10.0), 100, 12.0)
    assert lot.quantity == 200 and lot.avg_price == pytest.approx(11.0)


def test_reduce_realizes_pnl_and_keeps_average():
    lot = apply_fill(apply_fill(PositionLot(), 100, 10.0), -40, 15.0)
    assert lot.quantity == 60 and lot.avg_price == 10.0 and lot.realized_pnl == pytest.approx(200.0)


def test_flip_opens_the_remainder_at_the_fill_price():
    lot = apply_fill(apply_fill(PositionLot(), 10, 100.0), -15, 90.0)
    assert lot.quantity == -5 and lot.avg_price == 90.0 and lot.realized_pnl == pytest.approx(-100.0)


def test_short_pnl_and_multiplier():
    lot = apply_fill(PositionLot(), -2, 5000.0, multiplier=50)
    assert unrealized_pnl(lot, 4990.0, 50) == pytest.approx(1000.0)
    closed = apply_fill(lot, 2, 4990.0, multiplier=50)
    assert closed.quantity == 0 and closed.realized_pnl == pytest.approx(1000.0)
