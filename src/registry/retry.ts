/** What the registry clients (OCI, MLflow) share about retrying a request a server asked to repeat. */

/** The longest wait a server's Retry-After may ask for. */
export const MAX_RETRY_WAIT_MS = 60_000;

/** Whether an HTTP status is worth another attempt: 429 (too many requests) and 5xx. */
export const retryableStatus = (status: number): boolean => status === 429 || status >= 500;

/** The wait a 429/503 asks for (Retry-After: seconds or an HTTP date), at most a minute; null when none. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\s*\d+\s*$/.test(header)) return Math.min(Number(header) * 1000, MAX_RETRY_WAIT_MS);
  const t = Date.parse(header);
  return Number.isNaN(t) ? null : Math.min(Math.max(0, t - now), MAX_RETRY_WAIT_MS);
}
