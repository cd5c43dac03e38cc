import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One webhook request as it arrived: the raw body, for the signature check. */
export interface Arrival {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** What the receiver answers on a path: a status, or no answer at all. */
export type Answer = number | 'hang';

/**
 * A local endpoint that records every delivery and answers each path from a script
 * (then 200), so that a test can make an endpoint fail, hang, or take what comes.
 */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  hostPort: string;
  arrivals: Arrival[];
  on(path: string): Arrival[];
  /** The answers to the next requests on `path`, in order; after them, 200. */
  script(path: string, ...answers: Answer[]): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const arrivals: Arrival[] = [];
  const scripts = new Map<string, Answer[]>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      arrivals.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const answer = scripts.get(path)?.shift() ?? 200;
      if (answer === 'hang') return;
      response.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    arrivals,
    on: (path) => arrivals.filter((arrival) => arrival.path === path),
    script: (path, ...answers) => scripts.set(path, answers),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
