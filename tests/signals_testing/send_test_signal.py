"""Send a sample signal to a running stack's webhook, as TradingView or a developer would.

    python tests/signals_testing/send_test_signal.py --file sample_signals/equity_buy.json
    python tests/signals_testing/send_test_signal.py --file sample_signals/tradingview_text_alert.txt

JSON files are sent as application/json with a fresh ``signal_id`` (so the same sample
can be sent again and trade again) unless ``--keep-id`` is given: then a resend is a
duplicate, exactly as a TradingView retry would be. ``.txt`` files are TradingView's
plain-text strategy message, sent as text/plain with the credentials in the query
string, read from the ``.query`` file beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "http://127.0.0.1:8080/webhook"


def build_request(path: Path, url: str, keep_id: bool) -> urllib.request.Request:
    """The HTTP request for one sample file."""
    if path.suffix == ".txt":
        query_file = path.with_suffix(".query")
        query = query_file.read_text().strip() if query_file.exists() else ""
        target = f"{url}?{query}" if query else url
        return urllib.request.Request(target, data=path.read_bytes(), method="POST",
                                      headers={"Content-Type": "text/plain; charset=utf-8"})
    document = json.loads(path.read_text())
    if not keep_id:
        document["signal_id"] = f"{path.stem}-{uuid.uuid4().hex[:12]}"
    return urllib.request.Request(url, data=json.dumps(document).encode(), method="POST",
                                  headers={"Content-Type": "application/json"})


def send(request: urllib.request.Request, timeout: float = 10.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def resolve(name: str) -> Path:
    """Accept a path as given, or relative to this folder (sample_signals/<name>)."""
    for candidate in (Path(name), HERE / name, HERE / "sample_signals" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no sample signal file {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", required=True, help="a file in sample_signals/ (.json or .txt)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"webhook URL (default {DEFAULT_URL})")
    parser.add_argument("--keep-id", action="store_true", help="send the file's own signal_id, if any")
    args = parser.parse_args(argv)
    try:
        path = resolve(args.file)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        status, body = send(build_request(path, args.url, args.keep_id))
    except OSError as error:
        print(f"could not reach {args.url}: {error} (is `make run` going?)", file=sys.stderr)
        return 1
    print(f"{status} {json.dumps(body)}")
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
