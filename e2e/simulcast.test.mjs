// Simulcast and spotlight with the real sora-js-sdk in headless Chromium:
//   a. a simulcast sendonly (VP8, fake camera 960x540) sends three layers
//      with scalabilityMode L1T1; recvonly clients that connect with
//      simulcastRid r0 and r2 decode 240 and 960 px wide frames; the API's
//      RequestSimulcastRid switches one of them, and the time from the
//      request to the first frame of the new layer (requestVideoFrameCallback
//      on the page, brought to the front) is measured and printed;
//   b. a spotlight channel of four sendrecv clients with spotlightNumber 1:
//      every client is told which sender is in focus (spotlight.focused,
//      spotlight.changed) and decodes that sender's video.
import assert from 'node:assert/strict';
import { useHarness, scenario, poll, sleep, inbound, outbound, describeInbound } from './lib/harness.mjs';

const h = useHarness();

/** POSTs one API operation; returns {status, json}. */
async function api(target, body) {
  const res = await fetch(`http://127.0.0.1:${h.server.ports.api}/`, {
    method: 'POST',
    headers: { 'x-sora-target': target, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json() };
}

/** Waits until c decodes video from sender at frame width `width`; returns the inbound stats. */
async function waitWidth(c, sender, width, timeoutMs = 30_000) {
  c.ctx.step(`${c.name}: wait for ${width} px video from ${sender}`);
  const r = await poll(async () => {
    const stats = await c.stats();
    const v = inbound(stats, 'video').find((s) => s.remoteConnectionId === sender);
    return { ok: !!v && v.framesDecoded > 0 && v.frameWidth === width, v, stats };
  }, { timeoutMs });
  assert.ok(r.ok, `${c.name}: no ${width} px wide video from ${sender} within ${timeoutMs / 1000} s; ` +
    `inbound: ${describeInbound(r.stats)}`);
  return r.v;
}

/** Waits until c has a notify matching pred; returns it. */
async function waitNotify(c, what, pred, timeoutMs = 15_000) {
  c.ctx.step(`${c.name}: wait for ${what}`);
  const r = await poll(async () => {
    const events = await c.events();
    const ev = events.find((e) => e.type === 'notify' && pred(e.msg));
    return { ok: !!ev, ev, events };
  }, { timeoutMs });
  const seen = r.events.filter((e) => e.type === 'notify').map((e) => `${e.event_type}(${e.connection_id || ''})`);
  assert.ok(r.ok, `${c.name} (${c.connectionId}) got no ${what} within ${timeoutMs / 1000} s; notifies: ${seen.join(', ')}`);
  return r.ev.msg;
}

/**
 * Starts recording, in the page, the width and receive time of every video
 * frame of the stream `sender` (requestVideoFrameCallback), as epoch ms.
 */
async function watchFrames(c, sender) {
  await c.page.evaluate((id) => {
    const v = document.querySelector(`video[data-stream-id="${CSS.escape(id)}"]`);
    if (!v) throw new Error(`no video element for ${id}`);
    window.hayate.frames = [];
    const cb = (now, meta) => {
      const t = meta.receiveTime ?? now;
      window.hayate.frames.push({ at: performance.timeOrigin + t, width: meta.width, hasReceiveTime: meta.receiveTime !== undefined });
      v.requestVideoFrameCallback(cb);
    };
    v.requestVideoFrameCallback(cb);
  }, sender);
}

const framesOf = (c) => c.page.evaluate(() => window.hayate.frames);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

scenario('a: simulcast VP8 960x540, recvonly at r0 and r2 decode 240 and 960 px; RequestSimulcastRid switches', h,
  { timeout: 150_000 }, async (ctx) => {
    const s = await ctx.open('S');
    const idS = await s.connect({
      channelId: ctx.channel, role: 'sendonly', videoCodecType: 'VP8', width: 960, height: 540,
      sdkOptions: { simulcast: true },
    });
    const r0 = await ctx.open('R0');
    const idR0 = await r0.connect({ channelId: ctx.channel, role: 'recvonly', videoCodecType: 'VP8', sdkOptions: { simulcast: true, simulcastRid: 'r0' } });
    const r2 = await ctx.open('R2');
    await r2.connect({ channelId: ctx.channel, role: 'recvonly', videoCodecType: 'VP8', sdkOptions: { simulcast: true, simulcastRid: 'r2' } });

    // The sender encodes three layers, L1T1 each.
    ctx.step('S: wait for three outbound layers');
    const out = await poll(async () => {
      const o = outbound(await s.stats(), 'video');
      return { ok: o.length === 3 && o.every((e) => e.bytesSent > 0), o };
    }, { timeoutMs: 20_000 });
    assert.ok(out.ok, `S sends ${out.o.length} video encodings: ${JSON.stringify(out.o.map((e) => [e.rid, e.bytesSent, e.frameWidth]))}`);
    for (const e of out.o) {
      assert.equal(e.scalabilityMode, 'L1T1', `layer ${e.rid}: scalabilityMode ${e.scalabilityMode}`);
    }

    await waitWidth(r0, idS, 240);
    await waitWidth(r2, idS, 960);
    await waitNotify(r0, 'simulcast.switched to r0', (m) => m.event_type === 'simulcast.switched' && m.current_rid === 'r0');

    // RequestSimulcastRid: R0 goes to r2 and back, several times; the time
    // from the request to the first frame of the new size is measured.
    await r0.page.bringToFront(); // a page in the background paints (and reports frames) late
    await watchFrames(r0, idS);
    const took = [];
    let clock = '';
    for (const [rid, width] of [['r2', 960], ['r0', 240], ['r2', 960], ['r0', 240], ['r2', 960], ['r0', 240]]) {
      await sleep(1500);
      const t0 = Date.now();
      const res = await api('Sora_20251217.RequestSimulcastRid', { channel_id: ctx.channel, receiver_connection_id: idR0, rid, sender_connection_id: idS });
      assert.equal(res.status, 200, `RequestSimulcastRid ${rid}: ${JSON.stringify(res.json)}`);
      ctx.step(`R0: wait for the first ${width} px frame after RequestSimulcastRid ${rid}`);
      const r = await poll(async () => {
        const f = (await framesOf(r0)).find((x) => x.at >= t0 && x.width === width);
        return { ok: !!f, f };
      }, { timeoutMs: 10_000, intervalMs: 100 });
      assert.ok(r.ok, `RequestSimulcastRid ${rid}: no ${width} px frame at R0 within 10 s`);
      took.push(Math.max(0, Math.round(r.f.at - t0)));
      clock = r.f.hasReceiveTime ? 'the frame\'s receiveTime' : 'the frame callback';
      await waitNotify(r0, `simulcast.switched to ${rid}`, (m) => m.event_type === 'simulcast.switched' && m.current_rid === rid && m.rpc_rids?.includes(rid));
    }
    const line = `RequestSimulcastRid to the first frame of the new layer in Chromium: median ${median(took)} ms over ${took.length} switches (all: ${took.join(', ')} ms; measured to ${clock})`;
    process.stdout.write(`# ${line}\n`);
    console.log(line);
  });

scenario('b: spotlight, four sendrecv with spotlightNumber 1: spotlight notifies and the focused video', h,
  { timeout: 150_000 }, async (ctx) => {
    const names = ['A', 'B', 'C', 'D'];
    const cs = [];
    const ids = [];
    for (const n of names) {
      const c = await ctx.open(n);
      ids.push(await c.connect({
        channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8',
        sdkOptions: { spotlight: true, spotlightNumber: 1 },
      }));
      cs.push(c);
    }
    // Everyone learns who is in focus.
    for (const c of cs) {
      const f = await waitNotify(c, 'spotlight.focused', (m) => m.event_type === 'spotlight.focused' && ids.includes(m.connection_id));
      assert.equal(typeof f.fixed, 'boolean', `${c.name}: spotlight.focused without fixed: ${JSON.stringify(f)}`);
    }
    // The first sender was put in focus when it came: it saw spotlight.changed.
    const ch = await waitNotify(cs[0], 'spotlight.changed', (m) => m.event_type === 'spotlight.changed' && ids.includes(m.connection_id));
    assert.ok(ch.spotlight_id, `spotlight.changed without spotlight_id: ${JSON.stringify(ch)}`);
    // The one in focus now (the last focused notify A got, not unfocused since).
    const events = (await cs[0].events()).filter((e) => e.type === 'notify' && /^spotlight\.(un)?focused$/.test(e.event_type));
    const inFocus = new Set();
    for (const e of events) {
      if (e.event_type === 'spotlight.focused') inFocus.add(e.connection_id);
      else inFocus.delete(e.connection_id);
    }
    assert.equal(inFocus.size, 1, `A's notifies leave ${inFocus.size} senders in focus: ${[...inFocus].join(', ')}`);
    const focused = [...inFocus][0];
    // Every other client decodes the focused sender's video.
    for (const c of cs) {
      if (c.connectionId === focused) continue;
      c.ctx.step(`${c.name}: wait for video from the focused ${focused}`);
      const r = await poll(async () => {
        const stats = await c.stats();
        const v = inbound(stats, 'video').find((x) => x.remoteConnectionId === focused);
        return { ok: !!v && v.framesDecoded > 0, stats };
      }, { timeoutMs: 30_000 });
      assert.ok(r.ok, `${c.name}: no video from the focused ${focused}; inbound: ${describeInbound(r.stats)}`);
    }
  });
