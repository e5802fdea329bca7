// Free-port allocation on 127.0.0.1. A port is "free" when both a TCP and a
// UDP socket can bind it (the media port is used for UDP and ICE-TCP).
import net from 'node:net';
import dgram from 'node:dgram';

const taken = new Set();

function tcpFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(0));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

function udpFree(port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', () => { sock.close(); resolve(false); });
    sock.bind({ address: '127.0.0.1', port, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

/** Returns a port on 127.0.0.1 free for TCP and UDP, distinct from earlier answers. */
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await tcpFree(0);
    if (port && !taken.has(port) && (await udpFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('freePort: no port free for both TCP and UDP on 127.0.0.1 after 50 tries');
}
