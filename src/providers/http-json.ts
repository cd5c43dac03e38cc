import type { z } from 'zod';
import { ProviderFailure } from './interface.ts';
import type { ChannelSettings } from './upstream.ts';
import { retryAfterMs, SubmitWithdrawn, UpstreamUnavailable } from './upstream-errors.ts';

/**
 * One JSON call to one channel, and its failures in the engine's terms. Every adapter
 * sends through here, so a refused key, a 429 or a dropped connection means the same
 * thing whichever upstream it came from. Raw answers go only into `detail` and error
 * causes (for the log), with the channel's keys blanked out of them.
 */

/** The answers we read are small JSON objects; past this an answer is not one of them. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** How much of a raw answer a log line keeps. */
const MAX_DETAIL_CHARS = 4000;

/**
 * System errors raised before any byte of the request can have left this machine: the
 * upstream cannot have made anything, so a submit may go to another channel at once.
 */
// ECONNECT_TIMEOUT and ECLOSED are the channel fetch's own (src/net/upstream-fetch.ts), as are its `requestSent: false` causes.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNECT_TIMEOUT', 'ECLOSED']);

/** An upstream's answer: status, headers and body, read within the size bound. */
export interface Answer {
  status: number;
  headers: Headers;
  /** The body as text; empty when there was none. */
  text: string;
  /** The body as JSON: null when empty, undefined when it is not JSON (see `malformed`). */
  json: unknown;
  /** True when the body was not JSON, or larger than we read. */
  malformed: boolean;
}

export interface UpstreamCall {
  method: 'GET' | 'POST';
  /** Under the channel's base URL, from its leading slash (`/videos/generations`). */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Beyond the key's own header and the JSON ones (an idempotency key). */
  headers?: Record<string, string>;
  /** Statuses besides 2xx that the adapter reads itself (404 on a check means the task is lost). */
  accept?: readonly number[];
  signal: AbortSignal;
  /** Run right before the request leaves (UpstreamJob.beforeSend); what it throws is thrown as it is. */
  beforeSend?: () => Promise<void>;
}

export interface ClientOptions {
  /** The upstream's name in our messages: `xAI`. */
  upstream: string;
  /** The header(s) that carry a key. */
  auth(key: string): Record<string, string>;
  /** Whether a 5xx on a submit may have made a task upstream (false only where the upstream documents it did not). */
  createdOnServerError(status: number): boolean;
  /**
   * The adapter's own reading of an error answer, before the common one (a Vidu 400
   * CreditInsufficient is a channel problem, not a bad input). Null: nothing special.
   * `detail` is the answer made safe for the log.
   */
  refine?(answer: Answer, detail: string): Error | null;
}

/** The upstream's own answer, as the cause of one of our errors: for the log only. */
export class UpstreamAnswer extends Error {
  constructor(
    readonly status: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`HTTP ${status}: ${detail}`, options);
    this.name = 'UpstreamAnswer';
  }
}

/**
 * The channel's key was refused (401/403). The channel cannot serve until its keys are
 * mended, but another channel may: nothing was made, so `created` is false.
 */
export class KeyRefused extends UpstreamUnavailable {
  constructor(
    message: string,
    readonly keyIndex: number,
    cause: unknown,
  ) {
    super(message, { created: false, cause });
    this.name = 'KeyRefused';
  }
}

export class JsonClient {
  /** Whose turn it is among the keys; kept per instance, so turns are fair within a process. */
  private turn = 0;

  constructor(
    private readonly settings: ChannelSettings,
    private readonly options: ClientOptions,
  ) {
    if (settings.keys.length === 0) throw new Error(`Channel ${settings.name} has no API key`);
  }

  /** The next key in turn, as its index: a submit takes one, and the task's checks keep it. */
  nextKey(): number {
    const index = this.turn % this.settings.keys.length;
    this.turn = index + 1;
    return index;
  }

  hasKey(index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.settings.keys.length;
  }

  /** The key's headers, for a download the engine makes itself (a relay's content). */
  authHeaders(index: number): Record<string, string> {
    return this.options.auth(this.key(index));
  }

  url(path: string): string {
    // The settings promise no trailing slash; an operator's typo should not double it.
    return `${this.settings.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  /** A 2xx answer or an accepted status; any other outcome is thrown as our error. */
  async send(keyIndex: number, call: UpstreamCall): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers, ...this.options.auth(this.key(keyIndex)) };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let answer: Answer;
    const fetch = this.settings.fetch;
    // The channel's fetch runs the hook once it holds a connection slot; a plain one (the adapter tests') cannot.
    if (call.beforeSend && !fetch.runsBeforeSend) await call.beforeSend();
    try {
      const response = await fetch(this.url(call.path), {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        // A redirect would carry the key to wherever it points, and turn a POST into a GET.
        redirect: 'manual',
        signal: call.signal,
        beforeSend: fetch.runsBeforeSend ? call.beforeSend : undefined,
      });
      answer = await readAnswer(response);
    } catch (error) {
      if (error instanceof SubmitWithdrawn) throw error;
      throw this.unreachable(error, call.signal);
    }
    if ((answer.status >= 200 && answer.status < 300) || call.accept?.includes(answer.status)) return answer;
    throw this.failure(answer, keyIndex);
  }

  /**
   * The answer read with the adapter's schema. An answer we cannot read after a submit
   * leaves the outcome as unknown as a dropped connection does: the upstream took the
   * request (2xx) but we hold no id, so `created` is true and the engine's one rule for
   * unknown submits applies. After a check, trying again later is all there is to do.
   */
  parse<T>(schema: z.ZodType<T>, answer: Answer, what: string): T {
    const parsed = answer.malformed ? null : schema.safeParse(answer.json);
    if (parsed?.success) return parsed.data;
    throw new UpstreamUnavailable(`${this.options.upstream} answered ${what} in a form we cannot read`, {
      created: true,
      cause: new UpstreamAnswer(answer.status, this.detail(answer.text), { cause: parsed?.error }),
    });
  }

  /** Text from an upstream made safe for the log: bounded, with no key of this channel in it. */
  detail(text: string): string {
    return this.redact(text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text);
  }

  /** Blanks out this channel's keys, should an upstream echo one back. */
  redact(text: string): string {
    let safe = text;
    for (const key of this.settings.keys) if (key.length > 0) safe = safe.replaceAll(key, '[key]');
    return safe;
  }

  private key(index: number): string {
    const key = this.settings.keys[index];
    if (key === undefined) throw new Error(`Channel ${this.settings.name} has no key #${index}`);
    return key;
  }

  private unreachable(error: unknown, signal: AbortSignal): unknown {
    // Our own caller stopped the step: that says nothing about the upstream.
    if (signal.aborted) return error;
    const notSent = errorCodes(error).some((code) => NOT_SENT.has(code));
    const upstream = this.options.upstream;
    return notSent
      ? new UpstreamUnavailable(`${upstream} could not be reached`, { created: false, cause: error })
      : new UpstreamUnavailable(`${upstream} did not answer (timeout or dropped connection)`, { created: true, cause: error });
  }

  private failure(answer: Answer, keyIndex: number): Error {
    const detail = this.detail(answer.text);
    const refined = this.options.refine?.(answer, detail);
    if (refined) return refined;
    const { status } = answer;
    const upstream = this.options.upstream;
    const cause = new UpstreamAnswer(status, detail);
    const wait = retryAfterMs(answer.headers.get('retry-after'), this.settings.clock.now());
    const unavailable = (message: string, created: boolean) => new UpstreamUnavailable(message, { created, retryAfterMs: wait, cause });
    if (status === 401 || status === 403) return new KeyRefused(`${upstream} refused the channel's API key (HTTP ${status})`, keyIndex, cause);
    if (status === 429) return unavailable(`${upstream} asked us to slow down (HTTP 429)`, false);
    // 408: the upstream gave up reading the request, so it made nothing.
    if (status === 408) return unavailable(`${upstream} timed out reading the request (HTTP 408)`, false);
    if (status === 402) return unavailable(`${upstream} refused for want of credit on the channel's account (HTTP 402)`, false);
    // A path the upstream does not have is the channel's setup, not the user's request.
    if (status === 404 || status === 405) return unavailable(`${upstream} has no such endpoint (HTTP ${status}): check the channel's base URL`, false);
    if (status >= 500) return unavailable(`${upstream} failed (HTTP ${status})`, this.options.createdOnServerError(status));
    if (status >= 400) return new ProviderFailure('upstream_rejected', `${upstream} refused the request (HTTP ${status})`, `HTTP ${status}: ${detail}`);
    // A redirect is an answer that took nothing in: the base URL points at the wrong place.
    if (status >= 300) return unavailable(`${upstream} redirected the request (HTTP ${status}): check the channel's base URL`, false);
    return unavailable(`${upstream} answered with HTTP ${status}`, true);
  }
}

/** Reads the body up to the bound and parses it; an empty body is JSON null (xAI's bare 202). */
async function readAnswer(response: Response): Promise<Answer> {
  const { text, truncated } = await readBounded(response, MAX_ANSWER_BYTES);
  const base = { status: response.status, headers: response.headers, text };
  if (truncated) return { ...base, json: undefined, malformed: true };
  if (text.trim() === '') return { ...base, json: null, malformed: false };
  try {
    return { ...base, json: JSON.parse(text) as unknown, malformed: false };
  } catch {
    return { ...base, json: undefined, malformed: true };
  }
}

async function readBounded(response: Response, max: number): Promise<{ text: string; truncated: boolean }> {
  if (!response.body) return { text: '', truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
    if (size + value.byteLength > max) {
      chunks.push(value.subarray(0, max - size));
      await reader.cancel();
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
}

/** System error codes along the cause chain (fetch wraps them), AggregateError members included. */
function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  const pending: unknown[] = [error];
  // Bounded: a cause chain could in principle loop.
  for (let seen = 0; pending.length > 0 && seen < 16; seen++) {
    const current = pending.shift();
    if (!(current instanceof Error)) continue;
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
    if (current instanceof AggregateError) pending.push(...(current.errors as unknown[]));
    pending.push(current.cause);
  }
  return codes;
}
