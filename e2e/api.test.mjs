// The HTTP API seen by the real sora-js-sdk in headless Chromium:
//   - PushChannel reaches the SDK's `push` event of every client in the
//     channel, PushConnection only the one addressed;
//   - DisconnectConnection ends the SDK's connection with 1000
//     DISCONNECTED-API (its `disconnect` event);
//   - with ChangeMode block_new_connection, connect() rejects with the close
//     code 4503 and a reason naming the mode.
import assert from 'node:assert/strict';
import { useHarness, scenario, poll } from './lib/harness.mjs';

const h = useHarness();

/** POSTs one API operation; returns {status, json}. Fails on a non-JSON answer. */
async function api(target, body) {
  const url = `http://127.0.0.1:${h.server.ports.api}/`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'x-sora-target': target, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${target}: ${res.status} answered non-JSON ${text.slice(0, 200)}`);
  }
  assert.equal(res.headers.get('content-type'), 'application/json', `${target}: content-type`);
  return { status: res.status, json };
}

/** Records the SDK's push events of a connected client in window.hayate.pushes. */
async function recordPushes(c) {
  await c.page.evaluate(() => {
    window.hayate.pushes = [];
    window.hayate.conn.on('push', (msg, transportType) => window.hayate.pushes.push({ msg, transportType }));
  });
}

const pushesOf = (c) => c.page.evaluate(() => window.hayate.pushes);

scenario('PushChannel reaches the SDK push event; PushConnection only its connection', h, { timeout: 60_000 }, async (ctx) => {
  const a = await ctx.open('a');
  const b = await ctx.open('b');
  const idA = await a.connect({ channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });
  await b.connect({ channelId: ctx.channel, role: 'recvonly' });
  await recordPushes(a);
  await recordPushes(b);

  ctx.step('PushChannel');
  const data = { spam: 'egg', n: [1, 2], nested: { ok: true } };
  const r = await api('Sora_20160711.PushChannel', { channel_id: ctx.channel, data });
  assert.equal(r.status, 200, `PushChannel -> ${r.status} ${JSON.stringify(r.json)}`);
  assert.deepEqual(r.json, { data, type: 'push' }, 'PushChannel answer');
  for (const c of [a, b]) {
    const got = await poll(async () => {
      const p = await pushesOf(c);
      return { ok: p.length > 0, p };
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.ok(got.ok, `client ${c.name} (${c.connectionId}): no push event within 10 s`);
    assert.equal(got.p.length, 1, `client ${c.name}: ${got.p.length} push events: ${JSON.stringify(got.p)}`);
    assert.deepEqual(got.p[0].msg, { type: 'push', data }, `client ${c.name}: the push event's message`);
  }

  ctx.step('PushConnection to a');
  const r2 = await api('Sora_20160711.PushConnection', { channel_id: ctx.channel, connection_id: idA, data: { only: 'a' } });
  assert.equal(r2.status, 200, `PushConnection -> ${r2.status} ${JSON.stringify(r2.json)}`);
  const got = await poll(async () => {
    const p = await pushesOf(a);
    return { ok: p.length >= 2, p };
  }, { timeoutMs: 10_000, intervalMs: 200 });
  assert.ok(got.ok, `client a: no second push event within 10 s: ${JSON.stringify(got.p)}`);
  assert.deepEqual(got.p[1].msg.data, { only: 'a' }, 'PushConnection data at a');
  const pb = await pushesOf(b);
  assert.equal(pb.length, 1, `client b got the push meant for a: ${JSON.stringify(pb)}`);
});

scenario('DisconnectConnection ends the SDK connection with 1000 DISCONNECTED-API', h, { timeout: 60_000 }, async (ctx) => {
  const a = await ctx.open('a');
  const id = await a.connect({ channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });
  const r = await api('Sora_20151104.DisconnectConnection', { channel_id: ctx.channel, connection_id: id });
  assert.equal(r.status, 200, `DisconnectConnection -> ${r.status} ${JSON.stringify(r.json)}`);
  assert.deepEqual(r.json, { channel_id: ctx.channel, connection_id: id }, 'DisconnectConnection answer');
  const got = await poll(async () => {
    const ev = (await a.events()).find((e) => e.type === 'disconnect');
    return { ok: !!ev, ev };
  }, { timeoutMs: 10_000, intervalMs: 200 });
  assert.ok(got.ok, 'the SDK reported no disconnect within 10 s');
  assert.equal(got.ev.code, 1000, `disconnect event ${JSON.stringify(got.ev)}`);
  assert.equal(got.ev.reason, 'DISCONNECTED-API', `disconnect event ${JSON.stringify(got.ev)}`);
  const list = await api('Sora_20201013.ListChannelConnections', { channel_id: ctx.channel });
  assert.equal(list.status, 404, `the channel still lists connections: ${JSON.stringify(list.json)}`);
});

scenario('ChangeMode block_new_connection: connect() rejects with 4503 naming the mode', h, { timeout: 60_000 }, async (ctx) => {
  const c = await ctx.open('blocked');
  const r = await api('Sora_20211215.ChangeMode', { mode: 'block_new_connection' });
  assert.equal(r.status, 200, `ChangeMode -> ${r.status} ${JSON.stringify(r.json)}`);
  try {
    let err = null;
    try {
      await c.connect({ channelId: ctx.channel, role: 'recvonly', connectionTimeout: 10_000 });
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'connect succeeded while the server is in block_new_connection');
    const m = /code=(\d+) reason=("[^"]*")/.exec(err.message);
    assert.ok(m, `the rejection carries no close code/reason: ${err.message}`);
    assert.equal(Number(m[1]), 4503, `close code: ${err.message}`);
    assert.equal(JSON.parse(m[2]), 'MODE-BLOCKED: block_new_connection', `close reason: ${err.message}`);
  } finally {
    const back = await api('Sora_20211215.ChangeMode', { mode: 'normal' });
    assert.equal(back.status, 200, `ChangeMode normal -> ${back.status}`);
  }
});
