"""Issue, revoke and rotate API keys directly in the store: how the first admin key of a
new deployment is made (later keys can be too). Uses the store the environment names
(MT_STORE=firestore with GOOGLE_CLOUD_PROJECT in GCP; application-default credentials).

    python -m devstack.keys issue admin alice --label "ops laptop"
    python -m devstack.keys revoke <key id>
    python -m devstack.keys rotate <key id>
"""

from __future__ import annotations

import argparse
import sys
from typing import get_args

from shared.auth.api_keys import ApiKeys, Role
from shared.bootstrap import build_store
from shared.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="a new key; its token is printed once")
    issue.add_argument("role", choices=get_args(Role))
    issue.add_argument("subject", help="admin name, developer id (a strategy's owner) or client id")
    issue.add_argument("--label", default="")
    issue.add_argument("--rate-limit", type=int, default=120, help="requests per minute")
    for name in ("revoke", "rotate"):
        commands.add_parser(name, help=f"{name} a key").add_argument("key_id")
    args = parser.parse_args(argv)

    store = build_store(Settings.from_env())
    keys = ApiKeys(store)
    try:
        if args.command == "issue":
            key, token = keys.issue(args.role, args.subject, args.label, args.rate_limit)
        elif args.command == "rotate":
            key, token = keys.rotate(args.key_id)
        else:
            key, token = keys.revoke(args.key_id), ""
    except KeyError:
        print(f"no key {args.key_id}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"key {key.key_id}: {key.role} {key.subject}, {'active' if key.active else 'revoked'}")
    if token:
        print(f"token (shown once, store it now): {token}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
