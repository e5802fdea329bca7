// Checks of the harness and of what a browser sees before any media flows:
// the SDK loads, Hayate serves the try-it page, a refused connect surfaces
// the server's close code, a lone client gets its own connection.created,
// and SIGTERM ends the server with exit status 0.
import assert from 'node:assert/strict';
import { useHarness, scenario, poll } from './lib/harness.mjs';

const h = useHarness();

scenario('test page loads sora-js-sdk 2026.1.0', h, { timeout: 30_000 }, async (ctx) => {
  const c = await ctx.open('page');
  const version = await c.page.evaluate(() => window.hayate.sdkVersion);
  assert.equal(version, '2026.1.0', `sora-js-sdk version in the page is ${version}`);
});

scenario('admin /healthz answers 200', h, { timeout: 10_000 }, async () => {
  const res = await fetch(`${h.server.adminUrl}/healthz`);
  assert.equal(res.status, 200, `GET ${h.server.adminUrl}/healthz -> ${res.status}`);
});

scenario('Hayate serves the try-it page and the SDK', h, { timeout: 30_000 }, async (ctx) => {
  const page = await fetch(`${h.server.httpUrl}/`);
  const body = await page.text();
  assert.equal(page.status, 200, `GET ${h.server.httpUrl}/ -> ${page.status}: ${body.slice(0, 200)}`);
  assert.match(page.headers.get('content-type') || '', /^text\/html/, 'content type of /');
  assert.ok(body.includes('/sdk/sora.js'), 'the page imports /sdk/sora.js');
  assert.ok(!body.includes('sora-js-sdk is not installed'),
    'the page says the SDK is missing although HAYATE_SDK_DIR points at node_modules/sora-js-sdk/dist');

  const sdk = await fetch(`${h.server.httpUrl}/sdk/sora.js`);
  assert.equal(sdk.status, 200, `GET /sdk/sora.js -> ${sdk.status}`);
  assert.match(sdk.headers.get('content-type') || '', /^text\/javascript/, 'content type of /sdk/sora.js');
  await sdk.arrayBuffer();

  const traversal = await fetch(`${h.server.httpUrl}/sdk/..%2f..%2fpackage.json`);
  assert.equal(traversal.status, 404, `GET /sdk/..%2f..%2fpackage.json -> ${traversal.status}, want 404`);
  await traversal.arrayBuffer();

  // The page in a browser: channel from ?channel=, the SDK module loads.
  const p = await ctx.context.newPage();
  await p.goto(`${h.server.httpUrl}/?channel=${ctx.channel}`);
  await p.waitForFunction(() => /sora-js-sdk \d/.test(document.getElementById('status').textContent),
    null, { timeout: 10_000 }).catch(() => {});
  const status = await p.textContent('#status');
  assert.match(status, /sora-js-sdk 2026\.1\.0/, `try-it page status: ${status}`);
  assert.equal(await p.inputValue('#channel'), ctx.channel, 'channel input takes ?channel=');
});

scenario('a refused connect rejects with the server close code and reason', h, { timeout: 30_000 }, async (ctx) => {
  const c = await ctx.open('refused');
  const tooLong = 'x'.repeat(256); // channel_id is 1..255 bytes
  let err = null;
  try {
    await c.connect({ channelId: tooLong, role: 'recvonly', connectionTimeout: 10_000 });
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'connect with a 256-byte channel_id succeeded; the server must refuse it');
  const m = /code=(\d+) reason=("[^"]*")/.exec(err.message);
  assert.ok(m, `the rejection carries no close code/reason: ${err.message}`);
  const code = Number(m[1]);
  assert.ok(code >= 4000 && code <= 4999, `close code ${code}, want 4xxx: ${err.message}`);
  assert.match(JSON.parse(m[2]), /channel_id/i, `close reason ${m[2]} does not name channel_id`);
});

scenario('a lone sendrecv client connects and gets its own connection.created', h, { timeout: 45_000 }, async (ctx) => {
  const c = await ctx.open('alone');
  const id = await c.connect({ channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/, `connection id ${id} is not 26 chars of Crockford Base32`);
  const r = await poll(async () => {
    const own = (await c.events()).find((e) => e.type === 'notify' && e.event_type === 'connection.created' &&
      e.connection_id === id);
    return { ok: !!own, own };
  }, { timeoutMs: 10_000 });
  assert.ok(r.ok, `client alone (${id}) got no connection.created with its own connection_id within 10 s`);
  assert.equal(r.own.msg.channel_connections, 1, `channel_connections in own connection.created`);
});

scenario('the try-it page in two tabs shows two-way video', h, { timeout: 60_000 }, async (ctx) => {
  const tabs = [];
  for (const name of ['tab1', 'tab2']) {
    ctx.step(`${name}: open the try-it page and click Connect`);
    const p = await ctx.context.newPage();
    const consoleLines = [];
    p.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    await p.goto(`${h.server.httpUrl}/?channel=${ctx.channel}`);
    await p.waitForFunction(() => /sora-js-sdk \d/.test(document.getElementById('status').textContent),
      null, { timeout: 10_000 });
    await p.click('#toggle');
    const ok = await p.waitForFunction(() => /^local: [0-9A-Z]{26}$/.test(document.getElementById('local-caption').textContent),
      null, { timeout: 20_000 }).then(() => true, () => false);
    const status = await p.textContent('#status');
    assert.ok(ok, `${name}: the try-it page did not connect; status: ${status}; console: ${consoleLines.slice(-5).join(' | ')}`);
    tabs.push({ name, p, id: (await p.textContent('#local-caption')).slice('local: '.length) });
  }
  for (const [i, t] of tabs.entries()) {
    const other = tabs[1 - i];
    ctx.step(`${t.name}: wait for video from ${other.id}`);
    const sel = `figure[data-stream-id="${other.id}"] video`;
    const ok = await t.p.waitForFunction((s) => {
      const v = document.querySelector(s);
      return v && v.videoWidth > 0 && v.currentTime > 0;
    }, sel, { timeout: 20_000 }).then(() => true, () => false);
    const tiles = await t.p.$$eval('figure[data-stream-id]', (fs) => fs.map((f) => {
      const v = f.querySelector('video');
      return `${f.dataset.streamId}:${v.videoWidth}x${v.videoHeight}@${v.currentTime.toFixed(1)}s`;
    }));
    assert.ok(ok, `${t.name} (${t.id}) shows no playing video from ${other.name} (${other.id}); tiles: ${tiles.join(', ') || 'none'}`);
    const caption = await t.p.textContent(`figure[data-stream-id="${other.id}"] figcaption`);
    assert.equal(caption, other.id, `${t.name}: caption of the remote tile`);
  }
  ctx.step('tab1: click Disconnect');
  await tabs[0].p.click('#toggle');
  const gone = await tabs[1].p.waitForFunction((s) => !document.querySelector(s),
    `figure[data-stream-id="${tabs[0].id}"]`, { timeout: 15_000 }).then(() => true, () => false);
  assert.ok(gone, `tab2 still shows tab1's tile 15 s after tab1 disconnected`);
});

scenario('SIGTERM disconnects clients and exits 0', h, { timeout: 45_000 }, async (ctx) => {
  const c = await ctx.open('shutdown');
  await c.connect({ channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });
  const exit = await h.server.stop(10_000);
  assert.deepEqual(exit, { code: 0, signal: null }, `hayate exit after SIGTERM: ${JSON.stringify(exit)}`);
  const r = await poll(async () => {
    const ev = (await c.events()).find((e) => e.type === 'disconnect');
    return { ok: !!ev, ev };
  }, { timeoutMs: 5_000 });
  assert.ok(r.ok, 'the connected client got no disconnect event after SIGTERM');
});
