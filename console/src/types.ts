/** The shapes of the gateway's answers the console reads (see GET /openapi.json). */

export interface Range {
  min: number;
  max: number;
}

export interface CapabilityInfo {
  duration: (Range & { default: number | null }) | null;
  aspect_ratios: string[] | 'ignored' | 'forbidden';
  custom_aspect_ratios: boolean;
  resolutions: string[];
  inputs: {
    image: boolean;
    last_image: boolean;
    images: Range | null;
    video: boolean;
    videos: Range | null;
    input_video_seconds: Range | null;
  };
  /** The route that makes this capability (edits and extensions have their own). */
  route: string;
}

export interface Model {
  id: string;
  description: string;
  served_by: 'upstream' | 'local-preview';
  capabilities: Record<string, CapabilityInfo>;
  /** The body key this model's dialect uses for each input. */
  fields: Record<string, string>;
  prompt_max_length: number;
  pricing: { per_second: Record<string, number>; per_input_video_second: number; per_input_image: number; off_peak_discount_percent: number };
}

export interface Video {
  id: string;
  object: string;
  model: string;
  status: 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';
  progress: number;
  created_at: number;
  completed_at: number | null;
  expires_at: number | null;
  prompt: string;
  seconds: string | null;
  size: string | null;
  error: { code: string; message: string } | null;
  metadata?: { url: string };
  remixed_from_video_id: string | null;
  mode: 'live' | 'test';
  billing: { currency: string; unit: string; price: number | null; cost: number | null; metered: boolean };
  warnings?: string[];
}

export interface List<T> {
  data: T[];
  has_more: boolean;
  last_id?: string | null;
}

export interface Key {
  id: string;
  name: string;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
  balance: number | null;
  mode: 'live' | 'test';
}

export interface UsageLine {
  group: string;
  tasks: number;
  completed: number;
  spend?: number;
  revenue?: number;
  upstream_cost?: number | null;
  margin?: number | null;
}

export interface ChannelInfo {
  name: string;
  type: string;
  models: string[];
  tasks_unfinished: number;
  in_flight: number;
  waiting: number;
  max_concurrent: number;
  breaker: 'closed' | 'open' | 'half-open';
  calls: number;
  errors: number;
  error_rate: number;
  last_errors: { at: number; message: string }[];
}

/** One event bound for one URL: a key's webhook (webhook_id) or the task's callback_url (null). */
export interface Delivery {
  id: string;
  event_id: string;
  type: string;
  video_id: string;
  webhook_id: string | null;
  url: string;
  status: 'pending' | 'delivered' | 'failed' | 'cancelled';
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
  delivered_at: number | null;
  created_at: number;
}
