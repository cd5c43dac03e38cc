import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The baseline: a bare node:http server that answers with the same bytes the gateway
 * sends, doing nothing else. BODY_FILE is answered as JSON to any request (after reading
 * a request body, as a create must); STREAM_FILE is streamed as video/mp4.
 */
const bodyFile = process.env.BODY_FILE;
const streamFile = process.env.STREAM_FILE;
const body = bodyFile ? readFileSync(bodyFile) : null;
const size = streamFile ? statSync(streamFile).size : 0;

const server = createServer((request, response) => {
  if (streamFile) {
    response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': size });
    createReadStream(streamFile, { highWaterMark: 1024 * 1024 }).pipe(response);
    return;
  }
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body!.length });
    response.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
