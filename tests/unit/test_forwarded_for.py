"""TRUSTED_PROXY_HOPS decides which X-Forwarded-For entry is the sender, through the real webhook."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.config import TRADINGVIEW_IPS, Settings, parse_address_list
from shared.domain.models import Collections
from tests.conftest import signal_body

TRADINGVIEW = TRADINGVIEW_IPS[0]


def post(services: Services, hops: int, forwarded: str | None, signal_id: str):
    services.settings = replace(services.settings, webhook_ip_allowlist=parse_address_list("tradingview"),
                                trusted_proxy_hops=hops)
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return create_app(services).test_client().post(
        "/webhook", data=signal_body(ticker="AAPL", action="buy", quantity=1, price=190, signal_id=signal_id),
        content_type="application/json", headers=headers)


def test_the_default_ignores_the_header_so_a_spoofed_tradingview_address_is_refused(embedded):
    assert Settings().trusted_proxy_hops == 0
    answer = post(embedded, Settings().trusted_proxy_hops, TRADINGVIEW, "spoofed")  # from 127.0.0.1
    assert answer.status_code == 403 and answer.get_json()["field"] == "source_ip"
    assert "127.0.0.1" in answer.get_json()["reason"]
    assert embedded.store.query(Collections.RAW_SIGNALS) == []


@pytest.mark.parametrize("hops, forwarded, status", [
    (1, TRADINGVIEW, 202),  # Google's front end appended TradingView's address
    (1, f"{TRADINGVIEW}, 203.0.113.9", 403),  # the client wrote TradingView's address itself
    (1, None, 403),  # no header: the socket's address
    (2, f"203.0.113.9, {TRADINGVIEW}, 10.0.0.2", 202),  # two proxies of ours: the second from the right
    (2, f"{TRADINGVIEW}, 203.0.113.9, 10.0.0.2", 403),
])
def test_n_hops_take_the_nth_entry_from_the_right(embedded, hops, forwarded, status):
    answer = post(embedded, hops, forwarded, f"hops-{hops}-{status}-{len(forwarded or '')}")
    assert answer.status_code == status, answer.get_json()


def test_the_setting_is_read_and_checked():
    assert Settings.from_env({"TRUSTED_PROXY_HOPS": "1"}).trusted_proxy_hops == 1
    assert Settings.from_env({}).trusted_proxy_hops == 0
    for bad in ("-1", "1.5", "many"):
        with pytest.raises(ValueError, match="TRUSTED_PROXY_HOPS"):
            Settings.from_env({"TRUSTED_PROXY_HOPS": bad})
