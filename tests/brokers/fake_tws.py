"""A local TWS / IB Gateway that speaks the TWS API socket protocol, for the real ib_async client.

Length-prefixed frames of NUL-terminated fields; the handshake (``API\\0`` then the
client's version range, answered with server version 157 and the connection time);
startApi answered with managedAccounts and nextValidId; the requests ib_async makes on
connect (positions, open and completed orders, account updates, executions); contract
details; placeOrder answered as TWS does (openOrder, orderStatus, execDetails,
orderStatus Filled, commissionReport) or with error 201; cancelOrder. Tests script
what the next order does and can drop every connection.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

SERVER_VERSION = 157


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

    def fields(self, primary: bool = False) -> list[object]:
        """conId, symbol, secType, lastTrade, strike, right, multiplier, exchange, currency, localSymbol,
        tradingClass (the layout of positions, executions and open orders)."""
        exchange = self.primary_exchange or self.exchange if primary else self.exchange
        return [self.con_id, self.symbol, self.sec_type, self.last_trade, "0", "", self.multiplier, exchange,
                self.currency, self.local_symbol or self.symbol, self.trading_class or self.symbol]


CONTRACTS = [
    FakeContract(265598, "AAPL", "STK", "SMART", primary_exchange="NASDAQ"),
    FakeContract(272093, "MSFT", "STK", "SMART", primary_exchange="NASDAQ"),
    FakeContract(495512552, "MES", "FUT", "CME", multiplier="5", last_trade="20261218", local_symbol="MESZ6",
                 trading_class="MES"),
    FakeContract(12087792, "EUR", "CASH", "IDEALPRO", local_symbol="EUR.USD", trading_class="EUR.USD"),
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
    cash: float = 1_000_000.0
    next_behaviours: list[str] = field(default_factory=list)  # fill|partial|reject|rest|silent|drop
    orders: dict[int, FakeOrder] = field(default_factory=dict)  # perm id -> order
    executions: list[FakeExecution] = field(default_factory=list)
    positions: dict[tuple[str, int], float] = field(default_factory=dict)  # (account, con id) -> quantity
    placed: list[FakeOrder] = field(default_factory=list)  # every placeOrder received
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

    def contract(self, symbol: str, sec_type: str | None = None) -> FakeContract | None:
        return next((c for c in CONTRACTS if c.symbol == symbol and sec_type in (None, c.sec_type)), None)

    # --- the book -------------------------------------------------------------------------
    def fill(self, order: FakeOrder, shares: float) -> FakeExecution:
        price = self.prices[order.contract.symbol]
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


class _Session:
    """One API client connection."""

    def __init__(self, tws: FakeTws, sock: socket.socket):
        self.tws = tws
        self.sock = sock
        self.client_id = 0
        self.buffer = b""
        self.send_lock = threading.Lock()
        self.closed = False

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
                    contract = next(c for c in CONTRACTS if c.con_id == con_id)
                    self.send(61, 3, account, *contract.fields(primary=True), quantity, tws.prices[contract.symbol])
                self.send(62, 1)
            elif message in (5, 15, 16):  # open orders
                for order in tws.orders.values():
                    if order.status in ("Submitted", "PreSubmitted"):
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
            elif message == 9:  # reqContractDetails
                self.contract_details(int(fields[2]), fields[4], fields[5], fields[12])
            elif message == 3:  # placeOrder
                self.place(fields)
            elif message == 4:  # cancelOrder
                self.cancel(int(fields[2]))
            elif message == 8:  # reqIds
                self.send(9, 1, tws._next_order_id)
            elif message == 49:  # reqCurrentTime
                self.send(49, 1, int(datetime.now(UTC).timestamp()))

    def account_values(self, message: int, account: str, request_id: str = "") -> None:
        tws = self.tws
        gross = sum(abs(q) * tws.prices[c.symbol] * float(c.multiplier or 1) for (a, con_id), q in tws.positions.items()
                    if a == account for c in CONTRACTS if c.con_id == con_id)
        values = {"NetLiquidation": tws.cash, "TotalCashValue": tws.cash - gross, "MaintMarginReq": gross * 0.25,
                  "AvailableFunds": tws.cash - gross * 0.25, "GrossPositionValue": gross}
        for key, value in values.items():
            if message == 6:
                self.send(6, 2, key, f"{value:.2f}", "USD", account)
            else:
                self.send(73, 1, request_id, account, "", key, f"{value:.2f}", "USD")

    def contract_details(self, request_id: int, symbol: str, sec_type: str, currency: str) -> None:
        contract = self.tws.contract(symbol, sec_type or None)
        if contract is None or (currency and contract.currency != currency):
            self.send(4, 2, request_id, 200, "No security definition has been found for the request")
            return
        c = contract
        self.send(10, 8, request_id, c.symbol, c.sec_type, c.last_trade, "0", "", c.exchange, c.currency,
                  c.local_symbol or c.symbol, c.trading_class or c.symbol, c.trading_class or c.symbol, c.con_id,
                  "0.01", "1", c.multiplier, "LMT,MKT,STP", c.exchange, "1", "0", c.symbol, c.primary_exchange,
                  "", "", "", "", "US/Eastern", "", "", "", "", 0, "", "", "", "", "", "")
        self.send(52, 1, request_id)

    def place(self, fields: list[str]) -> None:
        tws = self.tws
        order_id = int(fields[1])
        con_id, symbol, sec_type = int(fields[2] or 0), fields[3], fields[4]
        contract = next((c for c in CONTRACTS if c.con_id == con_id), None) or tws.contract(symbol, sec_type)
        assert contract is not None, f"placeOrder for an unqualified contract {fields[2:14]}"
        order = FakeOrder(order_id=order_id, client_id=self.client_id, perm_id=next(tws._perm_ids),
                          account=fields[23], contract=contract, action=fields[16], quantity=float(fields[17]),
                          order_type=fields[18], limit=fields[19], aux=fields[20], order_ref=fields[26])
        tws.placed.append(order)
        tws._next_order_id = max(tws._next_order_id, order_id + 1)
        behaviour = tws.next_behaviours.pop(0) if tws.next_behaviours else "fill"
        if behaviour == "reject":
            order.status = "Inactive"
            tws.orders[order.perm_id] = order
            self.send(4, 2, order_id, 201, "Order rejected - reason:The account has insufficient funds")
            return
        tws.orders[order.perm_id] = order
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
        execution = tws.fill(order, shares)
        self.exec_details(execution, -1)
        self.order_status(order)
        self.commission(execution)
        self.position(order)

    def cancel(self, order_id: int) -> None:
        for order in self.tws.orders.values():
            if order.order_id == order_id and order.client_id == self.client_id and order.status == "Submitted":
                order.status = "Cancelled"
                self.order_status(order)

    # --- messages ---------------------------------------------------------------------------------
    def order_status(self, o: FakeOrder) -> None:
        price = self.tws.prices[o.contract.symbol]
        self.send(3, o.order_id, o.status, o.filled, o.quantity - o.filled, o.avg_price, o.perm_id, 0,
                  price if o.filled else 0, o.client_id, "", 0)

    def open_order(self, o: FakeOrder) -> None:
        head = [5, o.order_id, *o.contract.fields(), o.action, o.quantity, o.order_type, o.limit, o.aux, "DAY", "",
                o.account, "", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", ""]
        middle = ([""] + [""] * 29 + [""] * 7 + [0, 0, 0] + ["", "", ""] + [""] + ["", "", "", 0, 0] + [""])
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
