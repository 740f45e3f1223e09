#!/usr/bin/env python3
"""Core-protocol cross-client checks using nats-py (no pytest needed).

Connects to $NATS_URL (default nats://127.0.0.1:4222), runs each check with
its own timeout, prints `ok - name` / `not ok - name: reason` per check, then
`N passed, M failed`, and exits non-zero if anything failed.
Requires only `pip install nats-py`.
"""
import asyncio
import os
import sys
import time
import traceback

import nats
from nats.errors import NoRespondersError

URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
CHECK_TIMEOUT = 10.0  # seconds per check
MSG_TIMEOUT = 5.0  # seconds to wait for any single message


class CheckError(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckError(what)


async def connect():
    async def quiet(_err):  # errors surface through the checks themselves
        pass

    return await nats.connect(
        URL, allow_reconnect=False, connect_timeout=5, error_cb=quiet
    )


async def barrier(nc):
    """Round trip that the server has processed everything we sent before it.

    nats-py's flush() writes its PING straight to the socket, ahead of commands
    still buffered for the flusher task, so one flush() is not an ordering
    barrier. The first flush() forces the buffer out; the second one's PONG
    then follows everything the server sent us in response to our commands.
    """
    await nc.flush(timeout=5)
    await nc.flush(timeout=5)


async def next_msgs(sub, n):
    return [await sub.next_msg(timeout=MSG_TIMEOUT) for _ in range(n)]


# --- checks -----------------------------------------------------------------
# Each check gets `open_conn()`; connections opened through it are closed by
# the runner afterwards, whatever the outcome.


async def check_pub_sub(open_conn):
    sub_nc, pub_nc = await open_conn(), await open_conn()
    sub = await sub_nc.subscribe("t.pubsub")
    await barrier(sub_nc)  # SUB is registered before anyone publishes
    payloads = [b"one", b"two", b""]
    for p in payloads:
        await pub_nc.publish("t.pubsub", p)
    await pub_nc.flush()
    msgs = await next_msgs(sub, 3)
    expect([m.subject for m in msgs] == ["t.pubsub"] * 3, f"subjects {[m.subject for m in msgs]}")
    expect([m.data for m in msgs] == payloads, f"payloads {[m.data for m in msgs]}")


async def _wildcard(open_conn, pattern, expected):
    # Single connection: after barrier(), every message routed to us precedes
    # the PONG, so anything unexpected is already sitting in the queue.
    nc = await open_conn()
    sub = await nc.subscribe(pattern)
    for subj in ["w.a", "w.a.b", "w", "x.a", "w.b", "wx.a"]:
        await nc.publish(subj, subj.encode())
    await barrier(nc)
    msgs = await next_msgs(sub, len(expected))
    got = [m.subject for m in msgs]
    expect(got == expected, f"got subjects {got}, want {expected}")
    expect(all(m.data == m.subject.encode() for m in msgs), "payload/subject mismatch")
    expect(sub.pending_msgs == 0, f"{sub.pending_msgs} unexpected extra message(s)")


async def check_wildcard_star(open_conn):
    await _wildcard(open_conn, "w.*", ["w.a", "w.b"])


async def check_wildcard_gt(open_conn):
    await _wildcard(open_conn, "w.>", ["w.a", "w.a.b", "w.b"])


async def check_queue_group(open_conn):
    nc = await open_conn()
    n = 100
    counts = {"a": [], "b": []}
    done = asyncio.Event()

    def member(name):
        async def cb(msg):
            counts[name].append(int(msg.data))
            if len(counts["a"]) + len(counts["b"]) >= n:
                done.set()

        return cb

    await nc.subscribe("t.queue", queue="workers", cb=member("a"))
    await nc.subscribe("t.queue", queue="workers", cb=member("b"))
    for i in range(n):
        await nc.publish("t.queue", str(i).encode())
    await barrier(nc)
    await asyncio.wait_for(done.wait(), MSG_TIMEOUT)
    delivered = sorted(counts["a"] + counts["b"])
    expect(nc.stats["in_msgs"] == n, f"server delivered {nc.stats['in_msgs']} msgs, want {n}")
    expect(delivered == list(range(n)), f"each message not delivered exactly once ({len(delivered)} total)")
    expect(counts["a"] and counts["b"], f"unbalanced: a={len(counts['a'])} b={len(counts['b'])}")


async def check_request_reply(open_conn):
    svc, cli = await open_conn(), await open_conn()

    async def responder(msg):
        await svc.publish(msg.reply, b"re:" + msg.data)

    await svc.subscribe("t.svc", cb=responder)
    await barrier(svc)
    for i in range(3):
        resp = await cli.request("t.svc", f"q{i}".encode(), timeout=MSG_TIMEOUT)
        expect(resp.data == f"re:q{i}".encode(), f"reply {resp.data!r}")


async def check_request_headers(open_conn):
    svc, cli = await open_conn(), await open_conn()
    seen = asyncio.get_running_loop().create_future()

    async def responder(msg):
        if not seen.done():
            seen.set_result(dict(msg.headers or {}))
        hdrs = dict(msg.headers or {})
        hdrs["X-Reply"] = "yes"
        await svc.publish(msg.reply, msg.data, headers=hdrs)

    await svc.subscribe("t.hdrs", cb=responder)
    await barrier(svc)
    sent = {"X-Test": "abc", "X-Other": "a value: with colon"}
    resp = await cli.request("t.hdrs", b"body", timeout=MSG_TIMEOUT, headers=sent)
    got_req = await asyncio.wait_for(seen, MSG_TIMEOUT)
    for k, v in sent.items():
        expect(got_req.get(k) == v, f"responder saw headers {got_req}")
    expect(resp.data == b"body", f"reply payload {resp.data!r}")
    want = {**sent, "X-Reply": "yes"}
    for k, v in want.items():
        expect((resp.headers or {}).get(k) == v, f"reply headers {resp.headers}")


async def check_no_responders(open_conn):
    nc = await open_conn()
    start = time.monotonic()
    try:
        await nc.request("t.nobody.home", b"?", timeout=5)
    except NoRespondersError:
        elapsed = time.monotonic() - start
        expect(elapsed < 2.0, f"NoRespondersError took {elapsed:.2f}s")
        return
    except Exception as e:  # e.g. TimeoutError when the server sends no 503
        raise CheckError(f"expected NoRespondersError, got {type(e).__name__}")
    raise CheckError("request unexpectedly got a reply")


async def check_unsubscribe_max(open_conn):
    nc = await open_conn()
    sub = await nc.subscribe("t.max")
    await sub.unsubscribe(limit=3)
    for i in range(10):
        await nc.publish("t.max", str(i).encode())
    await barrier(nc)
    msgs = await next_msgs(sub, 3)
    expect([m.data for m in msgs] == [b"0", b"1", b"2"], f"got {[m.data for m in msgs]}")
    # in_msgs counts every MSG the server sent, even ones the client drops.
    expect(nc.stats["in_msgs"] == 3, f"server sent {nc.stats['in_msgs']} msgs, want 3")


async def check_large_payload(open_conn):
    sub_nc, pub_nc = await open_conn(), await open_conn()
    sub = await sub_nc.subscribe("t.big")
    await barrier(sub_nc)
    data = os.urandom(1_000_000)
    await pub_nc.publish("t.big", data)
    await pub_nc.flush()
    msg = await sub.next_msg(timeout=MSG_TIMEOUT)
    expect(len(msg.data) == len(data), f"got {len(msg.data)} bytes")
    expect(msg.data == data, "payload corrupted")


async def check_flush(open_conn):
    nc = await open_conn()
    for _ in range(3):  # plain PING/PONG round trips
        await nc.flush(timeout=5)
    sub = await nc.subscribe("t.flush")
    for i in range(5):
        await nc.publish("t.flush", str(i).encode())
    await barrier(nc)
    # The server answers PING after delivering our own earlier MSGs.
    expect(sub.pending_msgs == 5, f"pending after flush = {sub.pending_msgs}, want 5")


async def check_server_info(open_conn):
    nc = await open_conn()
    info = nc._server_info
    expect(nc.max_payload == 1048576, f"max_payload {nc.max_payload}")
    expect(isinstance(info.get("server_id"), str) and info["server_id"], f"server_id {info.get('server_id')!r}")
    expect(info.get("headers") is True, f"headers {info.get('headers')!r}")
    expect(info.get("proto") == 1, f"proto {info.get('proto')!r}")


CHECKS = [
    ("pub_sub", check_pub_sub),
    ("wildcard_star", check_wildcard_star),
    ("wildcard_gt", check_wildcard_gt),
    ("queue_group", check_queue_group),
    ("request_reply", check_request_reply),
    ("request_headers", check_request_headers),
    ("no_responders", check_no_responders),
    ("unsubscribe_max", check_unsubscribe_max),
    ("large_payload", check_large_payload),
    ("flush", check_flush),
    ("server_info", check_server_info),
]


async def run_check(fn):
    conns = []

    async def open_conn():
        nc = await connect()
        conns.append(nc)
        return nc

    try:
        await asyncio.wait_for(fn(open_conn), CHECK_TIMEOUT)
    finally:
        for nc in conns:
            try:
                await asyncio.wait_for(nc.close(), 2)
            except Exception:
                pass


async def main():
    passed = failed = 0
    for name, fn in CHECKS:
        try:
            await run_check(fn)
            print(f"ok - {name}", flush=True)
            passed += 1
        except Exception as e:
            if isinstance(e, asyncio.TimeoutError):
                reason = f"timed out ({type(e).__name__})"
            elif isinstance(e, CheckError):
                reason = str(e)
            else:
                reason = f"{type(e).__name__}: {e}"
                if os.environ.get("VERBOSE"):
                    traceback.print_exc()
            print(f"not ok - {name}: {reason}", flush=True)
            failed += 1
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
