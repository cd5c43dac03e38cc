import Fastify from 'fastify';
import autocannon from 'autocannon';
import { createServer } from 'node:http';
import { fork } from 'node:child_process';
const mode = process.argv[2];
const body = { id: 'video_0123456789abcdef01234567', task_id: 'video_0123456789abcdef01234567', object: 'video', model: 'grok-imagine', status: 'queued', progress: 0, created_at: 1795306037, completed_at: null, expires_at: null, prompt: 'a red kite over the sea', seconds: '3', size: '480p', error: null, remixed_from_video_id: null, video_url: '' };
if (mode === 'bare') {
  const bytes = Buffer.from(JSON.stringify(body));
  createServer((q, r) => { r.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.length }); r.end(bytes); }).listen(18201, '127.0.0.1');
} else if (mode === 'fastify') {
  const app = Fastify();
  app.get('/v1/videos/:id', async () => ({ ...body }));
  await app.listen({ port: 18202 });
} else {
  const a = fork(new URL(import.meta.url).pathname, ['bare'], { execArgv: ['--import', 'tsx'] });
  const b = fork(new URL(import.meta.url).pathname, ['fastify'], { execArgv: ['--import', 'tsx'] });
  await new Promise((r) => setTimeout(r, 2500));
  for (const port of [18201, 18202, 18201, 18202]) {
    const res = await autocannon({ url: `http://127.0.0.1:${port}/v1/videos/x`, connections: 50, duration: 5, headers: { authorization: 'Bearer sk-abc' } });
    console.log(port, res.requests.average);
  }
  a.kill(); b.kill();
}
