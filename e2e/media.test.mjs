// Media through Hayate with the real sora-js-sdk in headless Chromium, per
// video codec (HAYATE_E2E_CODECS, default VP8,VP9,AV1,H264):
//   a. two sendrecv clients decode each other's video and receive audio
//   b. one sendonly, three recvonly (one joined before the sender): every recvonly decodes video
//   c. three sendrecv, one leaves: the others get connection.destroyed and removetrack
//   d. after 20 s of a two-party call: >= 640 px wide video above 300 kb/s each way
// HAYATE_E2E_ONLY=a,b (letters) runs a subset.
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { useHarness, scenario, poll, sleep, inbound, outbound, selectedPair, describeInbound } from './lib/harness.mjs';

const codecs = (process.env.HAYATE_E2E_CODECS || 'VP8,VP9,AV1,H264').split(',').map((s) => s.trim()).filter(Boolean);
const only = new Set((process.env.HAYATE_E2E_ONLY || 'a,b,c,d').split(',').map((s) => s.trim()));

const h = useHarness();

// Test d captures the fake camera at this size (HAYATE_E2E_D_SIZE=WxH).
const [dW, dH] = (process.env.HAYATE_E2E_D_SIZE || '1280x720').split('x').map(Number);
const dCapture = { width: dW, height: dH };

/** Waits until client c decodes video from every id in `from` and (optionally) receives their audio. */
async function waitMediaFrom(c, from, codec, { audio = true, timeoutMs = 20_000 } = {}) {
  const want = `video/${codec}`.toLowerCase();
  c.ctx.step(`${c.name}: wait for ${codec} video${audio ? ' and audio' : ''} from ${from.join(', ')}`);
  const r = await poll(async () => {
    const stats = await c.stats();
    const missing = [];
    for (const id of from) {
      const v = inbound(stats, 'video').find((s) => s.remoteConnectionId === id);
      const a = inbound(stats, 'audio').find((s) => s.remoteConnectionId === id);
      if (!v || !(v.framesDecoded > 0)) missing.push(`video from ${id}`);
      else if ((v.codec || '').toLowerCase() !== want) missing.push(`video from ${id} in ${codec} (got ${v.codec})`);
      if (audio && (!a || !(a.bytesReceived > 0))) missing.push(`audio from ${id}`);
    }
    return { ok: missing.length === 0, missing, stats };
  }, { timeoutMs });
  assert.ok(r.ok, `${codec}: client ${c.name} (${c.connectionId}) after ${timeoutMs / 1000} s lacks ` +
    `${r.missing.join(', ')}; inbound: ${describeInbound(r.stats)}`);
  return r.stats;
}

/** Waits until client c has a notify matching pred; returns it. */
async function waitNotify(c, what, pred, timeoutMs = 10_000) {
  c.ctx.step(`${c.name}: wait for ${what}`);
  const r = await poll(async () => {
    const events = await c.events();
    const ev = events.find((e) => e.type === 'notify' && pred(e));
    return { ok: !!ev, ev, events };
  }, { timeoutMs });
  const seen = r.events.filter((e) => e.type === 'notify').map((e) => `${e.event_type}(${e.connection_id})`);
  assert.ok(r.ok, `client ${c.name} (${c.connectionId}) got no ${what} within ${timeoutMs / 1000} s; ` +
    `notifies seen: ${seen.join(', ') || 'none'}`);
  return r.ev;
}

/**
 * Video from sender txId as seen by the receiver between two stats samples
 * (rx1, rx2), with the sender's own view (tx1, tx2) for the report.
 */
function measureVideo(rx1, rx2, tx1, tx2, txId) {
  const v1 = inbound(rx1, 'video').find((s) => s.remoteConnectionId === txId);
  const v2 = inbound(rx2, 'video').find((s) => s.remoteConnectionId === txId);
  if (!v1 || !v2) return { ok: false, text: 'no inbound video' };
  const secs = (v2.timestamp - v1.timestamp) / 1000;
  const kbps = Math.round(((v2.bytesReceived - v1.bytesReceived) * 8) / secs / 1000);
  const d = (k) => (v2[k] ?? 0) - (v1[k] ?? 0);
  const u1 = outbound(tx1, 'video')[0];
  const u2 = outbound(tx2, 'video')[0];
  const pair = selectedPair(tx2);
  let sent = '-';
  if (u1 && u2) {
    sent = Math.round(((u2.bytesSent - u1.bytesSent) * 8) / ((u2.timestamp - u1.timestamp) / 1000) / 1000);
  }
  const text = `recv ${kbps} kb/s over ${secs.toFixed(2)} s, frameWidth ${v2.frameWidth}, ` +
    `fps ${v2.framesPerSecond ?? '-'}, +lost ${d('packetsLost')}, +nack ${d('nackCount')}, +pli ${d('pliCount')}, ` +
    `+dropped ${d('framesDropped')}, +freezes ${d('freezeCount')}; sender sent ${sent} kb/s, ` +
    `targetBitrate ${u2?.targetBitrate ?? '-'}, frameWidth ${u2?.frameWidth ?? '-'}, ` +
    `qualityLimitationReason ${u2?.qualityLimitationReason ?? '-'}, ` +
    `availableOutgoingBitrate ${pair?.availableOutgoingBitrate ?? '-'}`;
  return { ok: v2.frameWidth >= 640 && kbps > 300, text };
}

const isCreated = (id) => (e) => e.event_type === 'connection.created' && e.connection_id === id;

for (const codec of codecs) {
  describe(codec, () => {
    if (only.has('a')) {
      scenario(`${codec} a: two sendrecv decode each other and get connection.created`, h, { timeout: 75_000 },
        async (ctx) => {
          const [a, b] = [await ctx.open('A'), await ctx.open('B')];
          const opts = { channelId: ctx.channel, role: 'sendrecv', videoCodecType: codec };
          const idA = await a.connect(opts);
          const idB = await b.connect(opts);
          assert.notEqual(idA, idB, 'two connections got the same connection id');

          await waitMediaFrom(a, [idB], codec);
          await waitMediaFrom(b, [idA], codec);

          const ownA = await waitNotify(a, `its own connection.created (${idA})`, isCreated(idA));
          await waitNotify(a, `B's connection.created (${idB})`, isCreated(idB));
          const ownB = await waitNotify(b, `its own connection.created (${idB})`, isCreated(idB));
          const listed = (ownB.msg.data || ownB.msg.metadata_list || []).map((d) => d.connection_id);
          assert.ok(listed.includes(idA), `${codec}: B's own connection.created lists ${JSON.stringify(listed)} ` +
            `in data[], want A ${idA}`);
          assert.equal(ownA.msg.channel_connections, 1, `${codec}: channel_connections in A's own connection.created`);
          assert.equal(ownB.msg.channel_connections, 2, `${codec}: channel_connections in B's own connection.created`);
        });
    }

    if (only.has('b')) {
      scenario(`${codec} b: one sendonly to three recvonly, all decode`, h, { timeout: 90_000 }, async (ctx) => {
        // R1 joins before the sender (its tracks arrive by re-offer), R2 and R3 after.
        const recv = { channelId: ctx.channel, role: 'recvonly', videoCodecType: codec };
        const r1 = await ctx.open('R1(joined-before-S)');
        await r1.connect(recv);
        const s = await ctx.open('S');
        const idS = await s.connect({ channelId: ctx.channel, role: 'sendonly', videoCodecType: codec });
        const rs = [r1];
        for (const name of ['R2', 'R3']) {
          const r = await ctx.open(name);
          await r.connect(recv);
          rs.push(r);
        }
        for (const r of rs) await waitMediaFrom(r, [idS], codec);
        const st = await s.stats();
        const up = outbound(st, 'video')[0];
        assert.ok(up && up.bytesSent > 0, `${codec}: sender S sent no video: ${JSON.stringify(up || null)}`);
        assert.equal(inbound(st, 'video').length, 0, `${codec}: sendonly S receives video it should not`);
      });
    }

    if (only.has('c')) {
      scenario(`${codec} c: three sendrecv, one leaves, the others see it go`, h, { timeout: 90_000 }, async (ctx) => {
        const cs = [];
        for (const name of ['A', 'B', 'C']) {
          const c = await ctx.open(name);
          await c.connect({ channelId: ctx.channel, role: 'sendrecv', videoCodecType: codec });
          cs.push(c);
        }
        const [a, b, c] = cs;
        await waitMediaFrom(a, [b.connectionId, c.connectionId], codec, { audio: false });
        await waitMediaFrom(b, [a.connectionId, c.connectionId], codec, { audio: false });
        await waitMediaFrom(c, [a.connectionId, b.connectionId], codec, { audio: false });

        const idC = c.connectionId;
        await c.disconnect();
        for (const x of [a, b]) {
          await waitNotify(x, `connection.destroyed for C (${idC})`,
            (e) => e.event_type === 'connection.destroyed' && e.connection_id === idC);
          const r = await poll(async () => {
            const events = await x.events();
            return { ok: events.some((e) => e.type === 'removetrack' && e.streamId === idC), events };
          }, { timeoutMs: 10_000 });
          const tracks = r.events.filter((e) => e.type === 'track' || e.type === 'removetrack')
            .map((e) => `${e.type}:${e.kind}:${e.streamId}`);
          assert.ok(r.ok, `${codec}: client ${x.name} (${x.connectionId}) got no removetrack for C's stream ${idC} ` +
            `within 10 s (re-offer without C's tracks?); track events: ${tracks.join(', ')}`);
        }
        // The two remaining still receive each other after the renegotiation.
        const before = inbound(await a.stats(), 'video').find((s) => s.remoteConnectionId === b.connectionId);
        await sleep(1500);
        const afterStats = await a.stats();
        const after = inbound(afterStats, 'video').find((s) => s.remoteConnectionId === b.connectionId);
        assert.ok(before && after && after.framesDecoded > before.framesDecoded,
          `${codec}: after C left, A stopped decoding B: framesDecoded ${before?.framesDecoded} -> ` +
          `${after?.framesDecoded}; inbound: ${describeInbound(afterStats)}`);
      });
    }

    if (only.has('d')) {
      scenario(`${codec} d: after 20 s each side gets >= 640 px above 300 kb/s`, h, { timeout: 90_000 }, async (ctx) => {
        const [a, b] = [await ctx.open('A'), await ctx.open('B')];
        const opts = { channelId: ctx.channel, role: 'sendrecv', videoCodecType: codec, ...dCapture };
        await a.connect(opts);
        await b.connect(opts);
        const start = Date.now();
        await waitMediaFrom(a, [b.connectionId], codec, { audio: false });
        await waitMediaFrom(b, [a.connectionId], codec, { audio: false });
        await sleep(Math.max(0, 20_000 - (Date.now() - start)));

        // One side passes when a 2.5 s window shows >= 640 px above 300 kb/s.
        // Up to 4 windows: a loaded machine can starve one window, while a
        // server without congestion control feedback fails every one of them.
        const pairs = [[a, b], [b, a]];
        const passed = [false, false];
        const rows = [[], []];
        for (let w = 0; w < 4 && !(passed[0] && passed[1]); w++) {
          const s1 = await Promise.all([a.stats(), b.stats()]);
          await sleep(2500);
          const s2 = await Promise.all([a.stats(), b.stats()]);
          for (const [i, [rx, tx]] of pairs.entries()) {
            if (passed[i]) continue;
            const m = measureVideo(s1[i], s2[i], s1[1 - i], s2[1 - i], tx.connectionId);
            rows[i].push(m.text);
            passed[i] = m.ok;
          }
        }
        const observed = pairs.map(([rx, tx], i) => `${rx.name}<-${tx.name}: ${rows[i].join(' || ')}`);
        process.stdout.write(`# ${codec} d observed: ${observed.join(' | ')}\n`);
        const failed = pairs.filter((_, i) => !passed[i]).map(([rx, tx]) => `${rx.name}<-${tx.name}`);
        assert.equal(failed.length, 0, `${codec}: ${failed.join(' and ')} below 640 px or 300 kb/s in every ` +
          `window after 20 s. Observed per window: ${observed.join(' | ')}`);
      });
    }
  });
}
