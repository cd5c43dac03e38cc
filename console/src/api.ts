/** The gateway's answers as the console meets them; every call goes to the page's own origin. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
    readonly param: string | null,
  ) {
    super(message);
  }
}

let bearer: string | null = null;

/** The key every call carries (set by the session). */
export function useKey(key: string | null): void {
  bearer = key;
}

/** JSON in, JSON out; a gateway error becomes an ApiError with its message, code and param. */
export async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const init: RequestInit = { method, headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: a proxy's page, say. Reported below with the status.
  }
  if (!response.ok) {
    const error = (parsed as { error?: { message?: string; code?: string; param?: string } } | null)?.error;
    throw new ApiError(response.status, error?.message ?? `The gateway answered ${response.status}`, error?.code ?? null, error?.param ?? null);
  }
  return parsed as T;
}

/** The headers of a plain fetch that carries the key (streams, downloads). */
export function authHeaders(): Record<string, string> {
  return bearer ? { authorization: `Bearer ${bearer}` } : {};
}
