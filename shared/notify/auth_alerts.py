"""The admin's text for a strategy whose webhook passphrase is being guessed.

Built from what the throttle counted (shared/auth/throttle.py): the strategy, how many
failures in how long, and a few source addresses. Never a guessed passphrase: the
throttle's alert does not carry one, and this text names only those fields.
"""

from __future__ import annotations

from typing import Any

from shared.auth.throttle import PASSPHRASE_GUESSING

KINDS = (PASSPHRASE_GUESSING,)


def auth_alert_text(data: dict[str, Any]) -> str | None:
    """The Telegram line for an authentication alert; None for any other kind."""
    if data.get("kind") != PASSPHRASE_GUESSING:
        return None
    sources = [str(s)[:64] for s in (data.get("sources") or [])][:5]
    minutes = max(1, int(data.get("window_seconds", 600)) // 60)
    return (f"🔐 Passphrase guessing on {str(data.get('strategy_id', '?'))[:100]}: "
            f"{int(data.get('failures', 0))} wrong passphrases within {minutes} min "
            f"(from {', '.join(sources) or 'unknown'}). Failed senders are throttled; "
            "rotate the passphrase if this was not you")
