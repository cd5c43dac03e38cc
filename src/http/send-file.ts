import { open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/**
 * Sends bytes start..end (inclusive) of a local file with a pool of reused buffers.
 *
 * - Pooled, not fs.createReadStream: a fresh buffer per chunk costs garbage collection in
 *   a process with a gateway-sized heap (measured: 1.42 against 1.74 GB/s for the same
 *   stream with and without a large heap; 1.8 pooled). A buffer goes back to the pool
 *   only from its write callback, once the socket is done with it; a write whose callback
 *   never comes (node drops it when the socket is already gone) leaves its buffer to the GC.
 * - 512 KiB chunks: on the bench machine, reading into pooled 1 and 2 MiB buffers cost the
 *   server 0.8–0.9 s of CPU per GiB sent against 0.4–0.5 with 512 or 768 KiB (kernel
 *   time: pread into the larger buffers copied at ~2 instead of ~8 GB/s). With 2 MiB
 *   chunks the gateway reached 0.70× of a bare createReadStream server; with 512 KiB, 1.04–1.12×.
 * - No read ahead: one read in flight while the socket drains measured no better (0.98–0.99×
 *   against 1.04–1.06× in the same A/B), hot cache or cold. The kernel holds megabytes of
 *   the socket's data when 'drain' comes, and reads ahead on a file read in order.
 * - Backpressure by 'drain' (or 'close'), never by waiting on a write callback: when the
 *   client is gone, node may return false from write() without ever calling back, and a
 *   send waiting for that callback would hold its file handle until garbage collection.
 * Per connection this holds one chunk, and the pool at most POOL_LIMIT idle ones: memory
 * does not grow with the file's size.
 */
const CHUNK = 512 * 1024;
const POOL_LIMIT = 64;
const pool: Buffer[] = [];
const take = (): Buffer => pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
const release = (buffer: Buffer): void => {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
};

export async function sendFile(response: ServerResponse, file: string, start: number, end: number): Promise<void> {
  const handle = await open(file, 'r');
  try {
    let position = start;
    while (position <= end && !response.destroyed) {
      const buffer = take();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, end - position + 1), position);
      if (bytesRead === 0 || response.destroyed) {
        release(buffer);
        break;
      }
      position += bytesRead;
      const chunk = bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead);
      if (!response.write(chunk, () => release(buffer)) && !(await drained(response))) break;
    }
    // A file that came up short (truncated under us) must not pass for a whole one.
    if (position <= end) response.destroy();
    else response.end();
  } finally {
    await handle.close();
  }
}

/** True once the response has drained; false if it closed (the client went away) first. */
function drained(response: ServerResponse): Promise<boolean> {
  if (response.destroyed) return Promise.resolve(false);
  if (!response.writableNeedDrain) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onDrain = () => {
      response.off('close', onClose);
      resolve(true);
    };
    const onClose = () => {
      response.off('drain', onDrain);
      resolve(false);
    };
    response.once('drain', onDrain);
    response.once('close', onClose);
  });
}
