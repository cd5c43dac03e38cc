import type { Logger } from 'pino';
import { trackingLimitMs, findModel } from '../catalog/models.ts';
import type { VideoJob } from '../catalog/types.ts';
import type { Channel } from '../channels/channel.ts';
import type { Channels } from '../channels/registry.ts';
import { InvalidInput } from '../errors.ts';
import { ProviderFailure, type Operation } from '../providers/interface.ts';
import type { UpstreamJob } from '../providers/upstream.ts';
import { SubmitWithdrawn, UpstreamUnavailable } from '../providers/upstream-errors.ts';
import type { TaskRow } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { Clock } from './clock.ts';
import type { Keeper } from './keeper.ts';
import { PassingFailure } from './passing-failure.ts';
import { nextCheckDelay, retryDelay } from './schedule.ts';
import { recordFailure } from './step-failure.ts';
import { unsupportedBy } from './routing.ts';
import type { InputLinks } from './upstream-inputs.ts';

export interface UpstreamStepDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  keeper: Keeper;
  channels: Channels;
  inputs: InputLinks;
  /** Failed submits (every channel refused) and failed result copies after which a task is given up. */
  maxAttempts: number;
  metrics?: Metrics;
}

/** Runs one upstream call, counted and timed per channel, by its outcome. */
async function timed<T>(deps: UpstreamStepDeps, channel: Channel, call: 'submit' | 'check', run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let outcome = 'error';
  try {
    const result = await run();
    outcome = 'ok';
    return result;
  } finally {
    deps.metrics?.upstreamCalls.inc({ channel: channel.name, call, outcome });
    deps.metrics?.upstreamDuration.observe({ channel: channel.name, call }, (performance.now() - started) / 1000);
  }
}

/** Copying a finished result into our storage: the step's last part, run by the runner in a pool of its own. */
export type ResultCopy = () => Promise<void>;

/**
 * One short step of an upstream task, under a lease: submit it, or check it once. The
 * step writes its outcome and the next check time, and lets go; nothing is kept in memory
 * between steps, so the next one may run in any worker. A check that finds the video done
 * returns the copy of its result instead of running it: a copy (a download, a measure, a
 * store) lasts as long as hundreds of checks, and must not hold a check's place meanwhile
 * (bench:tracking). The caller runs it under the same lease, and records its failure.
 */
export async function upstreamStep(task: TaskRow, owner: string, signal: AbortSignal, deps: UpstreamStepDeps): Promise<ResultCopy | null> {
  try {
    if (task.operation === null) {
      await submit(task, owner, deps);
      return null;
    }
    return await check(task, owner, signal, deps);
  } catch (error) {
    if (signal.aborted) throw error;
    await recordFailure(task, owner, error, deps);
    return null;
  }
}

async function submit(task: TaskRow, owner: string, deps: UpstreamStepDeps): Promise<void> {
  const { store, clock, log, channels } = deps;
  const job = JSON.parse(task.job) as VideoJob;
  if (task.submit_started_at !== null) {
    // A submission began and its outcome was never recorded: the process died while the
    // upstream had the request. Sending it again could make (and charge for) a second video.
    const channel = channels.byName(task.provider);
    if (!channel?.provider.idempotentStart) {
      log.error({ task: task.id, channel: task.provider, code: 'submit_outcome_unknown' }, 'a submission was cut short; the upstream may have made the video, so it is not sent again (operator: check the upstream account)');
      await fail(task, owner, 'submit_outcome_unknown', 'The gateway stopped while the upstream was receiving this task; it was not sent again, to avoid making the video twice', deps);
      return;
    }
    // This upstream recognizes a repeated submission by its idempotency key: send it again, to the same channel.
    await submitTo(channel, task, job, owner, deps);
    return;
  }
  let refused: UpstreamUnavailable | null = null;
  for (const channel of channels.route(task.model).filter((candidate) => unsupportedBy(candidate, job) === null)) {
    // Claimed only now: the channels after the one that takes the task keep their trial call.
    if (!channel.breaker.acquire()) continue;
    const outcome = await submitTo(channel, task, job, owner, deps);
    if (outcome === 'done') return;
    refused = outcome;
  }
  // Every channel refused, or all rest: nothing was made upstream, so try again later.
  const failures = task.attempts + 1;
  if (failures >= deps.maxAttempts) {
    await fail(task, owner, 'upstream_unavailable', 'No upstream could take this task; it was tried several times', deps);
    return;
  }
  log.warn({ task: task.id, attempt: failures, reason: refused?.message ?? 'every channel is resting' }, 'no channel took the task; will retry');
  await store.retry(task.id, owner, clock.now() + retryDelay(failures, refused?.retryAfterMs ?? null), { unsent: true });
}

/** Submits to one channel: 'done' when the task's fate is written, or the refusal when nothing was made there. */
async function submitTo(channel: Channel, task: TaskRow, job: VideoJob, owner: string, deps: UpstreamStepDeps): Promise<'done' | UpstreamUnavailable> {
  const { store, clock, log, inputs } = deps;
  const upstreamModel = channel.models.get(task.model);
  if (upstreamModel === undefined) throw new ProviderFailure('provider_unavailable', `Channel ${channel.name} no longer serves ${task.model}`);
  let request: UpstreamJob;
  try {
    request = {
      taskId: task.id,
      job,
      upstreamModel,
      inputs: await inputs.link(task.id, job, channel.provider.inline),
      callbackUrl: inputs.callbackUrl(task.id),
      // The crash-safety mark (a marked task is never sent again), made once the submit holds a
      // connection slot: a submit still queued for one when this process dies is retried, not lost.
      beforeSend: async () => {
        if (!(await store.markSubmitting(task.id, owner, channel.name, clock.now()))) throw new SubmitWithdrawn(`task ${task.id} is no longer ours to submit`);
      },
    };
  } catch (error) {
    if (error instanceof InvalidInput) throw new ProviderFailure('input_unreachable', error.message);
    throw error;
  }
  let operation: Operation;
  // Not the step's signal: a submit runs to its answer (bounded by the channel's timeouts), so that
  // stopping or cancelling never leaves its outcome unknown.
  const unbounded = new AbortController().signal;
  try {
    operation = await timed(deps, channel, 'submit', () => channel.provider.start(request, unbounded));
  } catch (error) {
    // Cancelled, deleted or taken over while it waited for a slot: nothing was sent, and it is not ours to end.
    if (error instanceof SubmitWithdrawn) return 'done';
    if (error instanceof UpstreamUnavailable) {
      channel.breaker.failed(error.message);
      if (!error.created) {
        log.warn({ task: task.id, channel: channel.name, reason: error.message }, 'channel refused the task');
        return error;
      }
      if (channel.provider.idempotentStart) throw new PassingFailure('upstream_unavailable', 'The upstream did not answer the submission', { cause: error });
      log.error({ task: task.id, channel: channel.name, err: error, code: 'submit_outcome_unknown' }, 'the upstream may have made the video without telling us; not sent again');
      await fail(task, owner, 'submit_outcome_unknown', 'The upstream did not say whether it took this task; it was not sent again, to avoid making the video twice', deps);
      return 'done';
    }
    throw error;
  }
  channel.breaker.succeeded();
  const now = clock.now();
  const saved = JSON.stringify(operation);
  if (await store.submitted(task.id, owner, { provider: channel.name, operation: saved, now, runAfter: now + nextCheckDelay(0) })) {
    log.debug({ task: task.id, channel: channel.name }, 'submitted upstream');
    return 'done';
  }
  // Cancelled or deleted while the upstream took it: tell the upstream, where it listens.
  await channel.provider.cancel?.(operation, unbounded).catch(() => undefined);
  return 'done';
}

async function check(task: TaskRow, owner: string, signal: AbortSignal, deps: UpstreamStepDeps): Promise<ResultCopy | null> {
  const { store, clock, log, keeper, channels } = deps;
  const channel = channels.byName(task.provider);
  if (!channel) throw new ProviderFailure('provider_unavailable', `No channel named ${task.provider} is configured any more`);
  const operation = JSON.parse(task.operation!) as Operation;
  const age = clock.now() - (task.started_at ?? task.created_at);
  const model = findModel(task.model);
  if (model && age > trackingLimitMs(model)) {
    await channel.provider.cancel?.(operation, signal).catch(() => undefined);
    await fail(task, owner, 'upstream_timeout', 'The upstream did not finish this video in time', deps);
    return null;
  }
  let result;
  try {
    result = await timed(deps, channel, 'check', () => channel.provider.check(operation, signal));
  } catch (error) {
    if (!(error instanceof UpstreamUnavailable)) throw error;
    // A passing outage is not the task's fault: look again later, until the task is too old.
    channel.breaker.failed(error.message);
    log.warn({ task: task.id, channel: channel.name, reason: error.message }, 'checking the task upstream failed; will look again');
    await store.checked(task.id, owner, { progress: task.progress, updatedAt: task.updated_at, runAfter: clock.now() + nextCheckDelay(age, error.retryAfterMs) });
    return null;
  }
  channel.breaker.succeeded();
  if (result.state === 'pending') {
    const progress = Math.max(task.progress, Math.min(99, Math.floor(result.progress ?? 0)));
    const now = clock.now();
    await store.checked(task.id, owner, { progress, updatedAt: progress > task.progress ? now : task.updated_at, runAfter: now + nextCheckDelay(age) });
    return null;
  }
  if (result.state === 'failed') {
    log.info({ task: task.id, channel: channel.name, code: result.code, detail: result.detail }, 'the upstream failed the task');
    await fail(task, owner, result.code, result.message, deps);
    return null;
  }
  return () => keeper.keepLink(task, owner, result, resultHosts(channel), signal);
}

/** The channel's own host may be private (a relay on the LAN): its results may be fetched from it. */
function resultHosts(channel: Channel): Set<string> {
  const url = new URL(channel.baseUrl);
  return new Set([`${url.hostname.toLowerCase()}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`]);
}

async function fail(task: TaskRow, owner: string, code: string, message: string, deps: UpstreamStepDeps): Promise<void> {
  await deps.store.settle(task.id, { kind: 'failed', owner, now: deps.clock.now(), code, message });
}
