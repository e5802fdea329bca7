// Builds and runs the Hayate server as a child process for the browser tests.
//
// One server per test file: buildServer() once, startServer() in a before
// hook, server.stop() in an after hook (which also runs when tests fail).
// The server logs at debug level into a file; logSince() returns what it
// wrote during one test so a failure can show it.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.mjs';

export const e2eDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(e2eDir, '..');
export const sdkDir = path.join(e2eDir, 'node_modules', 'sora-js-sdk', 'dist');

const workDir = mkdtempSync(path.join(tmpdir(), 'hayate-e2e-'));

/**
 * Removes the temporary directory (binary and logs). With keepLogs only the
 * binary goes and the directory is named on stderr.
 */
export function cleanupWorkDir({ keepLogs = false } = {}) {
  if (keepLogs) {
    rmSync(path.join(workDir, 'hayate'), { force: true });
    process.stderr.write(`hayate logs kept in ${workDir}\n`);
  } else {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Builds ./cmd/hayate into a temporary directory and returns the binary's
 * path. HAYATE_BIN, when set, names an already built binary instead
 * (scripts/e2e.sh builds once for all test files).
 */
export async function buildServer() {
  if (process.env.HAYATE_BIN) {
    if (!existsSync(process.env.HAYATE_BIN)) {
      throw new Error(`HAYATE_BIN=${process.env.HAYATE_BIN} does not exist`);
    }
    return process.env.HAYATE_BIN;
  }
  const bin = path.join(workDir, 'hayate');
  await new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', bin, './cmd/hayate'], { cwd: repoRoot, timeout: 240_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`go build -o ${bin} ./cmd/hayate (in ${repoRoot}) failed: ${err.message}\n${stdout}${stderr}`));
        } else {
          resolve();
        }
      });
  });
  return bin;
}

/** A running server: ports, URLs, log access, stop(). */
export class Server {
  constructor(child, ports, logFile) {
    this.child = child;
    this.ports = ports;
    this.logFile = logFile;
    this.exit = null; // {code, signal} once exited
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    this.signalingUrl = `ws://127.0.0.1:${ports.signaling}/signaling`;
    this.httpUrl = `http://127.0.0.1:${ports.signaling}`;
    this.adminUrl = `http://127.0.0.1:${ports.admin}`;
  }

  /** Current size of the log file, to be passed to logSince later. */
  logOffset() {
    try {
      return statSync(this.logFile).size;
    } catch {
      return 0;
    }
  }

  /** The log written since offset: its last maxLines lines plus every warning/error line (up to 40). */
  logSince(offset = 0, maxLines = 80) {
    let text = '';
    try {
      text = readFileSync(this.logFile).subarray(offset).toString('utf8');
    } catch (err) {
      return `(cannot read ${this.logFile}: ${err.message})`;
    }
    const lines = text.split('\n').filter((l) => l.length > 0);
    const tail = lines.slice(-maxLines);
    const problems = lines
      .slice(0, Math.max(0, lines.length - maxLines))
      .filter((l) => /level=(WARN|ERROR)|"level":"(WARN|ERROR)"|panic|fatal/i.test(l))
      .slice(-40);
    let out = '';
    if (problems.length > 0) {
      out += `-- warnings/errors before the tail (${problems.length}) --\n${problems.join('\n')}\n`;
    }
    out += `-- last ${tail.length} of ${lines.length} log lines (${this.logFile}) --\n${tail.join('\n')}`;
    return out;
  }

  /** The server's own Prometheus series (hayate_*) whose value is not 0, one per line. */
  async metricsSummary() {
    if (this.exit) return '(server has exited)';
    try {
      const res = await fetch(`${this.adminUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      return text.split('\n')
        .filter((l) => l.startsWith('hayate_') && !/ 0$/.test(l))
        .join('\n') || '(none)';
    } catch (err) {
      return `(GET ${this.adminUrl}/metrics failed: ${err.message})`;
    }
  }

  /** Throws when the server process has exited. */
  assertRunning() {
    if (this.exit) {
      throw new Error(`hayate exited (code ${this.exit.code}, signal ${this.exit.signal})\n${this.logSince(0, 60)}`);
    }
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves to {code, signal}. Safe to call twice. */
  async stop(graceMs = 8000) {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exit) this.child.kill('SIGKILL');
    }, graceMs);
    const res = await this.exited;
    clearTimeout(timer);
    return res;
  }
}

const running = new Set();
function killRunning() {
  for (const s of running) if (!s.exit) s.child.kill('SIGKILL');
}
process.on('exit', killRunning);
// The test runner ends a file's process with a signal on its own timeout or ^C.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killRunning();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

/**
 * Starts the server on free ports with the test settings and waits until
 * /healthz on the admin port answers 200 (at most timeoutMs).
 */
export async function startServer(bin, { timeoutMs = 20_000, extraEnv = {} } = {}) {
  const ports = {
    signaling: await freePort(),
    api: await freePort(),
    media: await freePort(),
    admin: await freePort(),
  };
  const logFile = path.join(workDir, `hayate-${ports.signaling}.log`);
  const fd = openSync(logFile, 'a');
  // The server rejects unknown HAYATE_* keys, so the harness's own
  // HAYATE_E2E_* / HAYATE_BIN settings must not reach it.
  const inherited = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('HAYATE_E2E_') && k !== 'HAYATE_BIN'));
  const env = {
    ...inherited,
    HAYATE_LISTEN_ADDRESS: '127.0.0.1',
    HAYATE_SIGNALING_PORT: String(ports.signaling),
    HAYATE_API_PORT: String(ports.api),
    HAYATE_MEDIA_PORT: String(ports.media),
    HAYATE_ADMIN_PORT: String(ports.admin),
    HAYATE_PUBLIC_IP_LIST: '127.0.0.1',
    HAYATE_SDK_DIR: sdkDir,
    HAYATE_LOG_LEVEL: 'debug',
    ...extraEnv,
  };
  const child = spawn(bin, [], { cwd: repoRoot, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const server = new Server(child, ports, logFile);
  running.add(server);
  server.exited.then(() => running.delete(server));

  const started = Date.now();
  let lastErr = 'no answer yet';
  while (Date.now() - started < timeoutMs) {
    if (server.exit) {
      throw new Error(`hayate exited during start-up (code ${server.exit.code}, signal ${server.exit.signal}); ` +
        `env ${Object.entries(env).filter(([k]) => k.startsWith('HAYATE_')).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
        server.logSince(0, 60));
    }
    try {
      const res = await fetch(`${server.adminUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return server;
      lastErr = `HTTP ${res.status}`;
    } catch (err) {
      lastErr = err.cause?.code || err.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await server.stop(2000);
  throw new Error(`hayate did not answer ${server.adminUrl}/healthz within ${timeoutMs} ms (last: ${lastErr})\n` +
    server.logSince(0, 60));
}
