import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { buildPriceTable, type PriceTable, pricesSchema } from './billing/prices.ts';
import { channelSpecs, channelsSchema, type ChannelSpec } from './channels/settings.ts';
import { parseAllowedHosts } from './net/address-policy.ts';
import type { S3Settings } from './storage/s3.ts';

/**
 * One loadConfig(): environment variables, optionally over a JSON file named by
 * VIDGATE_CONFIG whose keys are the same variable names. Every bad value is reported
 * at once, by name, before anything starts.
 */
export type Role = 'all' | 'api' | 'worker';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  adminKey: string | null;
  role: Role;
  allowedPrivateHosts: ReadonlySet<string>;
  /** Browser origins allowed to call the API (CORS); empty: none. */
  corsOrigins: CorsOrigins;
  /** Base of the absolute URLs we hand out (metadata.url); defaults to the request's own origin. */
  publicUrl: string | null;
  renderConcurrency: number;
  runnerConcurrency: number;
  leaseSeconds: number;
  /** How long a finished video stays downloadable (expires_at); its file is removed after. */
  videoTtlHours: number;
  /** How often a runner looks for expired videos to remove. */
  expirySweepSeconds: number;
  /** Creates one API key may make per minute in one process. */
  rateLimitPerMinute: number;
  maxBodyBytes: number;
  maxInputBytes: number;
  fetchTimeoutSeconds: number;
  /** Upstream channels (config file CHANNELS and the XAI_/VIDU_/RELAY_ shortcuts); none: every model renders locally. */
  channels: ChannelSpec[];
  /** What each model's videos cost (defaults with the config file's PRICES over them). */
  prices: PriceTable;
  /** A Vidu credit in micro-dollars. */
  viduCreditMicros: number;
  /** Upstream steps (submits, checks) one worker runs at once. */
  upstreamConcurrency: number;
  /** Finished upstream results one worker copies (downloads, probes, stores) at once. */
  copyConcurrency: number;
  /** The largest upstream result video we copy. */
  maxResultBytes: number;
  webhooks: WebhookSettings;
  database: DatabaseSettings;
  /** An S3-compatible bucket for videos and inputs; null: the folder DATA_DIR/files. */
  s3: S3Settings | null;
  /** The worker makes a video's thumbnail and spritesheet as it keeps it; false: the api process, on first request. */
  stillsOnKeep: boolean;
  /** Content downloads answered with a 302 to a short-lived presigned link, so the bytes never pass through us (S3 only). */
  contentRedirect: boolean;
  /** redis://… shared by every process: rate limits count across them; null: each process counts its own. */
  redisUrl: string | null;
  /** A bearer token that may read GET /metrics besides the admin key; null: the admin key only. */
  metricsToken: string | null;
  logLevel: string;
}

export interface DatabaseSettings {
  /** postgres://…; null: the SQLite file in DATA_DIR. */
  url: string | null;
  /** PostgreSQL schema the tables live in. */
  schema: string;
  /** PostgreSQL connections one process keeps at most. */
  poolSize: number;
  /**
   * How long a connection or a statement may wait for the database before it is given up as
   * unreachable (a 503 to the client): a server that stops answering must not hold requests for ever.
   */
  timeoutMs: number;
}

export interface WebhookSettings {
  /** One delivery attempt, connection to answer. */
  timeoutMs: number;
  /** The wait after the first failed attempt; each next one waits twice as long, up to an hour. */
  retryBaseMs: number;
  /** How long an event is retried before its delivery is given up. */
  retryForMs: number;
}

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * Seconds that become a timer (a time limit, an interval). Node's timers hold at most
 * 2^31 - 1 ms (about 24.8 days); a longer one fires at once, so that a limit of "forever"
 * would time every statement out after 1 ms. Fractions allowed unless `whole`.
 */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
const timerSeconds = (fallback: number, { whole = false } = {}) =>
  (whole ? z.coerce.number().int() : z.coerce.number()).positive().max(MAX_TIMER_SECONDS, `must be at most ${MAX_TIMER_SECONDS} (a timer holds no longer)`).default(fallback);

// 1/true or 0/false, as operators write switches.
const flag = (fallback: boolean) =>
  z
    .enum(['0', '1', 'true', 'false'], { error: 'must be 1 or 0' })
    .transform((value) => value === '1' || value === 'true')
    .default(fallback);

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  ALLOWED_PRIVATE_HOSTS: z.string().default(''),
  CORS_ORIGINS: z.string().default(''),
  PUBLIC_URL: z.url().optional(),
  RENDER_CONCURRENCY: positiveInt(1),
  RUNNER_CONCURRENCY: positiveInt(8),
  LEASE_SECONDS: timerSeconds(30, { whole: true }),
  // Fractions allowed: 0.5 is half an hour.
  VIDEO_TTL_HOURS: z.coerce.number().positive().default(24 * 7),
  EXPIRY_SWEEP_SECONDS: timerSeconds(60, { whole: true }),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  MAX_BODY_MB: positiveInt(64),
  MAX_INPUT_MB: positiveInt(100),
  FETCH_TIMEOUT_SECONDS: timerSeconds(60, { whole: true }),
  // A JSON array in the config file, or a JSON string in the environment.
  CHANNELS: z.preprocess(parseJsonString, channelsSchema).default([]),
  XAI_API_KEY: z.string().optional(),
  XAI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  VIDU_API_KEY: z.string().optional(),
  VIDU_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  RELAY_API_KEY: z.string().optional(),
  RELAY_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  // Per model, over the defaults (src/billing/prices.ts): a JSON object in the config file, or a JSON string.
  PRICES: z.preprocess(parseJsonString, pricesSchema).default({}),
  // What one Vidu credit costs you, in micro-dollars: the usage report's upstream cost (default $0.005).
  VIDU_CREDIT_MICROS: positiveInt(5_000),
  UPSTREAM_CONCURRENCY: positiveInt(64),
  // A copy mostly waits (the download, the disk): 4 at once kept about 150 results a second at most (bench:tracking), 32 over 250.
  COPY_CONCURRENCY: positiveInt(32),
  MAX_RESULT_MB: positiveInt(1024),
  WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().positive().max(60).default(10),
  // Fractions allowed (tests use 0.1).
  WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().positive().default(10),
  WEBHOOK_RETRY_HOURS: z.coerce.number().positive().default(24),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case name').default('public'),
  DATABASE_POOL_SIZE: positiveInt(10),
  // Fractions allowed (tests use 1).
  DATABASE_TIMEOUT_SECONDS: timerSeconds(30),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional(),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_PUBLIC_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: flag(false),
  // Fractions allowed (tests use 1).
  S3_TIMEOUT_SECONDS: timerSeconds(30),
  CONTENT_REDIRECT: flag(false),
  STILLS_ON_KEEP: flag(true),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export class ConfigError extends Error {}

/** A JSON value given as a string (from the environment); a string that is not JSON stays one, for the schema to refuse. */
function parseJsonString(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export type CorsOrigins = ReadonlySet<string> | '*';

/** CORS_ORIGINS: `*`, or comma-separated origins such as `https://app.example.com`. */
export function parseCorsOrigins(value: string): CorsOrigins {
  const entries = value.split(/[\s,]+/).filter(Boolean);
  if (entries.includes('*')) return '*';
  const origins = new Set<string>();
  for (const entry of entries) {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`"${entry}" is not an origin (scheme://host[:port])`);
    }
    if (url.origin === 'null' || url.origin !== entry.replace(/\/$/, '')) throw new Error(`"${entry}" is not an origin (scheme://host[:port], no path)`);
    origins.add(url.origin);
  }
  return origins;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.VIDGATE_CONFIG ? readConfigFile(env.VIDGATE_CONFIG) : {};
  const merged: Record<string, unknown> = { ...fromFile };
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const c = parsed.data;
  let allowedPrivateHosts: Set<string>;
  try {
    allowedPrivateHosts = parseAllowedHosts(c.ALLOWED_PRIVATE_HOSTS);
  } catch (error) {
    throw new ConfigError(`Invalid configuration:\n  ALLOWED_PRIVATE_HOSTS: ${(error as Error).message}`);
  }
  let corsOrigins: CorsOrigins;
  try {
    corsOrigins = parseCorsOrigins(c.CORS_ORIGINS);
  } catch (error) {
    throw new ConfigError(`Invalid configuration:\n  CORS_ORIGINS: ${(error as Error).message}`);
  }
  let channels: ChannelSpec[];
  try {
    channels = channelSpecs(c.CHANNELS, c);
  } catch (error) {
    throw new ConfigError(`Invalid configuration:\n  CHANNELS: ${(error as Error).message}`);
  }
  if (c.CONTENT_REDIRECT && !c.S3_BUCKET) throw new ConfigError('Invalid configuration:\n  CONTENT_REDIRECT: needs S3_BUCKET (links are presigned by the bucket)');
  if ((c.S3_ACCESS_KEY_ID === undefined) !== (c.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError('Invalid configuration:\n  S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: set both, or neither for the SDK\'s own credentials');
  }
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: path.resolve(c.DATA_DIR),
    adminKey: c.ADMIN_KEY ?? null,
    role: c.ROLE,
    allowedPrivateHosts,
    corsOrigins,
    publicUrl: c.PUBLIC_URL?.replace(/\/+$/, '') ?? null,
    renderConcurrency: c.RENDER_CONCURRENCY,
    runnerConcurrency: c.RUNNER_CONCURRENCY,
    leaseSeconds: c.LEASE_SECONDS,
    videoTtlHours: c.VIDEO_TTL_HOURS,
    expirySweepSeconds: c.EXPIRY_SWEEP_SECONDS,
    rateLimitPerMinute: c.RATE_LIMIT_PER_MINUTE,
    maxBodyBytes: c.MAX_BODY_MB * 1024 * 1024,
    maxInputBytes: c.MAX_INPUT_MB * 1024 * 1024,
    fetchTimeoutSeconds: c.FETCH_TIMEOUT_SECONDS,
    channels,
    prices: buildPriceTable(c.PRICES),
    viduCreditMicros: c.VIDU_CREDIT_MICROS,
    upstreamConcurrency: c.UPSTREAM_CONCURRENCY,
    copyConcurrency: c.COPY_CONCURRENCY,
    maxResultBytes: c.MAX_RESULT_MB * 1024 * 1024,
    // Whole milliseconds: every time the gateway stores is an integer.
    webhooks: { timeoutMs: Math.round(c.WEBHOOK_TIMEOUT_SECONDS * 1000), retryBaseMs: Math.round(c.WEBHOOK_RETRY_BASE_SECONDS * 1000), retryForMs: Math.round(c.WEBHOOK_RETRY_HOURS * 3600_000) },
    database: { url: c.DATABASE_URL ?? null, schema: c.DATABASE_SCHEMA, poolSize: c.DATABASE_POOL_SIZE, timeoutMs: Math.round(c.DATABASE_TIMEOUT_SECONDS * 1000) },
    s3: c.S3_BUCKET
      ? {
          bucket: c.S3_BUCKET,
          endpoint: c.S3_ENDPOINT ?? null,
          publicEndpoint: c.S3_PUBLIC_ENDPOINT ?? null,
          region: c.S3_REGION,
          credentials: c.S3_ACCESS_KEY_ID && c.S3_SECRET_ACCESS_KEY ? { accessKeyId: c.S3_ACCESS_KEY_ID, secretAccessKey: c.S3_SECRET_ACCESS_KEY } : null,
          forcePathStyle: c.S3_FORCE_PATH_STYLE,
          timeoutMs: Math.round(c.S3_TIMEOUT_SECONDS * 1000),
        }
      : null,
    contentRedirect: c.CONTENT_REDIRECT,
    stillsOnKeep: c.STILLS_ON_KEEP,
    redisUrl: c.REDIS_URL ?? null,
    metricsToken: c.METRICS_TOKEN ?? null,
    logLevel: c.LOG_LEVEL,
  };
}

function readConfigFile(file: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    // Numbers in the file are as good as the strings the environment gives.
    return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, typeof value === 'number' ? String(value) : value]));
  } catch (error) {
    throw new ConfigError(`Cannot read VIDGATE_CONFIG ${file}: ${(error as Error).message}`);
  }
}
