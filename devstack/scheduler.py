"""Stands in for Cloud Scheduler on the emulated stack: POST to a URL every N seconds."""

from __future__ import annotations

import argparse
import time

import requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--every", type=float, default=15.0)
    args = parser.parse_args(argv)
    while True:
        try:
            answer = requests.post(args.url, timeout=30)
            print(f"{time.strftime('%H:%M:%S')} {answer.status_code} {answer.text.strip()}", flush=True)
        except requests.RequestException as error:
            print(f"{time.strftime('%H:%M:%S')} failed: {error}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    main()
