// Stand-in for `minio server DIR --console-address :9001`: s3rver on :9000 with MINIO_ROOT_USER's key.
import { createRequire } from 'node:module';
import S3rver from '@20minutes/s3rver';
const require = createRequire(import.meta.url);
const { DUMMY_ACCOUNT } = require('@20minutes/s3rver/lib/models/account.js');
const [command, directory] = process.argv.slice(2);
if (command !== 'server' || !directory) { console.error('usage: minio server DIR'); process.exit(2); }
DUMMY_ACCOUNT.createKeyPair(process.env.MINIO_ROOT_USER, process.env.MINIO_ROOT_PASSWORD);
// allowMismatchedSignatures: s3rver signs a bucket's own path as `/bucket`, the SDK `/bucket/`.
// vhostBuckets: false, else the host name `minio` is read as a bucket's (MinIO is path-style here).
const server = new S3rver({ port: 9000, address: '0.0.0.0', directory, allowMismatchedSignatures: true, vhostBuckets: false });
await server.run();
console.log(`s3rver (minio stand-in) on :9000, objects in ${directory}`);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close().then(() => process.exit(0)));
