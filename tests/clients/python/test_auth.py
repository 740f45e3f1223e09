#!/usr/bin/env python3
"""Authentication cross-client checks with nats-py: user/password, token, NKeys,
`.creds` (operator JWTs), permission errors and TLS, each against its own server started
from a config file.

Needs $NATSD_BIN (the server binary), $NATSD_TEST_NKEY_SEED (a user seed),
$NATSD_TEST_TLS_DIR (ca.pem, server-cert.pem, server-key.pem, client-cert.pem,
client-key.pem) and $NATSD_TEST_JWT_DIR (operator.conf trusting an operator, user.creds
of a user of one of its accounts, stranger.creds of another operator's user); the test
that runs this script makes them. Prints `ok - name` / `not ok - name: reason` per check,
then `N passed, M failed`, and exits non-zero if anything failed.
Requires `pip install nats-py nkeys`.
"""
import asyncio
import os
import re
import ssl
import subprocess
import sys
import tempfile
import traceback

import nats
import nkeys

BIN = os.environ["NATSD_BIN"]
SEED = os.environ["NATSD_TEST_NKEY_SEED"]
TLS_DIR = os.environ["NATSD_TEST_TLS_DIR"]
JWT_DIR = os.environ["NATSD_TEST_JWT_DIR"]
CHECK_TIMEOUT = 15.0
START_TIMEOUT = 10.0


class CheckError(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckError(what)


class Server:
    """The server binary started from `config`, stopped on exit."""

    def __init__(self, config):
        self.dir = tempfile.TemporaryDirectory()
        path = os.path.join(self.dir.name, "server.conf")
        with open(path, "w") as f:
            f.write("host: 127.0.0.1\nport: -1\n" + config)
        self.proc = subprocess.Popen(
            [BIN, "-c", path], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.url = None

    async def __aenter__(self):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while loop.time() < deadline:
            line = await loop.run_in_executor(None, self.proc.stderr.readline)
            if not line:
                break
            found = re.search(r"Listening for client connections on (\S+)", line)
            if found:
                self.url = "nats://" + found.group(1)
            if "Server is ready" in line:
                return self
        raise CheckError("server did not start")

    async def __aexit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


async def quiet(_err):
    pass


async def refused(url, **options):
    try:
        nc = await nats.connect(
            url, allow_reconnect=False, connect_timeout=5, error_cb=quiet, **options
        )
    except Exception as err:  # nats-py raises its own error types for -ERR at connect
        return str(err)
    await nc.close()
    raise CheckError("connected with wrong credentials")


async def round_trip(nc, subject):
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"hello")
    msg = await sub.next_msg(timeout=5)
    expect(msg.data == b"hello", "message came back")


async def check_user_password():
    async with Server("authorization { user: alice, password: s3cret }\n") as s:
        host = s.url[len("nats://"):]
        nc = await nats.connect(f"nats://alice:s3cret@{host}", allow_reconnect=False)
        await round_trip(nc, "up")
        await nc.close()
        error = await refused(f"nats://alice:wrong@{host}")
        expect("authorization violation" in error.lower(), f"refusal says why: {error}")


async def check_token():
    async with Server("authorization { token: t0k3n }\n") as s:
        nc = await nats.connect(s.url, token="t0k3n", allow_reconnect=False)
        await round_trip(nc, "tok")
        await nc.close()
        await refused(s.url, token="nope")


async def check_nkeys():
    public = nkeys.from_seed(SEED.encode()).public_key.decode()
    async with Server(f"authorization {{ users: [ {{ nkey: {public} }} ] }}\n") as s:
        nc = await nats.connect(s.url, nkeys_seed_str=SEED, allow_reconnect=False)
        await round_trip(nc, "nk")
        await nc.close()


async def check_permission_errors():
    config = (
        "authorization { users: [ {user: u, password: p, permissions: "
        '{publish: {deny: "secret.>"}, subscribe: {deny: "hidden"}}} ] }\n'
    )
    async with Server(config) as s:
        errors = []

        async def collect(err):
            errors.append(str(err))

        host = s.url[len("nats://"):]
        nc = await nats.connect(f"nats://u:p@{host}", allow_reconnect=False, error_cb=collect)
        await nc.publish("secret.plan", b"x")
        await nc.subscribe("hidden")
        await nc.flush(timeout=5)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while len(errors) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        text = " | ".join(errors).lower()
        expect('permissions violation for publish to "secret.plan"' in text, text)
        expect('permissions violation for subscription to "hidden"' in text, text)
        expect(nc.is_connected, "the connection stays open")
        await round_trip(nc, "public")
        await nc.close()


async def check_creds():
    with open(os.path.join(JWT_DIR, "operator.conf")) as f:
        config = f.read()
    async with Server(config) as s:
        nc = await nats.connect(
            s.url,
            user_credentials=os.path.join(JWT_DIR, "user.creds"),
            allow_reconnect=False,
        )
        await round_trip(nc, "decentralized")
        await nc.close()
        await refused(s.url, user_credentials=os.path.join(JWT_DIR, "stranger.creds"))


def tls_file(name):
    return os.path.join(TLS_DIR, name)


async def check_tls():
    config = (
        f'tls {{ cert_file: "{tls_file("server-cert.pem")}", key_file: "{tls_file("server-key.pem")}", '
        f'ca_file: "{tls_file("ca.pem")}", verify: true }}\n'
    )
    async with Server(config) as s:
        context = ssl.create_default_context(cafile=tls_file("ca.pem"))
        context.load_cert_chain(tls_file("client-cert.pem"), tls_file("client-key.pem"))
        host = s.url[len("nats://"):]
        nc = await nats.connect(f"tls://{host}", tls=context, allow_reconnect=False)
        await round_trip(nc, "sealed")
        await nc.close()
        # Without a client certificate the handshake fails.
        bare = ssl.create_default_context(cafile=tls_file("ca.pem"))
        await refused(f"tls://{host}", tls=bare)


CHECKS = [
    check_user_password,
    check_token,
    check_nkeys,
    check_creds,
    check_permission_errors,
    check_tls,
]


async def main():
    passed = failed = 0
    for check in CHECKS:
        name = check.__name__[len("check_"):]
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT)
            print(f"ok - {name}")
            passed += 1
        except Exception as err:
            print(f"not ok - {name}: {err!r}")
            traceback.print_exc()
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return failed == 0


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(main()) else 1)
