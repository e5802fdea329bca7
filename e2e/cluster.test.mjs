// A two-node cluster seen by the real sora-js-sdk: a client that connects
// to the node that does not own its channel gets `redirect` and the SDK
// connects to the owner by itself; both clients end up on the owner and
// decode each other's video.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, after } from 'node:test';
import { useHarness, scenario, poll, inbound, describeInbound } from './lib/harness.mjs';
import { buildServer, startServer } from './lib/server.mjs';
import { freePort } from './lib/ports.mjs';

const h = useHarness({ startHayate: false });
const nodes = [];
const dataDir = mkdtempSync(path.join(tmpdir(), 'hayate-e2e-cluster-'));

/** POSTs one API operation to a node; returns {status, json}. */
async function api(node, target, body) {
  const res = await fetch(`http://127.0.0.1:${node.ports.api}/`, {
    method: 'POST',
    headers: { 'x-sora-target': target, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: JSON.parse(await res.text()) };
}

before(async () => {
  h.bin = await buildServer();
  // Both nodes on 127.0.0.1: the cluster port is in the node name.
  const clusterPorts = [await freePort(), await freePort()];
  const names = clusterPorts.map((p, i) => `n${i + 1}@127.0.0.1:${p}`);
  for (const [i, name] of names.entries()) {
    nodes.push(await startServer(h.bin, {
      extraEnv: {
        HAYATE_CLUSTER: 'true',
        HAYATE_NODE_NAME: name,
        HAYATE_DATA_DIR: path.join(dataDir, `n${i + 1}`),
      },
    }));
  }
  h.server = nodes[0]; // its log goes into failure reports
  const init = await api(nodes[0], 'Sora_20221221.InitCluster', { node_name_list: names });
  assert.equal(init.status, 200, `InitCluster: ${init.status} ${JSON.stringify(init.json)}`);
  const r = await poll(async () => {
    const { json } = await api(nodes[1], 'Sora_20211215.ListClusterNodes');
    const up = Array.isArray(json) ? json.filter((n) => n.connected).length : 0;
    return { ok: up === 2, json };
  }, { timeoutMs: 20_000 });
  assert.ok(r.ok, `the two nodes did not see each other connected: ${JSON.stringify(r.json)}`);
}, { timeout: 300_000 });

after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
});

scenario('redirect: the SDK follows it to the channel owner, and both clients decode each other', h, { timeout: 90_000 }, async (ctx) => {
  const [owner, other] = nodes;
  const a = await ctx.open('a');
  const b = await ctx.open('b');
  ctx.step('a connects to the first node: it takes the channel');
  const idA = await a.connect({ signalingUrl: owner.signalingUrl, channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });
  ctx.step('b connects to the second node: redirect to the owner');
  const idB = await b.connect({ signalingUrl: other.signalingUrl, channelId: ctx.channel, role: 'sendrecv', videoCodecType: 'VP8' });

  const onOwner = await api(owner, 'Sora_20201013.ListChannelConnections', { channel_id: ctx.channel });
  const ids = (onOwner.json || []).map((c) => c.connection_id).sort();
  assert.deepEqual(ids, [idA, idB].sort(), `the owner holds ${JSON.stringify(onOwner.json)}, want a and b`);
  const local = await api(other, 'Sora_20201013.ListConnections');
  assert.deepEqual(local.json, [], `the second node holds ${JSON.stringify(local.json)}, want none`);

  for (const [c, from] of [[a, idB], [b, idA]]) {
    ctx.step(`${c.name} decodes the other`);
    const r = await poll(async () => {
      const stats = await c.stats();
      const v = inbound(stats, 'video').find((s) => s.remoteConnectionId === from);
      return { ok: !!v && v.framesDecoded > 0, stats };
    }, { timeoutMs: 20_000 });
    assert.ok(r.ok, `${c.name} decodes no video from ${from}; inbound: ${describeInbound(r.stats)}`);
  }
});
