"""docs/extending.md's "Add a broker", followed: a paper venue that fills every order at the
instrument's last price (held in memory) and charges a fixed commission per order. Laid out as
the how-to says a broker under ``shared/adapters/brokers/<name>/`` is: config, execution,
parsing, factory."""

from .config import PaperVenueConfig, paper_venue_config
from .execution import PaperVenueBroker

__all__ = ["PaperVenueBroker", "PaperVenueConfig", "paper_venue_config"]
