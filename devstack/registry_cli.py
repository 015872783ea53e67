"""The registry API from a shell, for admins and strategy developers.

    python -m devstack.registry_cli strategies
    python -m devstack.registry_cli create my_strategy "My strategy" --reference-capital 250000
    python -m devstack.registry_cli status my_strategy live
    python -m devstack.registry_cli returns my_strategy backtest.csv
    python -m devstack.registry_cli optimise max_sharpe momentum_us trend_futures fx_carry
    python -m devstack.registry_cli tests                      # recent portfolio tests, newest first
    python -m devstack.registry_cli test pt_20261124143000_abc123 [--top 20]
    python -m devstack.registry_cli approve pt_20261124143000_abc123 [--accounts A B] [--effective-from ISO]
    python -m devstack.registry_cli allocation

Each command prints a short summary; --json prints the API's whole answer instead (one
optimisation is thousands of lines: equity curves, correlations, walk-forward windows).
The server is --url, else MT_API_URL, else the embedded stack; the API key is MT_API_KEY.
Both may come from .env. They work unchanged against the deployed strategy_registry function.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from shared.config import load_env_file
from shared.services.portfolio_requests import METHODS

DEFAULT_URL = "http://127.0.0.1:8080"
Summary = Callable[[dict[str, Any], argparse.Namespace], list[str]]


# --- formatting -------------------------------------------------------------------------
def pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value) * 100:.{digits}f}%"


def num(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def table(rows: list[list[str]], header: list[str]) -> list[str]:
    """Left-aligned columns sized to their widest cell: readable in a terminal, easy to grep."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]]


def top_weights(weights: dict[str, float], top: int) -> list[tuple[str, float]]:
    ranked = sorted(weights.items(), key=lambda item: (-float(item[1]), item[0]))
    return ranked[:top]


def inline_weights(weights: dict[str, float], top: int) -> str:
    shown = " ".join(f"{name} {pct(weight)}" for name, weight in top_weights(weights, top))
    hidden = len(weights) - top
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def metrics_line(label: str, metrics: dict[str, Any] | None) -> str:
    metrics = metrics or {}
    return (f"{label:<13} cagr {pct(metrics.get('cagr'))}  volatility {pct(metrics.get('volatility'))}  "
            f"sharpe {num(metrics.get('sharpe'))}  max drawdown {pct(metrics.get('max_drawdown'))}")


# --- one summary per answer -------------------------------------------------------------
def strategies_summary(body: dict[str, Any], _args: argparse.Namespace) -> list[str]:
    rows = [[s["strategy_id"], s.get("status", ""), s.get("owner") or "-",
             f"{float(s.get('reference_capital') or 0):,.0f}", s.get("name", "")] for s in body.get("strategies", [])]
    return [*table(rows, ["STRATEGY", "STATUS", "OWNER", "CAPITAL", "NAME"]), f"{len(rows)} strategies"]


def created_summary(body: dict[str, Any], _args: argparse.Namespace) -> list[str]:
    strategy = body.get("strategy", {})
    return [f"created {strategy.get('strategy_id')} ({strategy.get('status')})",
            f"webhook passphrase (shown only now, store it safely): {body.get('passphrase')}"]


def status_summary(body: dict[str, Any], _args: argparse.Namespace) -> list[str]:
    strategy = body.get("strategy", {})
    return [f"{strategy.get('strategy_id')} is now {strategy.get('status')}"]


def returns_summary(body: dict[str, Any], _args: argparse.Namespace) -> list[str]:
    return [f"{body.get('strategy_id')}: {body.get('days')} daily returns, {body.get('first')} .. {body.get('last')}"]


def portfolio_test_summary(body: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """An optimisation in a dozen lines: who, method, expected figures, top weights, how to approve."""
    request = body.get("request") or {}
    expected = body.get("expected") or {}
    weights = body.get("weights") or {}
    top = args.top
    lines = [f"{body.get('test_id')}  {body.get('status')}  method {request.get('method', '-')}  "
             f"by {body.get('requested_by')}  at {body.get('created_at')}",
             f"{'expected':<13} return {pct(expected.get('annual_return'))}  "
             f"volatility {pct(expected.get('annual_volatility'))}  sharpe {num(expected.get('sharpe'))}"]
    if "in_sample" in body:
        lines.append(metrics_line("in sample", body["in_sample"].get("metrics")))
    if "walk_forward" in body:
        walk = body["walk_forward"]
        lines.append(metrics_line("walk forward", walk.get("metrics")) + f"  ({len(walk.get('windows', []))} windows)")
        if "gross_metrics" in walk:
            trading = f"  turnover {num(walk.get('annual_turnover'))}/yr, costs {pct(walk.get('costs'))}"
            lines.append(metrics_line("before costs", walk["gross_metrics"]) + trading)
    shown = top_weights(weights, top)
    lines.append(f"weights (top {len(shown)} of {len(weights)}):")
    width = max((len(name) for name, _ in shown), default=0)
    lines += [f"  {name:<{width}}  {pct(weight):>6}" for name, weight in shown]
    if body.get("status") == "proposed":
        lines.append(f"approve with: python -m devstack.registry_cli approve {body.get('test_id')}")
    return lines


def portfolio_tests_summary(body: dict[str, Any], args: argparse.Namespace) -> list[str]:
    rows = [[t.get("test_id", ""), t.get("status", ""), (t.get("created_at") or "")[:19],
             num((t.get("expected") or {}).get("sharpe")), inline_weights(t.get("weights") or {}, args.top)]
            for t in body.get("tests", [])]
    return [*table(rows, ["TEST", "STATUS", "CREATED", "SHARPE", "WEIGHTS"]), f"{len(rows)} portfolio tests"]


def allocation_lines(allocation: dict[str, Any], label: str, top: int) -> list[str]:
    lines = [f"{label} v{allocation.get('version')}  from test {allocation.get('source_test_id') or '-'}  "
             f"approved by {allocation.get('approved_by') or '-'}  effective {allocation.get('effective_from') or '-'}"]
    accounts = allocation.get("weights") or {}
    width = max((len(account) for account in accounts), default=0)
    lines += [f"  {account:<{width}}  {inline_weights(weights, top)}" for account, weights in sorted(accounts.items())]
    return lines


def approve_summary(body: dict[str, Any], args: argparse.Namespace) -> list[str]:
    return allocation_lines(body.get("allocation") or {}, "approved allocation", args.top)


def allocation_summary(body: dict[str, Any], args: argparse.Namespace) -> list[str]:
    lines = allocation_lines(body.get("in_effect") or {}, "in effect", args.top)
    if body.get("pending"):
        lines += allocation_lines(body["pending"], "pending", args.top)
    return lines


def error_summary(status: int, body: Any) -> list[str]:
    if isinstance(body, dict) and "error" in body:
        return [f"error {status}: {body.get('error')} ({body.get('field')}): {body.get('reason')}"]
    return [f"error {status}: {str(body)[:500]}"]


# --- HTTP -------------------------------------------------------------------------------
def call(args: argparse.Namespace, method: str, path: str, summary: Summary, **kwargs: Any) -> int:
    """One request; prints the summary (or, with --json, the whole answer). 0 on a 2xx answer."""
    url = args.url.rstrip("/") + path
    headers = {"Authorization": f"Bearer {os.environ.get('MT_API_KEY', '')}", **kwargs.pop("headers", {})}
    try:
        answer = requests.request(method, url, headers=headers, timeout=120, **kwargs)
    except requests.RequestException as error:
        print(f"cannot reach {args.url}: {type(error).__name__} (set --url or MT_API_URL)", file=sys.stderr)
        return 2
    try:
        body: Any = answer.json()
    except ValueError:
        body = answer.text
    if args.json:
        print(json.dumps(body, indent=2) if not isinstance(body, str) else body)
    elif answer.ok and isinstance(body, dict):
        print("\n".join(summary(body, args)))
    else:
        print("\n".join(error_summary(answer.status_code, body)), file=sys.stderr)
    return 0 if answer.ok else 1


def parser() -> argparse.ArgumentParser:
    # The shared options work before or after the command: `--json tests` and `tests --json`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help=f"API base URL (beats MT_API_URL; default {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the whole JSON answer")
    common.add_argument("--top", type=int, default=argparse.SUPPRESS, help="weights shown per item (default 10)")
    main_parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], parents=[common])
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, parents=[common])

    command("strategies", "list the strategies you may see")
    create = command("create", "register a strategy (prints its webhook passphrase once)")
    create.add_argument("strategy_id")
    create.add_argument("name")
    create.add_argument("--owner")
    create.add_argument("--reference-capital", type=float, default=100_000.0)
    status = command("status", "move a strategy to live, paused or retired")
    status.add_argument("strategy_id")
    status.add_argument("status", choices=["live", "paused", "retired"])
    returns = command("returns", "upload a daily return series CSV (date,return or date,equity)")
    returns.add_argument("strategy_id")
    returns.add_argument("csv", type=Path)
    optimise = command("optimise", "run and store a portfolio test")
    optimise.add_argument("method", choices=METHODS)
    optimise.add_argument("strategy_ids", nargs="+")
    for option, kind, meaning in OPTIMISE_OPTIONS:
        optimise.add_argument(option, type=kind, help=f"{meaning} (the API's default when omitted)")
    command("tests", "list recent portfolio tests")
    test = command("test", "show one portfolio test")
    test.add_argument("test_id")
    approve = command("approve", "approve a portfolio test as the next allocation")
    approve.add_argument("test_id")
    approve.add_argument("--accounts", nargs="+")
    approve.add_argument("--effective-from")
    command("allocation", "the allocation in effect and any pending one")
    return main_parser


# Optional settings of a portfolio test, sent only when given: flag, type, meaning.
OPTIMISE_OPTIONS = (("--covariance", str, "sample, ledoit_wolf or ledoit_wolf_constant_variance"),
                    ("--max-volatility", float, "hybrid's annual volatility cap"),
                    ("--risk-free", float, "max_sharpe's annual risk-free rate"),
                    ("--cost-bp", float, "cost per unit of weight traded, in basis points"),
                    ("--rebalancing", str, "daily, weekly, monthly, quarterly, threshold or none"))


def main(argv: list[str] | None = None) -> int:
    load_env_file()  # MT_API_URL / MT_API_KEY may live in .env; the real environment wins
    args = parser().parse_args(argv)
    args.url = getattr(args, "url", None) or os.environ.get("MT_API_URL") or DEFAULT_URL
    args.json = getattr(args, "json", False)
    args.top = max(1, getattr(args, "top", 10))

    if args.command == "strategies":
        return call(args, "GET", "/api/strategies", strategies_summary)
    if args.command == "create":
        body = {"strategy_id": args.strategy_id, "name": args.name, "reference_capital": args.reference_capital}
        return call(args, "POST", "/api/strategies", created_summary,
                    json={**body, **({"owner": args.owner} if args.owner else {})})
    if args.command == "status":
        return call(args, "PATCH", f"/api/strategies/{args.strategy_id}", status_summary, json={"status": args.status})
    if args.command == "returns":
        return call(args, "PUT", f"/api/strategies/{args.strategy_id}/returns", returns_summary,
                    data=args.csv.read_bytes(), headers={"Content-Type": "text/csv"})
    if args.command == "optimise":
        return call(args, "POST", "/api/portfolio/tests", portfolio_test_summary,
                    json={"method": args.method, "strategy_ids": args.strategy_ids,
                          **{field: value for option, _, _ in OPTIMISE_OPTIONS
                             if (value := getattr(args, field := option[2:].replace("-", "_"))) is not None}})
    if args.command == "tests":
        return call(args, "GET", "/api/portfolio/tests", portfolio_tests_summary)
    if args.command == "test":
        return call(args, "GET", f"/api/portfolio/tests/{args.test_id}", portfolio_test_summary)
    if args.command == "allocation":
        return call(args, "GET", "/api/allocation", allocation_summary)
    body = {k: v for k, v in (("account_ids", args.accounts), ("effective_from", args.effective_from)) if v}
    return call(args, "POST", f"/api/portfolio/tests/{args.test_id}/approve", approve_summary, json=body)


if __name__ == "__main__":
    sys.exit(main())
