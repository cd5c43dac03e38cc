import { findModel } from '../catalog/models.ts';
import type { VideoJob } from '../catalog/types.ts';
import type { PriceTable } from './prices.ts';

/** What a job is billed for: the basis of its price, kept so that the bill can be explained. */
export interface Quote {
  /** Micro-dollars. */
  amount: number;
  outputSeconds: number;
  inputVideoSeconds: number;
  inputImages: number;
  /** The tier's short side the rate was taken at. */
  tier: number;
}

/**
 * The price of a job before it runs: the most it can cost, which is what a metered key
 * holds. An edit's output follows its input, so an input of unknown length is priced at
 * the longest the capability accepts.
 */
export function quote(job: VideoJob, prices: PriceTable): Quote {
  const range = findModel(job.model)?.capabilities[job.capability]?.inputVideoSeconds;
  const inputVideoSeconds = job.video ? (job.inputVideoSeconds ?? range?.max ?? 0) : 0;
  const outputSeconds = job.seconds ?? inputVideoSeconds;
  return priced(job, prices, outputSeconds, inputVideoSeconds);
}

/**
 * The price of what was made: the output's probed seconds, never more than were quoted (an
 * extension's file holds its input too, and a key is never charged past its hold).
 * An input of unknown length is taken from the output: an edit's equals its input, an
 * extension's is the input plus the part asked for.
 */
export function bill(job: VideoJob, prices: PriceTable, probedSeconds: number): Quote {
  const held = quote(job, prices);
  const outputSeconds = Math.min(probedSeconds, held.outputSeconds);
  let inputVideoSeconds = held.inputVideoSeconds;
  if (job.video && job.inputVideoSeconds === null) {
    const measured = job.capability === 'edit_video' ? probedSeconds : probedSeconds - (job.seconds ?? 0);
    inputVideoSeconds = Math.max(1, Math.min(measured, held.inputVideoSeconds));
  }
  return priced(job, prices, outputSeconds, inputVideoSeconds);
}

function priced(job: VideoJob, prices: PriceTable, outputSeconds: number, inputVideoSeconds: number): Quote {
  const model = findModel(job.model);
  const price = prices.get(job.model);
  if (!model || !price) throw new Error(`no price for model ${job.model}`);
  const tier = job.resolution?.shortSide ?? model.fixedResolution ?? model.resolutions[0]!;
  const rate = price.perSecond[String(tier)];
  if (rate === undefined) throw new Error(`no price for ${job.model} at ${tier}p`);
  const inputImages = job.images.length + (job.lastImage ? 1 : 0);
  const gross = outputSeconds * rate + inputVideoSeconds * price.perInputVideoSecond + inputImages * price.perInputImage;
  const discount = model.offPeak ? price.offPeakDiscountPercent : 0;
  return { amount: Math.round((gross * (100 - discount)) / 100), outputSeconds, inputVideoSeconds, inputImages, tier };
}
