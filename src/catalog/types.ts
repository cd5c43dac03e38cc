/** The normalized request every provider receives, whatever route or dialect the client spoke. */

export type Capability =
  | 'text_to_video'
  | 'image_to_video'
  | 'first_last_frame'
  | 'reference_to_video'
  | 'edit_video'
  | 'video_extend';

/** Where an input image or video comes from. Uploads and data URIs become `stored` before a task is saved. */
export type MediaRef =
  | { kind: 'url'; url: string }
  | { kind: 'data'; mime: string; base64: string }
  | { kind: 'upload'; path: string; mime: string; filename: string }
  | { kind: 'stored'; key: string; mime: string }
  /** One of the caller's own finished videos, by id (OpenAI's `video: {id}`). */
  | { kind: 'video'; id: string };

export type AspectRatio = { kind: 'ratio'; label: string; width: number; height: number } | { kind: 'auto' };

export interface VideoJob {
  model: string;
  capability: Capability;
  prompt: string;
  /** Seconds of new footage to make; for an extension, the appended part; null for an edit. */
  seconds: number | null;
  /** Output tier: `label` is echoed back as the task's `size`, `shortSide` drives the frame size. */
  resolution: { label: string; shortSide: number } | null;
  /** null: follow the input video (edit, extend). */
  aspectRatio: AspectRatio | null;
  /** First frame (image_to_video, first_last_frame) or the reference set (reference_to_video). */
  images: MediaRef[];
  lastImage: MediaRef | null;
  video: MediaRef | null;
  videos: MediaRef[];
  inputVideoSeconds: number | null;
  /**
   * Each input as the request named it (`input_reference`, `images[1]`), for refusals that
   * point at one: images' in order, then the last frame's, the video's and the reference
   * videos'. Absent from jobs kept before it was (they name `images[i]`), as `videos` is
   * from jobs kept before it was (`videos[i]`).
   */
  inputParams?: { images: string[]; lastImage: string; video: string; videos?: string[] };
  options: { audio?: boolean; seed?: number; bgm?: boolean; offPeak?: boolean };
  /** Accepted options that this model ignores; told to the client instead of silently dropped. */
  warnings: string[];
}

/**
 * A file part of a multipart request, already spooled to disk. A class, so that no JSON
 * body can pose as one and name a path of its choosing.
 */
export class UploadedFile {
  constructor(
    readonly path: string,
    readonly mime: string,
    readonly filename: string,
    readonly size: number,
    /** Hex SHA-256 of the content, so that a retried upload can be recognized. */
    readonly sha256: string,
  ) {}
}
