import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Client, newClient, removeDataDir, startGateway } from './support/gateway.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Disk use is bounded: what a process keeps while it works (uploads arriving, renders,
 * stills, probes) lives in its own folder under DATA_DIR/scratch, never in the OS temp
 * dir, and a process that starts removes what dead ones left there.
 */
const files = (directory: string): string[] =>
  existsSync(directory)
    ? readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(directory, entry.name);
        return entry.isDirectory() ? files(full) : [full];
      })
    : [];

const ownTemp = (since: number) =>
  readdirSync(os.tmpdir()).filter((name) => /^vidgate-(render|still|probe)-/.test(name) && statSync(path.join(os.tmpdir(), name)).mtimeMs >= since);

test('after kill -9 mid-render and mid-upload, the next start removes what the dead process left', async () => {
  const started = Date.now();
  let gateway = await startGateway({ LEASE_SECONDS: '1' });
  const { dataDir } = gateway;
  try {
    const client = await newClient(gateway);
    const scratch = path.join(dataDir, 'scratch');
    const { body: task } = await client.json('POST', '/v1/videos', { model: 'grok-imagine', prompt: 'a long render, killed', duration: 15, size: '480p' });
    await waitUntil(() => files(scratch).some((file) => file.includes(`${path.sep}renders${path.sep}`)), 'the render to write scratch files', 30_000, 100);

    // An upload that never finishes: its parts are on disk when the process dies.
    const boundary = 'vidgate-disk-test';
    const upload = httpRequest(`${gateway.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    upload.on('error', () => undefined);
    upload.write(`--${boundary}\r\nContent-Disposition: form-data; name="input_reference"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`);
    upload.write(Buffer.alloc(256 * 1024, 1));
    await waitUntil(() => files(scratch).some((file) => file.includes(`${path.sep}uploads${path.sep}`)), 'the upload to reach the disk', 30_000, 100);

    const left = readdirSync(scratch);
    assert.equal(left.length, 1, 'one folder for the one process');
    await gateway.stop('SIGKILL');
    upload.destroy();
    assert.ok(files(path.join(scratch, left[0]!)).length >= 2, 'the dead process left files behind');

    gateway = await startGateway({ LEASE_SECONDS: '1' }, dataDir);
    assert.ok(!existsSync(path.join(scratch, left[0]!)), 'the dead process’s folder is gone');
    assert.equal(readdirSync(scratch).length, 1, 'only the new process’s folder');

    // The task is carried on by the new process and its render leaves no scratch behind.
    const restarted = new Client(gateway.url, client.key);
    const finished = await restarted.waitFor(task.id, 90_000);
    assert.equal(finished.status, 'completed');
    await restarted.request('GET', `/v1/videos/${task.id}/content?variant=thumbnail`);
    assert.deepEqual(files(scratch), [], 'renders, stills and probes clean up after themselves');
    assert.deepEqual(ownTemp(started), [], 'nothing in the OS temp dir');
  } finally {
    await gateway.stop();
    removeDataDir(dataDir);
  }
});
