"""Mathematricks dashboards: log in with your API key; you see only your role's pages.

    streamlit run dashboards_streamlit/app.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: shared/ and this package

from dashboards_streamlit.session import ENDED, login, logout, resume, watch_session

HERE = Path(__file__).parent
PAGES = {
    "admin": [("views/admin_health.py", "System health", ":material/monitor_heart:"),
              ("views/admin_signals.py", "Signals", ":material/list_alt:"),
              ("views/admin_journey.py", "Signal journey", ":material/route:"),
              ("views/admin_portfolio.py", "Strategies & allocation", ":material/pie_chart:"),
              ("views/admin_orders.py", "Order blotter", ":material/pending_actions:"),
              ("views/admin_positions.py", "Positions & P&L", ":material/account_balance_wallet:"),
              ("views/admin_accounts.py", "Accounts & reconciliation", ":material/account_balance:"),
              ("views/admin_controls.py", "Kill switch", ":material/emergency:")],
    "client": [("views/client_overview.py", "My accounts", ":material/show_chart:"),
               ("views/client_activity.py", "Positions & fills", ":material/receipt_long:")],
    "developer": [("views/developer_strategies.py", "My strategies", ":material/insights:")],
}

st.set_page_config(page_title="Mathematricks", page_icon=":material/finance:", layout="wide")


def login_page() -> None:
    st.title("Mathematricks Trader")
    if st.session_state.get(ENDED):
        st.warning(st.session_state[ENDED])
    with st.form("login"):
        token = st.text_input("API key", type="password", help="mt_<key id>.<secret>, from your fund's admin")
        if st.form_submit_button("Log in"):
            refused = login(token)
            if refused:
                st.error(refused)
            else:
                st.rerun()


who = resume()  # this session, or the URL's signed token after a refresh or on a deep link
if who is None:
    # Every page's address opens the login (no "Page not found"); after it, that page itself.
    deep_links = [st.Page(login_page, title="Log in", url_path=Path(path).stem)
                  for path in dict.fromkeys(path for pages in PAGES.values() for path, _, _ in pages)]
    page = st.navigation([st.Page(login_page, title="Log in", icon=":material/login:", default=True), *deep_links],
                         position="hidden")
else:
    with st.sidebar:
        st.caption(f"Logged in as **{who.subject}** ({who.role})")
        if st.button("Log out"):
            logout()
            st.rerun()
        watch_session()
    page = st.navigation([st.Page(str(HERE / path), title=title, icon=icon) for path, title, icon in PAGES[who.role]])
page.run()
