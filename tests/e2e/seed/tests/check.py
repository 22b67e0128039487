"""Checks a running seed app: `check.py <app url> [seconds to wait]`.

Waits until the app answers, then checks `/health` and that `/` greets with the text of
expected.txt and names a version. Exits 1 on the first failed check.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EXPECTED = (Path(__file__).parent / "expected.txt").read_text().strip()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_until_up(base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fetch(f"{base}/health")
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                sys.exit(f"FAIL: {base} did not answer within {seconds:.0f} s ({exc})")
            time.sleep(0.5)


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: check.py <app url> [seconds to wait]")
    base = sys.argv[1].rstrip("/")
    if os.environ.get("SEED_COMMIT"):
        print(f"testing commit {os.environ['SEED_COMMIT']} of {os.environ.get('SEED_BRANCH')}")
    wait_until_up(base, float(sys.argv[2]) if len(sys.argv) == 3 else 30.0)
    failures = 0
    status, body = fetch(f"{base}/health")
    if status == 200:
        print("PASS /health answers 200")
    else:
        print(f"FAIL /health answered {status}: {body.strip()!r}")
        failures += 1
    status, body = fetch(f"{base}/")
    greeting = body.strip()
    if status == 200 and greeting.startswith(EXPECTED) and "(version " in greeting:
        print(f"PASS / greets: {greeting}")
    else:
        print(f"FAIL / answered {status} {greeting!r}, expected {EXPECTED!r} and a version")
        failures += 1
    print(f"{failures} check(s) failed" if failures else "all checks passed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
