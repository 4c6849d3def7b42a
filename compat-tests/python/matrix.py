"""Scenario bookkeeping shared by the client scripts of the compatibility matrix.

Each script runs the matrix scenarios with its client and prints one line per scenario:
`SCENARIO <name> pass|fail|n/a <detail>`; the Rust harness (tests/matrix.rs) collects them.
"""

import sys
import time
import traceback

SCENARIOS = [
    "create-topic",
    "produce-keyed-with-headers",
    "consume-from-beginning",
    "group-commit",
    "resume-at-committed-offset",
    "list-describe-groups",
    "lag",
]
DEADLINE = time.monotonic() + 150


def report(name, outcome, detail=""):
    print("SCENARIO %s %s %s" % (name, outcome, detail.replace("\n", " ")[:300]), flush=True)


def run(name, scenario):
    """Runs one scenario; a failure is reported and does not stop the others."""
    try:
        detail = scenario()
        report(name, "pass", detail or "")
        return True
    except Exception as error:  # noqa: BLE001 - every failure is a result here
        traceback.print_exc(file=sys.stderr)
        report(name, "fail", "%s: %s" % (type(error).__name__, error))
        return False


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expired():
    return time.monotonic() > DEADLINE
