#!/usr/bin/env python3
"""How long one client's work stalls another client, against a running server.

  bench/stalls.py unsubscribe PORT MONITOR_PORT [--subs N] [--same-subject]
      A client with N subscriptions closes; meanwhile two other clients PING (one PUBs
      first, to a subject nobody wants). Prints the removal time (until /varz shows the
      subscriptions gone) and the worst round trip of each other client.
  bench/stalls.py violations PORT [--count N]
      Start the server with bench/stalls.conf. User `bad` sends N publishes it is denied;
      meanwhile user `ok` PINGs. Prints the worst PING round trip.

Standard library only; loopback only; every loop is bounded in time.
"""
import argparse
import json
import socket
import threading
import time
import urllib.request


class Conn:
    def __init__(self, port, user=None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        self.file.readline()
        creds = f',"user":"{user}","pass":"{user}"' if user else ""
        self.sock.sendall(b'CONNECT {"verbose":false%s}\r\n' % creds.encode())

    def sync(self, prefix=b""):
        self.sock.sendall(prefix + b"PING\r\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.file.readline()
            if line == b"PONG\r\n":
                return
            if not line:
                raise SystemExit("server closed the connection")
        raise SystemExit("no PONG within 30 s")

    def close(self):
        # The socket closes only once its file object is closed too.
        self.file.close()
        self.sock.close()


def worst_round_trips(conns, until, prefixes):
    worst = [0.0] * len(conns)

    def ping(i):
        while time.monotonic() < until:
            started = time.perf_counter()
            conns[i].sync(prefixes[i])
            worst[i] = max(worst[i], time.perf_counter() - started)

    threads = [threading.Thread(target=ping, args=(i,)) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    return threads, worst


def unsubscribe(args):
    def subscriptions():
        url = f"http://127.0.0.1:{args.monitor_port}/varz"
        return json.load(urllib.request.urlopen(url, timeout=10))["subscriptions"]

    base = subscriptions()
    crowd = Conn(args.port)
    if args.same_subject:
        subs = b"".join(b"SUB crowd %d\r\n" % i for i in range(args.subs))
    else:
        subs = b"".join(b"SUB crowd.%d %d\r\n" % (i, i) for i in range(args.subs))
    crowd.sock.sendall(subs)
    crowd.sync()
    others = [Conn(args.port), Conn(args.port)]
    for other in others:
        other.sync()
    threads, worst = worst_round_trips(
        others, time.monotonic() + 2.0, [b"", b"PUB nobody 1\r\nx\r\n"]
    )
    time.sleep(0.2)
    crowd.close()
    started = time.perf_counter()
    deadline = time.monotonic() + 60
    while subscriptions() > base and time.monotonic() < deadline:
        pass
    removal = time.perf_counter() - started
    for thread in threads:
        thread.join()
    kind = "one subject" if args.same_subject else "distinct subjects"
    print(
        f"{args.subs} subscriptions ({kind}): removed in {removal * 1000:.0f} ms, "
        f"worst PING {worst[0] * 1000:.1f} ms, worst PUB+PING {worst[1] * 1000:.1f} ms"
    )


def violations(args):
    bad, ok = Conn(args.port, "bad"), Conn(args.port, "ok")
    bad.sync()
    ok.sync()

    def drain():
        while bad.file.readline():
            pass

    threading.Thread(target=drain, daemon=True).start()
    threads, worst = worst_round_trips([ok], time.monotonic() + 1.5, [b""])
    bad.sock.sendall(b"PUB secret 1\r\nx\r\n" * args.count)
    for thread in threads:
        thread.join()
    print(f"{args.count} violations: worst PING of another client {worst[0] * 1000:.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    u = sub.add_parser("unsubscribe")
    u.add_argument("port", type=int)
    u.add_argument("monitor_port", type=int)
    u.add_argument("--subs", type=int, default=100_000)
    u.add_argument("--same-subject", action="store_true")
    v = sub.add_parser("violations")
    v.add_argument("port", type=int)
    v.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    {"unsubscribe": unsubscribe, "violations": violations}[args.scenario](args)


if __name__ == "__main__":
    main()
