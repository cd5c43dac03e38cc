import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * An origin written on a bare socket, because node:http always frames its
 * answers (Content-Length or chunked) and keeps connections alive. This one
 * answers the way old and minimal public servers do: HTTP/1.0, no
 * Content-Length, the end of the body marked only by closing the connection.
 */
export interface Http10Origin {
  url: string;
  hostPort: string;
  close(): Promise<void>;
}

export interface Http10OriginOptions {
  body: Buffer;
  contentType?: string;
  /** Write the body in pieces of this size, pausing between them; default: one write. */
  chunkSize?: number;
  delayMs?: number;
}

export async function startHttp10Origin(options: Http10OriginOptions): Promise<Http10Origin> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client that gives up mid-body resets the socket; that is not a test failure.
    socket.on('error', () => {});
    let head = '';
    const onData = (data: Buffer): void => {
      head += data.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      void answer(socket, options);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(socket: net.Socket, { body, contentType = 'image/png', chunkSize, delayMs = 0 }: Http10OriginOptions): Promise<void> {
  socket.write(`HTTP/1.0 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`);
  const step = chunkSize ?? Math.max(1, body.length);
  for (let offset = 0; offset < body.length && !socket.destroyed; offset += step) {
    socket.write(body.subarray(offset, offset + step));
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  socket.end();
}
