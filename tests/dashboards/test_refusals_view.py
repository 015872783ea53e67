"""The admin's journey page lists refused deliveries, readable and without passphrases."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from devstack.embedded import create_app
from shared.bootstrap import Services
from shared.demo import DEMO_API_KEYS
from tests.conftest import FakeClock

VIEW = Path(__file__).resolve().parents[2] / "dashboards_streamlit" / "views" / "admin_journey.py"
WRONG = "not-the-passphrase-Kx81"


def journey_page(services: Services, key: tuple[str, str]) -> AppTest:
    app = AppTest.from_file(str(VIEW), default_timeout=60)
    app.session_state["principal"] = services.api_keys.authenticate(DEMO_API_KEYS[key])[0]
    app.session_state["token"] = DEMO_API_KEYS[key]
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_refused_alert_shows_in_the_refusals_table(served: Services,
                                                      clock: FakeClock):
    client = create_app(served).test_client()
    body = {"strategy_id": "momentum_us", "passphrase": WRONG, "ticker": "AAPL", "action": "buy", "quantity": 1}
    assert client.post("/webhook", data=json.dumps(body), content_type="application/json").status_code == 401
    clock.advance(1)
    staging = "order buy @ 1 filled on NVDA. New strategy position is 1"
    assert client.post("/webhook?strategy_id=momentum_us&passphrase=x&environment=staging", data=staging,
                       content_type="text/plain").status_code == 401

    app = journey_page(served, ("admin", "admin"))
    assert "Refused deliveries" in [s.value for s in app.subheader]
    table = app.dataframe[0].value
    assert list(table["status"]) == ["401", "401"]
    assert set(table["strategy"]) == {"momentum_us"} and set(table["field"]) == {"passphrase"}
    assert table["excerpt"].iloc[0] == staging and '"ticker":"AAPL"' in table["excerpt"].iloc[1]
    assert all(r.startswith("ref_") for r in table["refusal_id"])
    assert WRONG not in table.to_json()


def test_no_refusals_says_so(served: Services):
    app = journey_page(served, ("admin", "admin"))
    assert not app.dataframe
    assert "No refused deliveries kept." in [c.value for c in app.caption]


def test_a_developer_does_not_see_them(served: Services):
    served.ingest.ingest(b"{", "application/json", {}, "1.2.3.4")
    app = journey_page(served, ("developer", "dev_alice"))
    assert [e.value for e in app.error] == ["This page is not available to you."] and not app.dataframe
