// ChangeUpstreamVideoBitRate caps what Chromium really sends.
//
// A sora-js-sdk sendonly publisher (VP8, fake camera at 1280x720) ramps up
// until its outbound video is steady well above the cap; then the API caps
// it (Sora_20190327.ChangeUpstreamVideoBitRate, bit_rate 150 kbps) and the
// publisher's own outbound-rtp bytesSent rate (getStats in the page) must
// fall to at most 1.3x the cap within 8 s and stay there for the next 4 s.
// The server enforces the cap with a REMB every second; each sample in a
// failure report shows Chromium's targetBitrate, which follows the REMB.
//
// Environment: HAYATE_E2E_BITRATE_CAP (kbps, default 150).
import assert from 'node:assert/strict';
import { useHarness, scenario, poll, sleep, outbound, selectedPair } from './lib/harness.mjs';

const h = useHarness();

const capKbps = Number(process.env.HAYATE_E2E_BITRATE_CAP || 150);
const tolerance = 1.3;

/** POSTs one API operation; returns {status, json}. */
async function api(target, body) {
  const res = await fetch(`http://127.0.0.1:${h.server.ports.api}/`, {
    method: 'POST',
    headers: { 'x-sora-target': target, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    throw new Error(`${target}: ${res.status} answered non-JSON ${text.slice(0, 200)}`);
  }
}

/** The publisher's video send state now: bytesSent with its timestamp, and what explains it. */
async function sample(c) {
  const stats = await c.stats();
  const up = outbound(stats, 'video');
  if (up.length !== 1) return { ok: false, text: `${up.length} outbound video streams` };
  const u = up[0];
  const pair = selectedPair(stats);
  return {
    ok: true,
    t: u.timestamp,
    bytes: u.bytesSent,
    retransmitted: u.retransmittedBytesSent ?? 0,
    targetBitrate: u.targetBitrate,
    frameWidth: u.frameWidth,
    fps: u.framesPerSecond,
    limitation: u.qualityLimitationReason,
    available: pair?.availableOutgoingBitrate,
    codec: u.codec,
  };
}

/** kb/s of payload sent between two samples. */
const kbps = (a, b) => ((b.bytes - a.bytes) * 8) / (b.t - a.t);

const describe = (a, b) => `${Math.round(kbps(a, b))} kb/s over ${((b.t - a.t) / 1000).toFixed(1)} s ` +
  `(targetBitrate ${b.targetBitrate ?? '-'}, availableOutgoingBitrate ${b.available ?? '-'}, ` +
  `frameWidth ${b.frameWidth ?? '-'}, fps ${b.fps ?? '-'}, qualityLimitationReason ${b.limitation ?? '-'}, ` +
  `+retransmitted ${b.retransmitted - a.retransmitted} B)`;

scenario(`ChangeUpstreamVideoBitRate ${capKbps} kbps: Chromium's outbound video falls to the cap`, h, { timeout: 90_000 }, async (ctx) => {
  const pub = await ctx.open('publisher');
  const id = await pub.connect({ channelId: ctx.channel, role: 'sendonly', videoCodecType: 'VP8', width: 1280, height: 720 });

  // Ramp-up: wait for two consecutive 2 s windows above twice the cap.
  ctx.step('publisher: wait for a steady outbound video bitrate above twice the cap');
  const history = [];
  const rates = [];
  let prev = await sample(pub);
  const steady = await poll(async () => {
    const cur = await sample(pub);
    if (!cur.ok) {
      history.push(cur.text);
      return { ok: false };
    }
    if (!prev.ok || cur.t - prev.t < 1900) {
      prev = prev.ok ? prev : cur;
      return { ok: false };
    }
    rates.push(kbps(prev, cur));
    history.push(describe(prev, cur));
    prev = cur;
    return { ok: rates.length >= 2 && rates.at(-1) > 2 * capKbps && rates.at(-2) > 2 * capKbps };
  }, { timeoutMs: 40_000, intervalMs: 2000 });
  assert.ok(steady.ok, `the publisher never sent steadily above ${2 * capKbps} kb/s; 2 s windows: ${history.join('; ') || 'none'}`);
  const before = history.at(-1);

  ctx.step(`ChangeUpstreamVideoBitRate ${capKbps}`);
  const r = await api('Sora_20190327.ChangeUpstreamVideoBitRate', { channel_id: ctx.channel, connection_id: id, bit_rate: capKbps });
  assert.equal(r.status, 200, `ChangeUpstreamVideoBitRate -> ${r.status} ${JSON.stringify(r.json)}`);
  assert.deepEqual(r.json, { bit_rate: capKbps, channel_id: ctx.channel, connection_id: id }, 'the answer');

  // Falls: some 2 s window within 8 s is at most tolerance x the cap.
  ctx.step('publisher: wait for the outbound video bitrate to fall to the cap');
  const after = [];
  let last = await sample(pub);
  const fell = await poll(async () => {
    const cur = await sample(pub);
    if (cur.t - last.t < 1900) return { ok: false };
    after.push(describe(last, cur));
    const ok = kbps(last, cur) <= tolerance * capKbps;
    last = cur;
    return { ok };
  }, { timeoutMs: 8000, intervalMs: 2000 });
  assert.ok(fell.ok, `before the cap: ${before}; after ChangeUpstreamVideoBitRate ${capKbps} the publisher still sent ` +
    `more than ${tolerance * capKbps} kb/s in every 2 s window for 8 s: ${after.join('; ')}`);

  // Stays: the next 4 s as a whole are within the cap too.
  ctx.step('publisher: the capped bitrate holds for 4 s');
  const start = await sample(pub);
  await sleep(4000);
  const end = await sample(pub);
  const held = kbps(start, end);
  assert.ok(held <= tolerance * capKbps, `before the cap: ${before}; after it: ${after.join('; ')}; ` +
    `then ${describe(start, end)}, above ${tolerance} x ${capKbps} kb/s`);
  process.stdout.write(`# bitrate: before ${before}\n# bitrate: after the cap ${describe(start, end)}\n`);
});
