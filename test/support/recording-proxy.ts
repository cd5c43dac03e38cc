import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A transparent HTTP proxy in front of a real server (a relayed vidgate), recording every
 * request that passes: a test can then assert exactly what one gateway asked of another.
 * Bodies are read whole (small JSON in these tests); answers are streamed through untouched.
 */
export interface ProxiedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Lowercased names, as node gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** The body as text ('' when none). */
  text: string;
  /** The answer's status, once it came. */
  status?: number;
}

export interface RecordingProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * `refuse`: the requests answered here, as a load balancer with no process to give them to
 * answers (503, Retry-After: 1, the gateway's envelope), instead of being passed on.
 */
export async function startRecordingProxy(target: string, refuse: (request: ProxiedRequest) => boolean = () => false): Promise<RecordingProxy> {
  const to = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: ProxiedRequest = { method: incoming.method ?? 'GET', path: incoming.url ?? '/', headers: { ...incoming.headers }, text: body.toString('utf8') };
      requests.push(recorded);
      if (refuse(recorded)) {
        recorded.status = 503;
        outgoing.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        outgoing.end(JSON.stringify({ error: { message: 'No gateway process answered; retry', type: 'server_error', param: null, code: 'service_unavailable' } }));
        return;
      }
      const headers = { ...incoming.headers, host: to.host };
      const forward = httpRequest({ hostname: to.hostname, port: to.port, method: incoming.method, path: incoming.url, headers }, (answer) => {
        recorded.status = answer.statusCode;
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      forward.on('error', () => outgoing.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
