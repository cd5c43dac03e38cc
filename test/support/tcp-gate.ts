import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder in front of a real server (PostgreSQL) that a test can shut, as if the
 * server went away (open connections cut, new ones refused), and open again on the same port;
 * or freeze, as if it stopped answering (a network that drops packets, a stopped process):
 * connections stay open and new ones are taken, but nothing passes until it thaws.
 */
export interface TcpGate {
  port: number;
  /** Connections taken so far, frozen or not. */
  readonly accepted: number;
  shut(): Promise<void>;
  open(): Promise<void>;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
}

export async function startTcpGate(targetHost: string, targetPort: number): Promise<TcpGate> {
  const sockets = new Set<Socket>();
  const pairs = new Set<Pair>();
  let frozen = false;
  let accepted = 0;
  let server: Server;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const forward = (pair: Pair) => {
    const upstream = (pair.upstream ??= createConnection({ host: targetHost, port: targetPort }));
    if (!sockets.has(upstream)) {
      track(upstream);
      upstream.once('close', () => pair.client.destroy());
    }
    pair.client.pipe(upstream).pipe(pair.client);
  };
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        accepted++;
        const pair: Pair = { client, upstream: null };
        track(client);
        pairs.add(pair);
        client.once('close', () => {
          pairs.delete(pair);
          pair.upstream?.destroy();
        });
        if (frozen) client.pause();
        else forward(pair);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const port = await listen(0);
  const shut = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  };
  const freeze = () => {
    frozen = true;
    for (const { client, upstream } of pairs) {
      client.unpipe();
      upstream?.unpipe();
      client.pause();
      upstream?.pause();
    }
  };
  const thaw = () => {
    frozen = false;
    for (const pair of pairs) forward(pair);
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    shut,
    open: async () => void (await listen(port)),
    freeze,
    thaw,
    close: shut,
  };
}

/** A gate in front of the server `url` names (on `defaultPort` when it names none), and that URL through the gate. */
export async function gateInFront(url: string, defaultPort: number): Promise<{ gate: TcpGate; url: string }> {
  const target = new URL(url);
  const gate = await startTcpGate(target.hostname, Number(target.port || defaultPort));
  const through = new URL(url);
  through.port = String(gate.port);
  return { gate, url: through.href };
}
