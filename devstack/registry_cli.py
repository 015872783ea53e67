"""The registry API from a shell, for admins and strategy developers.

    python -m devstack.registry_cli strategies
    python -m devstack.registry_cli create my_strategy "My strategy" --reference-capital 250000
    python -m devstack.registry_cli status my_strategy live
    python -m devstack.registry_cli returns my_strategy backtest.csv
    python -m devstack.registry_cli optimise max_sharpe momentum_us trend_futures fx_carry
    python -m devstack.registry_cli approve pt_20261124143000_abc123 [--accounts A B] [--effective-from ISO]

The API key comes from MT_API_KEY and the base URL from MT_API_URL (default: the
embedded stack); both work unchanged against the deployed strategy_registry function.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8080"


def call(method: str, path: str, **kwargs: Any) -> int:
    url = os.environ.get("MT_API_URL", DEFAULT_URL).rstrip("/") + path
    headers = {"Authorization": f"Bearer {os.environ.get('MT_API_KEY', '')}", **kwargs.pop("headers", {})}
    answer = requests.request(method, url, headers=headers, timeout=120, **kwargs)
    print(json.dumps(answer.json(), indent=2))
    return 0 if answer.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("strategies", help="list the strategies you may see")
    create = commands.add_parser("create", help="register a strategy (prints its webhook passphrase once)")
    create.add_argument("strategy_id")
    create.add_argument("name")
    create.add_argument("--owner")
    create.add_argument("--reference-capital", type=float, default=100_000.0)
    status = commands.add_parser("status", help="move a strategy to live, paused or retired")
    status.add_argument("strategy_id")
    status.add_argument("status", choices=["live", "paused", "retired"])
    returns = commands.add_parser("returns", help="upload a daily return series CSV (date,return or date,equity)")
    returns.add_argument("strategy_id")
    returns.add_argument("csv", type=Path)
    optimise = commands.add_parser("optimise", help="run and store a portfolio test")
    optimise.add_argument("method")
    optimise.add_argument("strategy_ids", nargs="+")
    optimise.add_argument("--max-volatility", type=float, default=0.15)
    approve = commands.add_parser("approve", help="approve a portfolio test as the next allocation")
    approve.add_argument("test_id")
    approve.add_argument("--accounts", nargs="+")
    approve.add_argument("--effective-from")
    args = parser.parse_args(argv)

    if args.command == "strategies":
        return call("GET", "/api/strategies")
    if args.command == "create":
        body = {"strategy_id": args.strategy_id, "name": args.name, "reference_capital": args.reference_capital}
        return call("POST", "/api/strategies", json={**body, **({"owner": args.owner} if args.owner else {})})
    if args.command == "status":
        return call("PATCH", f"/api/strategies/{args.strategy_id}", json={"status": args.status})
    if args.command == "returns":
        return call("PUT", f"/api/strategies/{args.strategy_id}/returns", data=args.csv.read_bytes(),
                    headers={"Content-Type": "text/csv"})
    if args.command == "optimise":
        return call("POST", "/api/portfolio/tests", json={"method": args.method, "strategy_ids": args.strategy_ids,
                                                          "max_volatility": args.max_volatility})
    body = {k: v for k, v in (("account_ids", args.accounts), ("effective_from", args.effective_from)) if v}
    return call("POST", f"/api/portfolio/tests/{args.test_id}/approve", json=body)


if __name__ == "__main__":
    sys.exit(main())
