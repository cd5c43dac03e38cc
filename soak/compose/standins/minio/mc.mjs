#!/usr/bin/env node
// Stand-in for the three `mc` commands deploy/docker-compose.yml runs: ready, alias set, mb --ignore-existing.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BucketAlreadyExists, BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
const file = `${process.env.HOME || '/tmp'}/.mc-standin.json`;
const read = () => { try { return JSON.parse(readFileSync(file, 'utf8')); } catch { return { local: { url: 'http://localhost:9000' } }; } };
const args = process.argv.slice(2);
if (args[0] === 'ready') {
  const alias = read()[args[1]];
  const ok = await fetch(alias.url).then(() => true, () => false);
  process.exit(ok ? 0 : 1);
} else if (args[0] === 'alias' && args[1] === 'set') {
  const [name, url, user, password] = args.slice(2);
  mkdirSync(process.env.HOME || '/tmp', { recursive: true });
  writeFileSync(file, JSON.stringify({ ...read(), [name]: { url, user, password } }));
  console.log(`Added \`${name}\` successfully.`);
} else if (args[0] === 'mb') {
  const target = args.filter((a) => !a.startsWith('--'))[1];
  const [name, bucket] = target.split('/');
  const alias = read()[name];
  const client = new S3Client({ endpoint: alias.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: alias.user, secretAccessKey: alias.password } });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    console.log(`Bucket created successfully \`${target}\`.`);
  } catch (error) {
    if (!(args.includes('--ignore-existing') && (error instanceof BucketAlreadyOwnedByYou || error instanceof BucketAlreadyExists))) throw error;
    console.log(`Bucket \`${target}\` already exists.`);
  }
} else { console.error(`mc stand-in: unsupported ${args.join(' ')}`); process.exit(2); }
