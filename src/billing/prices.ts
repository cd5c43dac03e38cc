import { z } from 'zod';
import { findModel, MODELS, type ModelSpec } from '../catalog/models.ts';
import type { VideoJob } from '../catalog/types.ts';

/**
 * What a video costs its key. Money is integer micro-dollars (1 USD = 1,000,000), never a
 * float. The seeds bill by capability, resolution tier and output seconds, plus the input
 * video's seconds for edits and extensions and each input image for image-to-video.
 */
export interface ModelPrice {
  /** Per output second, by the tier's short side ("480", "720", …). */
  perSecond: Readonly<Record<string, number>>;
  /** Per second of the input video (edit, extend). */
  perInputVideoSecond: number;
  /** Per input image (first frame, last frame, each reference). */
  perInputImage: number;
  /** Percent off for off-peak models (Vidu's `-offpeak`). */
  offPeakDiscountPercent: number;
}

export type PriceTable = ReadonlyMap<string, ModelPrice>;

const micros = z.number().int().min(0).max(1_000_000_000);

/** One model's entry in the config file's PRICES; what it leaves out keeps its default. */
const priceOverride = z
  .object({
    per_second: z.record(z.string().regex(/^\d+p?$/i), micros).optional(),
    per_input_video_second: micros.optional(),
    per_input_image: micros.optional(),
    off_peak_discount_percent: z.number().int().min(0).max(100).optional(),
  })
  .strict();

export const pricesSchema = z.record(z.string(), priceOverride).superRefine((table, context) => {
  for (const model of Object.keys(table)) {
    if (!findModel(model)) context.addIssue({ code: 'custom', path: [model], message: `no model named ${model} in the catalog` });
  }
});

export type PriceOverrides = z.infer<typeof pricesSchema>;

/**
 * Defaults: third-party list prices of the upstreams (upstream-apis.md §4-§5) for xAI; for
 * Vidu, about its credit price. An operator who sells sets their own in PRICES.
 */
function defaultPrice(model: ModelSpec): ModelPrice {
  const base = { perInputVideoSecond: 10_000, perInputImage: 0, offPeakDiscountPercent: 50 };
  switch (model.family) {
    case 'grok-imagine':
    case 'grok-imagine-video':
      // Seed 001 bills grok-imagine's input images (image- and reference-to-video).
      return { ...base, perInputImage: 2_000, perSecond: { 480: 50_000, 720: 70_000 } };
    case 'grok-video':
      return { ...base, perSecond: { 480: 80_000, 540: 100_000, 720: 140_000, 1080: 250_000 } };
    case 'vidu-q3': {
      const turbo = model.id.startsWith('viduq3t');
      const rates = { 540: 60_000, 720: 90_000, 1080: 150_000 };
      return { ...base, perSecond: Object.fromEntries(Object.entries(rates).map(([tier, rate]) => [tier, turbo ? (rate * 3) / 5 : rate])) };
    }
  }
}

/** Every catalog model's price: its default, with the operator's PRICES entry over it. */
export function buildPriceTable(overrides: PriceOverrides = {}): PriceTable {
  const table = new Map<string, ModelPrice>();
  for (const model of MODELS) {
    const price = defaultPrice(model);
    const override = overrides[model.id];
    if (override) {
      const perSecond = { ...price.perSecond };
      for (const [tier, rate] of Object.entries(override.per_second ?? {})) perSecond[tier.replace(/p$/i, '')] = rate;
      table.set(model.id, {
        perSecond,
        perInputVideoSecond: override.per_input_video_second ?? price.perInputVideoSecond,
        perInputImage: override.per_input_image ?? price.perInputImage,
        offPeakDiscountPercent: override.off_peak_discount_percent ?? price.offPeakDiscountPercent,
      });
    } else table.set(model.id, price);
  }
  return table;
}
