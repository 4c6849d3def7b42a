"""Scenario bookkeeping shared by the client scripts of the compatibility matrix.

Each script runs the matrix scenarios with its client and prints one line per scenario:
`SCENARIO <name> pass|fail|n/a <detail>`; the Rust harness (tests/matrix.rs) collects them.
"""

import os
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

# How to reach the broker, from the harness: SPOOL_SECURITY_PROTOCOL (PLAINTEXT, SSL,
# SASL_PLAINTEXT, SASL_SSL), SPOOL_SSL_CA (the PEM file of the CA that signed the broker's
# certificate) and SPOOL_SASL_MECHANISM / _USERNAME / _PASSWORD.
SECURITY_PROTOCOL = os.environ.get("SPOOL_SECURITY_PROTOCOL", "PLAINTEXT")
SSL_CA = os.environ.get("SPOOL_SSL_CA")
SASL_MECHANISM = os.environ.get("SPOOL_SASL_MECHANISM")
SASL_USERNAME = os.environ.get("SPOOL_SASL_USERNAME")
SASL_PASSWORD = os.environ.get("SPOOL_SASL_PASSWORD")


def librdkafka_config(bootstrap):
    """confluent-kafka's settings to reach `bootstrap`."""
    config = {"bootstrap.servers": bootstrap, "security.protocol": SECURITY_PROTOCOL}
    if SSL_CA:
        config["ssl.ca.location"] = SSL_CA
    if SASL_MECHANISM:
        config.update({"sasl.mechanisms": SASL_MECHANISM, "sasl.username": SASL_USERNAME,
                       "sasl.password": SASL_PASSWORD})
    return config


def kafka_python_args(bootstrap):
    """kafka-python's keyword arguments to reach `bootstrap`."""
    args = {"bootstrap_servers": bootstrap, "security_protocol": SECURITY_PROTOCOL}
    if SSL_CA:
        args["ssl_cafile"] = SSL_CA
    return {**args, **python_sasl_args()}


def aiokafka_args(bootstrap):
    """aiokafka's keyword arguments to reach `bootstrap`."""
    args = {"bootstrap_servers": bootstrap, "security_protocol": SECURITY_PROTOCOL}
    if SSL_CA:
        from aiokafka.helpers import create_ssl_context
        args["ssl_context"] = create_ssl_context(cafile=SSL_CA)
    return {**args, **python_sasl_args()}


def python_sasl_args():
    """The SASL keyword arguments kafka-python and aiokafka share."""
    if not SASL_MECHANISM:
        return {}
    return {"sasl_mechanism": SASL_MECHANISM, "sasl_plain_username": SASL_USERNAME,
            "sasl_plain_password": SASL_PASSWORD}


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
