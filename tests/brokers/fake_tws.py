"""A local TWS / IB Gateway that speaks the TWS API socket protocol, for the real ib_async client.

Length-prefixed frames of NUL-terminated fields; the handshake (``API\\0`` then the
client's version range, answered with server version 157 and the connection time);
startApi answered with managedAccounts and nextValidId; the requests ib_async makes on
connect (positions, open and completed orders, account updates, executions); contract
details (with multiplier and minTick); market data snapshots (tickPrice frames and
tickSnapshotEnd, or error 354); placeOrder answered as TWS does (openOrder, orderStatus,
execDetails, orderStatus Filled, commissionReport) or with error 201, including brackets
(orders held until one transmits; legs resting until triggered; OCA groups); cancelOrder.
Tests script what the next order does, trigger resting orders and can drop every connection.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

SERVER_VERSION = 157
RESTING = ("Submitted", "PreSubmitted")
BID, ASK, LAST, CLOSE = 1, 2, 4, 9  # IB's tick types


@dataclass(frozen=True)
class FakeContract:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str = "USD"
    primary_exchange: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    last_trade: str = ""
    min_tick: float = 0.01
    long_name: str = ""

    def fields(self, primary: bool = False) -> list[object]:
        """conId, symbol, secType, lastTrade, strike, right, multiplier, exchange, currency, localSymbol,
        tradingClass (the layout of positions, executions and open orders)."""
        exchange = self.primary_exchange or self.exchange if primary else self.exchange
        return [self.con_id, self.symbol, self.sec_type, self.last_trade, "0", "", self.multiplier, exchange,
                self.currency, self.local_symbol or self.symbol, self.trading_class or self.symbol]


CONTRACTS = [
    FakeContract(265598, "AAPL", "STK", "SMART", primary_exchange="NASDAQ", long_name="APPLE INC"),
    FakeContract(272093, "MSFT", "STK", "SMART", primary_exchange="NASDAQ", long_name="MICROSOFT CORP"),
    FakeContract(495512552, "MES", "FUT", "CME", multiplier="5", last_trade="20261218", local_symbol="MESZ6",
                 trading_class="MES", min_tick=0.25, long_name="Micro E-Mini S&P 500 Stock Price Index"),
    FakeContract(12087792, "EUR", "CASH", "IDEALPRO", local_symbol="EUR.USD", trading_class="EUR.USD",
                 min_tick=0.00005, long_name="European Monetary Union Euro"),
]


@dataclass
class FakeOrder:
    order_id: int
    client_id: int
    perm_id: int
    account: str
    contract: FakeContract
    action: str
    quantity: float
    order_type: str
    limit: str
    aux: str
    order_ref: str
    tif: str = "DAY"
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0
    transmit: bool = True
    status: str = "Submitted"
    filled: float = 0.0
    avg_price: float = 0.0


@dataclass
class FakeExecution:
    exec_id: str
    order: FakeOrder
    shares: float
    price: float
    commission: float
    time: datetime


@dataclass
class FakeTws:
    accounts: tuple[str, ...] = ("DU111111", "DU222222")
    prices: dict[str, float] = field(default_factory=lambda: {"AAPL": 190.0, "MSFT": 420.0, "MES": 5800.0,
                                                               "EUR": 1.08})
    quotes: dict[str, dict[int, float]] = field(default_factory=dict)  # symbol -> exactly these ticks
    unsubscribed: set[str] = field(default_factory=set)  # symbols whose market data answers error 354
    mute_market_data: bool = False  # market data requests go unanswered
    contracts: list[FakeContract] = field(default_factory=lambda: list(CONTRACTS))
    cash: float = 1_000_000.0
    next_behaviours: list[str] = field(default_factory=list)  # fill|partial|reject|rest|silent|drop
    orders: dict[int, FakeOrder] = field(default_factory=dict)  # perm id -> order
    executions: list[FakeExecution] = field(default_factory=list)
    positions: dict[tuple[str, int], float] = field(default_factory=dict)  # (account, con id) -> quantity
    placed: list[FakeOrder] = field(default_factory=list)  # every placeOrder received
    market_data_requests: list[dict[str, object]] = field(default_factory=list)
    connections: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _perm_ids: itertools.count = field(default_factory=lambda: itertools.count(900_000_001))
    _exec_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _next_order_id: int = 1
    _sessions: list[_Session] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> int:
        return self.start_on(0)

    def start_on(self, port: int) -> int:
        """Listen on ``port`` (0: any free one); again after ``stop``, as a restarted gateway does."""
        tws = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Session(tws, self.request).run()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self._server.server_address[1]

    def stop(self) -> None:
        self.drop_connections()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def drop_connections(self) -> None:
        """IB Gateway's nightly restart, as the API client sees it: the socket closes."""
        with self._lock:
            sessions, self._sessions = list(self._sessions), []
        for session in sessions:
            session.close()

    # --- test helpers -----------------------------------------------------------------
    def placed_with_ref(self, order_ref: str) -> int:
        return sum(1 for order in self.placed if order.order_ref == order_ref)

    def order(self, order_ref: str) -> FakeOrder:
        return next(o for o in reversed(self.placed) if o.order_ref == order_ref)

    def contract(self, symbol: str, sec_type: str | None = None) -> FakeContract | None:
        return next(iter(self.find(symbol=symbol, sec_type=sec_type or "")), None)

    def find(self, con_id: int = 0, symbol: str = "", sec_type: str = "", currency: str = "",
             last_trade: str = "", local_symbol: str = "") -> list[FakeContract]:
        """The contracts a request matches, as IB matches them: by conId, else by what it names."""
        if con_id:
            return [c for c in self.contracts if c.con_id == con_id]
        return [c for c in self.contracts if c.symbol == symbol and sec_type in ("", c.sec_type)
                and currency in ("", c.currency) and c.last_trade.startswith(last_trade)
                and local_symbol in ("", c.local_symbol or c.symbol)]

    def trigger(self, order_ref: str, price: float) -> FakeExecution:
        """The market reaches a resting order: it fills at ``price``, IB cancels the rest of its OCA
        group, and a filled parent's bracket legs go live."""
        with self._lock:
            order = next(o for o in self.orders.values() if o.order_ref == order_ref and o.status in RESTING)
            execution = self.fill(order, order.quantity - order.filled, price)
            self._notify(order.client_id, lambda s: s.report_fill(execution))
            self.after_fill(order)
            return execution

    # --- the book -------------------------------------------------------------------------
    def fill(self, order: FakeOrder, shares: float, price: float | None = None) -> FakeExecution:
        price = self.prices[order.contract.symbol] if price is None else price
        execution = FakeExecution(f"0000e0d5.{next(self._exec_ids):08d}.01.01", order, shares, price,
                                  round(max(1.0, 0.005 * shares), 2), datetime.now(UTC))
        order.avg_price = (order.avg_price * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        order.status = "Filled" if order.filled >= order.quantity else "Submitted"
        sign = 1 if order.action == "BUY" else -1
        key = (order.account, order.contract.con_id)
        self.positions[key] = self.positions.get(key, 0.0) + sign * shares
        self.executions.append(execution)
        return execution

    def after_fill(self, order: FakeOrder) -> None:
        """OCA: the other orders of its group are cancelled; bracket legs of a parent go live."""
        for other in self.orders.values():
            if other is order or other.client_id != order.client_id or other.status not in RESTING:
                continue
            if order.oca_group and other.oca_group == order.oca_group:
                other.status = "Cancelled"
            elif other.parent_id == order.order_id and other.status == "PreSubmitted":
                other.status = "Submitted"
            else:
                continue
            self._notify(other.client_id, lambda s, o=other: s.order_status(o))

    def cancel(self, client_id: int, order_id: int) -> None:
        """Cancelling a parent cancels its bracket legs too."""
        for order in self.orders.values():
            if order.client_id == client_id and order_id in (order.order_id, order.parent_id) \
                    and order.status in RESTING:
                order.status = "Cancelled"
                self._notify(client_id, lambda s, o=order: s.order_status(o))

    def _notify(self, client_id: int, send: Callable[[_Session], None]) -> None:
        for session in self._sessions:
            if session.client_id == client_id and not session.closed:
                send(session)


class _Session:
    """One API client connection."""

    def __init__(self, tws: FakeTws, sock: socket.socket):
        self.tws = tws
        self.sock = sock
        self.client_id = 0
        self.buffer = b""
        self.send_lock = threading.Lock()
        self.closed = False
        self.held: list[FakeOrder] = []  # placed with transmit=False: waiting for the order that transmits

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def run(self) -> None:
        try:
            if self._read_exact(4) != b"API\0":
                return
            self._frame()  # "v157..178": we answer with the oldest version it accepts
            self.send(SERVER_VERSION, datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC"))
            with self.tws._lock:
                self.tws._sessions.append(self)
                self.tws.connections += 1
            while not self.closed:
                self.handle(self._frame().decode().split("\0")[:-1])
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed = True

    def _read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _frame(self) -> bytes:
        (size,) = struct.unpack(">I", self._read_exact(4))
        return self._read_exact(size)

    def send(self, *fields: object) -> None:
        payload = "".join(f"{'' if f is None else f}\0" for f in fields).encode()
        with self.send_lock:
            if not self.closed:
                self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    # --- requests -----------------------------------------------------------------------------
    def handle(self, fields: list[str]) -> None:
        tws = self.tws
        message = int(fields[0])
        with tws._lock:
            if message == 71:  # startApi
                self.client_id = int(fields[2])
                self.send(15, 1, ",".join(tws.accounts))
                self.send(9, 1, tws._next_order_id)
            elif message == 61:  # reqPositions
                for (account, con_id), quantity in tws.positions.items():
                    [contract] = tws.find(con_id)
                    self.send(61, 3, account, *contract.fields(primary=True), quantity, tws.prices[contract.symbol])
                self.send(62, 1)
            elif message in (5, 15, 16):  # open orders
                for order in tws.orders.values():
                    if order.status in RESTING:
                        self.open_order(order)
                        self.order_status(order)
                self.send(53, 1)
            elif message == 99:  # reqCompletedOrders: executions tell what filled
                self.send(102)
            elif message == 6:  # reqAccountUpdates
                if fields[2] == "1":
                    self.account_values(6, fields[3])
                    self.send(8, 1, datetime.now(UTC).strftime("%H:%M"))
                    self.send(54, 1, fields[3])
            elif message == 76:  # reqAccountUpdatesMulti
                request_id, account = fields[2], fields[3]
                self.account_values(73, account, request_id)
                self.send(74, 1, request_id)
            elif message == 7:  # reqExecutions
                request_id = fields[2]
                for execution in tws.executions:
                    self.exec_details(execution, int(request_id))
                    self.commission(execution)
                self.send(55, 1, request_id)
            elif message == 9:  # reqContractDetails: conId, symbol, secType, lastTrade, ..., currency, localSymbol
                self.contract_details(int(fields[2]), tws.find(int(fields[3] or 0), fields[4], fields[5], fields[12],
                                                               fields[6], fields[13]))
            elif message == 1:  # reqMktData: reqId, contract (12 fields), delta neutral, ticks, snapshot, regulatory
                self.market_data(fields)
            elif message == 3:  # placeOrder
                self.place(fields)
            elif message == 4:  # cancelOrder
                tws.cancel(self.client_id, int(fields[2]))
            elif message == 8:  # reqIds
                self.send(9, 1, tws._next_order_id)
            elif message == 49:  # reqCurrentTime
                self.send(49, 1, int(datetime.now(UTC).timestamp()))

    def account_values(self, message: int, account: str, request_id: str = "") -> None:
        tws = self.tws
        gross = sum(abs(q) * tws.prices[c.symbol] * float(c.multiplier or 1) for (a, con_id), q in tws.positions.items()
                    if a == account for c in tws.find(con_id))
        values = {"NetLiquidation": tws.cash, "TotalCashValue": tws.cash - gross, "MaintMarginReq": gross * 0.25,
                  "AvailableFunds": tws.cash - gross * 0.25, "GrossPositionValue": gross}
        for key, value in values.items():
            if message == 6:
                self.send(6, 2, key, f"{value:.2f}", "USD", account)
            else:
                self.send(73, 1, request_id, account, "", key, f"{value:.2f}", "USD")

    def contract_details(self, request_id: int, matches: list[FakeContract]) -> None:
        if not matches:
            self.send(4, 2, request_id, 200, "No security definition has been found for the request")
            return
        for c in matches:  # contractData at version 8: minTick, then the obsolete mdSizeMultiplier, then multiplier
            self.send(10, 8, request_id, c.symbol, c.sec_type, c.last_trade, "0", "", c.exchange, c.currency,
                      c.local_symbol or c.symbol, c.trading_class or c.symbol, c.trading_class or c.symbol, c.con_id,
                      c.min_tick, "1", c.multiplier, "LMT,MKT,STP", c.exchange, "1", "0", c.long_name or c.symbol,
                      c.primary_exchange, "", "", "", "", "US/Eastern", "", "", "", "", 0, "", "", "", "", "", "")
        self.send(52, 1, request_id)

    def market_data(self, fields: list[str]) -> None:
        tws = self.tws
        request_id, con_id, symbol = int(fields[2]), int(fields[3] or 0), fields[4]
        matches = tws.find(con_id, symbol, fields[5], fields[12])
        tws.market_data_requests.append({"con_id": con_id, "symbol": symbol, "generic_ticks": fields[16],
                                         "snapshot": fields[17] == "1", "regulatory": fields[18] == "1"})
        if tws.mute_market_data:
            return
        if len(matches) != 1:
            self.send(4, 2, request_id, 200, "No security definition has been found for the request")
            return
        contract = matches[0]
        price = tws.prices.get(contract.symbol)
        ticks = tws.quotes.get(contract.symbol)
        if ticks is None and price is not None:
            ticks = {BID: price - contract.min_tick, ASK: price + contract.min_tick, LAST: price, CLOSE: price}
        if ticks is None or contract.symbol in tws.unsubscribed:
            self.send(4, 2, request_id, 354, "Requested market data is not subscribed. "
                                             "Displaying delayed market data is not available.")
            return
        for tick_type, tick_price in ticks.items():  # tickPrice v6: price, size, attribute mask
            self.send(1, 6, request_id, tick_type, tick_price, 0 if tick_type == CLOSE else 100, 0)
        self.send(57, 1, request_id)

    def place(self, fields: list[str]) -> None:
        """placeOrder: order fields 16.. (action, quantity, type, limit, aux, tif, ocaGroup, account, openClose,
        origin, orderRef, transmit, parentId), ocaType at 47 (server version 157, not a combo)."""
        tws = self.tws
        order_id = int(fields[1])
        con_id, symbol, sec_type = int(fields[2] or 0), fields[3], fields[4]
        contract = next(iter(tws.find(con_id)), None) if con_id else tws.contract(symbol, sec_type)
        assert contract is not None, f"placeOrder for an unqualified contract {fields[2:14]}"
        order = FakeOrder(order_id=order_id, client_id=self.client_id, perm_id=next(tws._perm_ids),
                          account=fields[23], contract=contract, action=fields[16], quantity=float(fields[17]),
                          order_type=fields[18], limit=fields[19], aux=fields[20], order_ref=fields[26],
                          tif=fields[21], oca_group=fields[22], oca_type=int(fields[47] or 0),
                          parent_id=int(fields[28] or 0), transmit=fields[27] == "1")
        tws.placed.append(order)
        tws._next_order_id = max(tws._next_order_id, order_id + 1)
        if not order.transmit:  # TWS holds it until an order that transmits
            self.held.append(order)
            return
        group, self.held = [*self.held, order], []
        for each in group:
            self.submit(each)

    def submit(self, order: FakeOrder) -> None:
        tws = self.tws
        tws.orders[order.perm_id] = order
        if order.parent_id:  # a bracket leg: rests until triggered; live once its parent has filled
            parent = next((o for o in tws.orders.values() if o.client_id == order.client_id
                           and o.order_id == order.parent_id), None)
            order.status = ("Cancelled" if parent is None or parent.status in ("Inactive", "Cancelled")
                            else "Submitted" if parent.filled else "PreSubmitted")
            self.open_order(order)
            self.order_status(order)
            return
        behaviour = tws.next_behaviours.pop(0) if tws.next_behaviours else "fill"
        if behaviour == "reject":
            order.status = "Inactive"
            self.send(4, 2, order.order_id, 201, "Order rejected - reason:The account has insufficient funds")
            return
        if behaviour == "silent":
            return  # accepted, but the answer never comes
        if behaviour == "drop":
            tws.fill(order, order.quantity)
            self.close()  # the gateway restarts after taking the order
            return
        self.open_order(order)
        self.order_status(order)
        if behaviour == "rest":
            return
        shares = order.quantity if behaviour == "fill" else max(1.0, float(int(order.quantity / 2)))
        self.report_fill(tws.fill(order, shares))
        tws.after_fill(order)

    # --- messages ---------------------------------------------------------------------------------
    def report_fill(self, e: FakeExecution) -> None:
        self.exec_details(e, -1)
        self.order_status(e.order)
        self.commission(e)
        self.position(e.order)

    def order_status(self, o: FakeOrder) -> None:
        self.send(3, o.order_id, o.status, o.filled, o.quantity - o.filled, o.avg_price, o.perm_id, o.parent_id,
                  o.avg_price if o.filled else 0, o.client_id, "", 0)

    def open_order(self, o: FakeOrder) -> None:
        head = [5, o.order_id, *o.contract.fields(), o.action, o.quantity, o.order_type, o.limit, o.aux, o.tif,
                o.oca_group, o.account, "", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", ""]
        terms: list[object] = [""] * 29  # modelCode .. deltaNeutralAuxPrice
        terms[19], terms[23] = o.oca_type, o.parent_id
        middle = [""] + terms + [""] * 7 + [0, 0, 0] + ["", "", ""] + [""] + ["", "", "", 0, 0] + [""]
        state = ["", 0, o.status] + [""] * 16
        self.send(*head, *middle, *state, 0, *[""] * 16)

    def exec_details(self, e: FakeExecution, request_id: int) -> None:
        o = e.order
        self.send(11, request_id, o.order_id, *o.contract.fields(), e.exec_id, e.time.strftime("%Y%m%d %H:%M:%S UTC"),
                  o.account, o.contract.exchange, "BOT" if o.action == "BUY" else "SLD", e.shares, e.price,
                  o.perm_id, o.client_id, 0, e.shares, e.price, o.order_ref, "", "", "", 0)

    def commission(self, e: FakeExecution) -> None:
        self.send(59, 1, e.exec_id, e.commission, "USD", "", "", "")

    def position(self, o: FakeOrder) -> None:
        quantity = self.tws.positions[(o.account, o.contract.con_id)]
        self.send(61, 3, o.account, *o.contract.fields(primary=True), quantity, self.tws.prices[o.contract.symbol])
