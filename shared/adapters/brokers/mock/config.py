"""The paper market's settings: slippage, commission and margin rates (bootstrap reads them from
``Settings``), kept apart from the broker so a caller can configure it without the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.domain.models import AssetClass

if TYPE_CHECKING:
    from shared.config import Settings

DEFAULT_MARGIN_RATES = {
    AssetClass.EQUITY: 0.5,
    AssetClass.FUTURE: 0.1,
    AssetClass.FOREX: 0.05,
    AssetClass.CRYPTO: 1.0,
    AssetClass.OPTION: 1.0,
}


@dataclass(frozen=True)
class MockBrokerConfig:
    slippage_bps: float = 1.0
    commission_per_unit: float = 0.005
    min_commission: float = 1.0
    margin_rates: dict[AssetClass, float] = field(default_factory=lambda: dict(DEFAULT_MARGIN_RATES))


def mock_config(settings: Settings) -> MockBrokerConfig:
    """The paper market's costs from the fund's settings (MOCK_SLIPPAGE_BPS, MOCK_COMMISSION_PER_UNIT)."""
    return MockBrokerConfig(slippage_bps=settings.mock_slippage_bps,
                            commission_per_unit=settings.mock_commission_per_unit)
