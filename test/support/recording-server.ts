import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in upstream that records every request and answers from a per-test script,
 * so that an adapter's test can assert the exact request it sent and feed it each answer
 * an upstream may give, over real HTTP.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON; null when there was none, the text when it was not JSON. */
  body: unknown;
}

export type Reply =
  /** `json` is serialized; `text` is sent as it is (a malformed body); neither: no body. */
  | { status: number; json?: unknown; text?: string; headers?: Record<string, string> }
  /** Drop the connection once the request has arrived: the request was sent, no answer came. */
  | { reset: true }
  /** Never answer (a timeout on the client's side). */
  | { hang: true };

export type Script = Reply | ((request: RecordedRequest) => Reply);

export interface RecordingServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: RecordedRequest[];
  /** The answers to the next requests, in order; a request past the script gets a 599. */
  script(...replies: Script[]): void;
  close(): Promise<void>;
}

export async function startRecordingServer(): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  let queue: Script[] = [];
  const server: Server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const recorded: RecordedRequest = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: parse(text) };
      requests.push(recorded);
      const next = queue.shift();
      const reply: Reply = next === undefined ? { status: 599, text: 'no scripted reply' } : typeof next === 'function' ? next(recorded) : next;
      if ('reset' in reply) {
        request.socket.destroy();
        return;
      }
      if ('hang' in reply) return;
      const body = reply.json !== undefined ? JSON.stringify(reply.json) : reply.text;
      const type = reply.json !== undefined ? { 'content-type': 'application/json' } : {};
      response.writeHead(reply.status, { ...type, ...reply.headers });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (...replies) => {
      queue = replies;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on which nothing listens: a port that was just free. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parse(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
