// Core-protocol cross-client checks using the `nats` npm package (v2).
//
// Connects to $NATS_URL (default nats://127.0.0.1:4222), runs each check with
// its own timeout, prints `ok - name` / `not ok - name: reason` per check, then
// `N passed, M failed`, and exits non-zero if anything failed.
// Setup: `npm install --no-save nats@2` in this directory.
import { randomBytes } from "node:crypto";
import { connect, StringCodec, headers, Empty, ErrorCode } from "nats";

const URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const CHECK_TIMEOUT_MS = 10_000;
const MSG_TIMEOUT_MS = 5_000;
const sc = StringCodec();

class CheckError extends Error {}

function expect(cond, what) {
  if (!cond) throw new CheckError(what);
}

const show = (v) => JSON.stringify(v);

// Resolves when `n` messages have reached a callback subscription. nats.js
// runs callbacks synchronously while parsing, so once nc.flush() resolves every
// MSG the server sent before its PONG has already been recorded.
function collector(n = Infinity) {
  const msgs = [];
  let resolve;
  const full = new Promise((r) => (resolve = r));
  const callback = (err, msg) => {
    if (err) return;
    msgs.push(msg);
    if (msgs.length >= n) resolve(msgs);
  };
  const wait = () => withTimeout(full, MSG_TIMEOUT_MS, `waiting for ${n} msgs, got ${msgs.length}`);
  return { msgs, callback, wait };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckError(`timed out: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// --- checks ------------------------------------------------------------------
// Each check gets `open()`; connections opened through it are closed by the
// runner afterwards, whatever the outcome.

async function checkPubSub(open) {
  const subNc = await open();
  const pubNc = await open();
  const c = collector(3);
  subNc.subscribe("t.pubsub", { callback: c.callback });
  await subNc.flush(); // SUB is registered before anyone publishes
  const payloads = ["one", "two", ""];
  for (const p of payloads) pubNc.publish("t.pubsub", sc.encode(p));
  await pubNc.flush();
  const msgs = await c.wait();
  expect(msgs.every((m) => m.subject === "t.pubsub"), `subjects ${show(msgs.map((m) => m.subject))}`);
  const got = msgs.map((m) => sc.decode(m.data));
  expect(show(got) === show(payloads), `payloads ${show(got)}`);
}

async function wildcard(open, pattern, expected) {
  // Single connection: after flush(), every message routed to us precedes
  // the PONG, so anything unexpected has already been collected.
  const nc = await open();
  const c = collector();
  nc.subscribe(pattern, { callback: c.callback });
  for (const s of ["w.a", "w.a.b", "w", "x.a", "w.b", "wx.a"]) nc.publish(s, sc.encode(s));
  await nc.flush();
  const got = c.msgs.map((m) => m.subject);
  expect(show(got) === show(expected), `got subjects ${show(got)}, want ${show(expected)}`);
  expect(c.msgs.every((m) => sc.decode(m.data) === m.subject), "payload/subject mismatch");
}

const checkWildcardStar = (open) => wildcard(open, "w.*", ["w.a", "w.b"]);
const checkWildcardGt = (open) => wildcard(open, "w.>", ["w.a", "w.a.b", "w.b"]);

async function checkQueueGroup(open) {
  const nc = await open();
  const n = 100;
  const a = collector();
  const b = collector();
  nc.subscribe("t.queue", { queue: "workers", callback: a.callback });
  nc.subscribe("t.queue", { queue: "workers", callback: b.callback });
  for (let i = 0; i < n; i++) nc.publish("t.queue", sc.encode(String(i)));
  await nc.flush();
  const ids = [...a.msgs, ...b.msgs].map((m) => Number(sc.decode(m.data))).sort((x, y) => x - y);
  expect(nc.stats().inMsgs === n, `server delivered ${nc.stats().inMsgs} msgs, want ${n}`);
  expect(ids.length === n && ids.every((v, i) => v === i), `each message not delivered exactly once (${ids.length} total)`);
  expect(a.msgs.length > 0 && b.msgs.length > 0, `unbalanced: a=${a.msgs.length} b=${b.msgs.length}`);
}

async function checkRequestReply(open) {
  const svc = await open();
  const cli = await open();
  svc.subscribe("t.svc", { callback: (_, m) => m.respond(sc.encode("re:" + sc.decode(m.data))) });
  await svc.flush();
  for (let i = 0; i < 3; i++) {
    const resp = await cli.request("t.svc", sc.encode(`q${i}`), { timeout: MSG_TIMEOUT_MS });
    expect(sc.decode(resp.data) === `re:q${i}`, `reply ${show(sc.decode(resp.data))}`);
  }
}

async function checkRequestHeaders(open) {
  const svc = await open();
  const cli = await open();
  let seen = null;
  svc.subscribe("t.hdrs", {
    callback: (_, m) => {
      seen ??= m.headers;
      const h = headers();
      for (const [k, vs] of m.headers ?? []) for (const v of vs) h.append(k, v);
      h.set("X-Reply", "yes");
      m.respond(m.data, { headers: h });
    },
  });
  await svc.flush();
  const sent = { "X-Test": "abc", "X-Other": "a value: with colon" };
  const h = headers();
  for (const [k, v] of Object.entries(sent)) h.set(k, v);
  const resp = await cli.request("t.hdrs", sc.encode("body"), { timeout: MSG_TIMEOUT_MS, headers: h });
  expect(seen, "responder saw no headers");
  for (const [k, v] of Object.entries(sent)) {
    expect(seen.get(k) === v, `responder saw ${k}=${show(seen.get(k))}`);
  }
  expect(sc.decode(resp.data) === "body", `reply payload ${show(sc.decode(resp.data))}`);
  for (const [k, v] of Object.entries({ ...sent, "X-Reply": "yes" })) {
    expect(resp.headers?.get(k) === v, `reply header ${k}=${show(resp.headers?.get(k))}`);
  }
}

async function checkNoResponders(open) {
  const nc = await open();
  const start = Date.now();
  let err = null;
  try {
    await nc.request("t.nobody.home", Empty, { timeout: 5_000 });
  } catch (e) {
    err = e;
  }
  expect(err, "request unexpectedly got a reply");
  expect(err.code === ErrorCode.NoResponders, `expected no-responders (503), got ${err.code ?? err.message}`);
  const elapsed = Date.now() - start;
  expect(elapsed < 2_000, `no-responders took ${elapsed} ms`);
}

async function checkUnsubscribeMax(open) {
  const nc = await open();
  const c = collector();
  const sub = nc.subscribe("t.max", { callback: c.callback });
  sub.unsubscribe(3);
  for (let i = 0; i < 10; i++) nc.publish("t.max", sc.encode(String(i)));
  await nc.flush();
  const got = c.msgs.map((m) => sc.decode(m.data));
  expect(show(got) === show(["0", "1", "2"]), `got ${show(got)}`);
  // inMsgs counts every MSG the server sent, even ones the client drops.
  expect(nc.stats().inMsgs === 3, `server sent ${nc.stats().inMsgs} msgs, want 3`);
}

async function checkLargePayload(open) {
  const subNc = await open();
  const pubNc = await open();
  const c = collector(1);
  subNc.subscribe("t.big", { callback: c.callback });
  await subNc.flush();
  const data = randomBytes(1_000_000);
  pubNc.publish("t.big", data);
  await pubNc.flush();
  const [msg] = await c.wait();
  expect(msg.data.length === data.length, `got ${msg.data.length} bytes`);
  expect(Buffer.from(msg.data).equals(data), "payload corrupted");
}

async function checkFlush(open) {
  const nc = await open();
  for (let i = 0; i < 3; i++) await nc.flush(); // plain PING/PONG round trips
  const c = collector();
  nc.subscribe("t.flush", { callback: c.callback });
  for (let i = 0; i < 5; i++) nc.publish("t.flush", sc.encode(String(i)));
  await nc.flush();
  // The server answers PING after delivering our own earlier MSGs.
  expect(c.msgs.length === 5, `received after flush = ${c.msgs.length}, want 5`);
}

async function checkServerInfo(open) {
  const nc = await open();
  const info = nc.info;
  expect(info?.max_payload === 1048576, `max_payload ${info?.max_payload}`);
  expect(typeof info.server_id === "string" && info.server_id.length > 0, `server_id ${show(info.server_id)}`);
  expect(info.headers === true, `headers ${show(info.headers)}`);
  expect(info.proto === 1, `proto ${show(info.proto)}`);
}

const CHECKS = [
  ["pub_sub", checkPubSub],
  ["wildcard_star", checkWildcardStar],
  ["wildcard_gt", checkWildcardGt],
  ["queue_group", checkQueueGroup],
  ["request_reply", checkRequestReply],
  ["request_headers", checkRequestHeaders],
  ["no_responders", checkNoResponders],
  ["unsubscribe_max", checkUnsubscribeMax],
  ["large_payload", checkLargePayload],
  ["flush", checkFlush],
  ["server_info", checkServerInfo],
];

async function runCheck(fn) {
  const conns = [];
  const open = async () => {
    const nc = await connect({ servers: URL, reconnect: false, timeout: 5_000 });
    conns.push(nc);
    return nc;
  };
  try {
    await withTimeout(fn(open), CHECK_TIMEOUT_MS, "check");
  } finally {
    await Promise.allSettled(conns.map((nc) => withTimeout(nc.close(), 2_000, "close")));
  }
}

let passed = 0;
let failed = 0;
for (const [name, fn] of CHECKS) {
  try {
    await runCheck(fn);
    console.log(`ok - ${name}`);
    passed++;
  } catch (e) {
    const reason = e instanceof CheckError ? e.message : `${e?.name ?? "Error"}: ${e?.message ?? e}`;
    console.log(`not ok - ${name}: ${reason}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
