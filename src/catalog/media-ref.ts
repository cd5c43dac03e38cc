import { InvalidInput } from '../errors.ts';
import { mediaLike } from './slot-types.ts';
import { UploadedFile, type MediaRef } from './types.ts';

const DATA_URI = /^data:([\w.+-]+\/[\w.+-]+)((?:;[\w.+-]+=[^;,]*)*);base64,([A-Za-z0-9+/=\s]+)$/;

/**
 * One input image or video as the client sent it (URL, data URI, `{url}`, `{image_url}`,
 * `{id}`, uploaded file) → a MediaRef, checked only as far as it can be without fetching
 * or decoding anything: the scheme, the data URI's form and its media type.
 */
export function toMediaRef(value: unknown, param: string, kind: 'image' | 'video'): MediaRef {
  const parsed = mediaLike.safeParse(value);
  const expectation = `an http(s) URL, a data URI (data:${kind}/…;base64,…), {"url": …}${kind === 'video' ? ', {"id": "video_…"} (one of your videos)' : ''} or an uploaded file`;
  if (!parsed.success) throw besideTheMedia(value, param) ?? new InvalidInput(`${param} must be ${expectation}`, param);
  const media = parsed.data;
  if (media instanceof UploadedFile) {
    if (!media.mime.startsWith(`${kind}/`) && media.mime !== 'application/octet-stream') {
      throw new InvalidInput(`${param} must be ${article(kind)} file, not ${media.mime}`, param, 'invalid_media_type');
    }
    return { kind: 'upload', path: media.path, mime: media.mime, filename: media.filename };
  }
  if (typeof media === 'object' && 'id' in media) {
    if (kind !== 'video') throw new InvalidInput(`${param} takes {"id": …} only for a video input`, param);
    if (!/^video_[0-9a-f]{1,64}$/.test(media.id)) throw new InvalidInput(`${param}.id is not a video id`, `${param}.id`);
    return { kind: 'video', id: media.id };
  }
  const text = (typeof media === 'string' ? media : 'url' in media ? media.url : media.image_url).trim();
  if (text.startsWith('data:')) {
    const match = DATA_URI.exec(text);
    if (!match) throw new InvalidInput(`${param} is not a valid base64 data URI`, param);
    const mime = match[1]!.toLowerCase();
    if (!mime.startsWith(`${kind}/`)) throw new InvalidInput(`${param} must be ${article(kind)} data URI, not ${mime}`, param, 'invalid_media_type');
    return { kind: 'data', mime, base64: match[3]! };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInput(`${param} must be ${expectation}`, param);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInput(`${param} must use http or https`, param);
  }
  return { kind: 'url', url: url.toString() };
}

/** The keys that name an input in its object shapes; one of them, alone, is the input. */
const MEDIA_KEYS = ['url', 'image_url', 'id'];

/**
 * An object naming its media with one key and saying more beside it ({"url", "detail"}, or
 * {"id", "url"} at once): refused naming what would otherwise be dropped.
 */
function besideTheMedia(value: unknown, param: string): InvalidInput | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof UploadedFile) return null;
  const keys = Object.keys(value);
  const named = keys.filter((key) => MEDIA_KEYS.includes(key));
  if (named.length === 0) return null;
  if (named.length > 1) return new InvalidInput(`${param} gives ${named.join(' and ')} at once; give one of them`, param, 'conflicting_parameters');
  const extra = keys.find((key) => !MEDIA_KEYS.includes(key));
  // The one key alone, and still refused: its value is not a string.
  if (extra === undefined) return new InvalidInput(`${param}.${named[0]} must be a string`, `${param}.${named[0]}`, 'invalid_value');
  return new InvalidInput(`${param}.${extra} is not understood: ${param} takes {"${named[0]}": …} alone`, `${param}.${extra}`, 'unsupported_parameter');
}

const article = (kind: 'image' | 'video') => (kind === 'image' ? 'an image' : 'a video');
