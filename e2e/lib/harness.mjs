// Shared harness for the browser tests: one Hayate server, one page server
// and one Chromium per test file; a browser context per test and a page per
// client. useHarness() registers the before/after hooks; scenario() wraps a
// node:test test so that a failure prints the server log written during the
// test, each client's console, signaling trace and events.
import { before, after, test } from 'node:test';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { buildServer, startServer, cleanupWorkDir } from './server.mjs';
import { startPageServer } from './pages.mjs';

export const chromiumPath = process.env.HAYATE_CHROMIUM || '/usr/bin/chromium';

// Exactly the flags the project runs Chromium with (see scripts/e2e.sh).
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

export async function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} not found: install it with \`apt-get install -y chromium\``);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs, timeout: 30_000 });
}

/** A unique channel id for one test. */
export function channelId(name) {
  return `e2e-${name}-${randomBytes(6).toString('hex')}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Registers before/after hooks for the current test file and returns an
 * object whose fields (server, pages, browser) are filled in before the
 * first test runs.
 */
export function useHarness({ startHayate = true } = {}) {
  const h = { server: null, pages: null, browser: null, bin: null, failed: false };
  before(async () => {
    h.pages = await startPageServer();
    h.browser = await launchBrowser();
    if (startHayate) {
      h.bin = await buildServer();
      h.server = await startServer(h.bin);
    }
  }, { timeout: 300_000 });
  after(async () => {
    // Each step on its own so one failure does not leave the others running.
    await h.browser?.close().catch(() => {});
    await h.pages?.close().catch(() => {});
    await h.server?.stop().catch(() => {});
    cleanupWorkDir({ keepLogs: h.failed });
  }, { timeout: 30_000 });
  return h;
}

/** One browser page running pages/client.html; drives window.hayate. */
export class Client {
  constructor(name, page, server, ctx) {
    this.ctx = ctx;
    this.name = name;
    this.page = page;
    this.server = server;
    this.console = [];
    this.connectionId = null;
    page.on('console', (m) => this.console.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => this.console.push(`[pageerror] ${e.message}`));
  }

  static async open(ctx, name) {
    const page = await ctx.context.newPage();
    ctx.step(`open page ${name}`);
    const c = new Client(name, page, ctx.h.server, ctx);
    ctx.clients.push(c);
    await page.goto(`${ctx.h.pages.url}/client.html`);
    await page.waitForFunction(() => window.hayate && window.hayate.ready, null, { timeout: 10_000 });
    const loadError = await page.evaluate(() => window.hayate.loadError);
    if (loadError) throw new Error(`${name}: sora-js-sdk did not load in the page: ${loadError}`);
    return c;
  }

  /** Connects; opts as window.hayate.connect. Returns the connection id. */
  async connect(opts) {
    const full = { signalingUrl: this.server.signalingUrl, ...opts };
    this.ctx?.step(`${this.name}: connect ${opts.role || 'sendrecv'} ${opts.videoCodecType || ''}`.trim());
    try {
      const res = await this.page.evaluate((o) => window.hayate.connect(o), full);
      this.connectionId = res.connectionId;
      return res.connectionId;
    } catch (err) {
      // page.evaluate wraps the page's Error; keep its message, name the client.
      const msg = String(err.message).replace(/^page\.evaluate: (Error: )?/, '');
      throw new Error(`${this.name}: ${msg}`);
    }
  }

  disconnect() {
    this.ctx?.step(`${this.name}: disconnect`);
    return this.page.evaluate(() => window.hayate.disconnect());
  }

  stats() {
    return this.page.evaluate(() => window.hayate.stats());
  }

  events() {
    return this.page.evaluate(() => window.hayate.events);
  }

  state() {
    return this.page.evaluate(() => window.hayate.state());
  }

  /** A text dump for failure reports: state, events, signaling (SDPs shortened), console. */
  async dump() {
    let out = `==== client ${this.name} (connection ${this.connectionId}) ====\n`;
    try {
      const { state, events, signaling } = await this.page.evaluate(() => ({
        state: window.hayate.state(),
        events: window.hayate.events.map((e) => ({ ...e, msg: undefined })),
        signaling: window.hayate.signaling,
      }));
      out += `state: ${JSON.stringify(state)}\n`;
      out += `events:\n${events.map((e) => '  ' + JSON.stringify(e)).join('\n')}\n`;
      out += 'signaling:\n';
      for (const s of signaling) {
        let data = s.data;
        if (data && typeof data === 'object' && typeof data.sdp === 'string') {
          data = { ...data, sdp: `<${data.sdp.length} bytes, see below>` };
        }
        let text = JSON.stringify(data);
        if (text && text.length > 600) text = text.slice(0, 600) + '…';
        out += `  ${s.transportType}:${s.type} ${text}\n`;
      }
      // Full SDPs of the last offer/re-offer and answer: the usual evidence.
      const lastSdp = (pred) => [...signaling].reverse().find((s) => pred(s) && s.data && typeof s.data.sdp === 'string');
      const offer = lastSdp((s) => /offer/.test(s.type) && !/send/.test(s.type));
      const answer = lastSdp((s) => /answer/.test(s.type));
      if (offer) out += `last ${offer.type} SDP:\n${offer.data.sdp}\n`;
      if (answer) out += `last ${answer.type} SDP:\n${answer.data.sdp}\n`;
    } catch (err) {
      out += `(page not readable: ${err.message})\n`;
    }
    const tail = this.console.slice(-40);
    out += `console (${this.console.length} lines, last ${tail.length}):\n${tail.map((l) => '  ' + l).join('\n')}\n`;
    return out;
  }
}

/**
 * Declares a test with a timeout. fn receives ctx = {h, context, clients,
 * open(name), channel}. On failure the server log of this test and every
 * client's dump are written to stderr before the error is rethrown; the
 * browser context is closed either way.
 */
export function scenario(name, h, { timeout = 60_000 } = {}, fn) {
  test(name, { timeout }, async () => {
    h.server?.assertRunning();
    const offset = h.server ? h.server.logOffset() : 0;
    const context = await h.browser.newContext();
    const ctx = { h, context, clients: [], lastStep: 'start', channel: channelId(name.replace(/[^a-zA-Z0-9]+/g, '-').slice(0, 40)) };
    ctx.open = (clientName) => Client.open(ctx, clientName);
    ctx.step = (text) => { ctx.lastStep = text; };
    // Finish a little before node:test's own timeout so the report below is
    // printed while the pages are still open.
    const budget = timeout - Math.min(8000, timeout * 0.2);
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scenario did not finish within ${budget / 1000} s; ` +
        `last step: ${ctx.lastStep}`)), budget);
    });
    const run = fn(ctx);
    run.catch(() => {}); // still running after the deadline: its later failure is not news
    try {
      await Promise.race([run, deadline]);
    } catch (err) {
      h.failed = true;
      let report = `\n######## FAILED: ${name} (channel ${ctx.channel})\n${err.stack || err}\n`;
      for (const c of ctx.clients) report += await c.dump();
      if (h.server) {
        if (h.server.exit) report += `hayate has exited: ${JSON.stringify(h.server.exit)}\n`;
        report += `==== hayate metrics (hayate_*, non-zero) ====\n${await h.server.metricsSummary()}\n`;
        report += `==== hayate log during this test ====\n${h.server.logSince(offset, 120)}\n`;
      }
      process.stderr.write(report + '######## end of report\n');
      throw err;
    } finally {
      clearTimeout(timer);
      await context.close().catch(() => {});
    }
  });
}

/**
 * Polls probe() every intervalMs until it returns {ok: true} or timeoutMs
 * passes; returns the last result. probe returns {ok, ...observed}.
 */
export async function poll(probe, { timeoutMs = 20_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs) + 1; i++) {
    last = await probe();
    if (last.ok || Date.now() >= deadline) return last;
    await sleep(intervalMs);
  }
  return last;
}

// ---- stats helpers ----

/** inbound-rtp entries of kind, each with codec (mimeType) resolved. */
export function inbound(stats, kind) {
  const codecs = new Map(stats.filter((s) => s.type === 'codec').map((s) => [s.id, s.mimeType]));
  return stats
    .filter((s) => s.type === 'inbound-rtp' && s.kind === kind)
    .map((s) => ({ ...s, codec: codecs.get(s.codecId) || null }));
}

export function outbound(stats, kind) {
  const codecs = new Map(stats.filter((s) => s.type === 'codec').map((s) => [s.id, s.mimeType]));
  return stats
    .filter((s) => s.type === 'outbound-rtp' && s.kind === kind)
    .map((s) => ({ ...s, codec: codecs.get(s.codecId) || null }));
}

/** The selected candidate pair (for availableOutgoingBitrate etc.), if any. */
export function selectedPair(stats) {
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  if (transport) return stats.find((s) => s.id === transport.selectedCandidatePairId) || null;
  return stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') || null;
}

/** A short description of inbound streams for assertion messages. */
export function describeInbound(stats) {
  const rows = [...inbound(stats, 'audio'), ...inbound(stats, 'video')].map((s) =>
    `${s.kind}[from ${s.remoteConnectionId || '?'} ${s.codec || 'no codec'} ssrc ${s.ssrc}: ` +
    `packets ${s.packetsReceived ?? 0}, bytes ${s.bytesReceived ?? 0}` +
    (s.kind === 'video' ? `, framesReceived ${s.framesReceived ?? 0}, framesDecoded ${s.framesDecoded ?? 0}, ` +
      `keyFramesDecoded ${s.keyFramesDecoded ?? 0}, frameWidth ${s.frameWidth ?? '-'}, pliCount ${s.pliCount ?? 0}, ` +
      `nackCount ${s.nackCount ?? 0}` : '') + ']');
  return rows.length > 0 ? rows.join('; ') : 'no inbound-rtp at all';
}
