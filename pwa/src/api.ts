/**
 * The one way the PWA talks to the backend (same origin, under /api).
 *
 * - Every error becomes an `ApiError` (the server's `{code, message, field}`
 *   plus the HTTP status and `Retry-After`) or an `OfflineError` (no answer).
 * - `apiFetch` adds the bearer token; on a 401 it refreshes the tokens once and
 *   retries once. Refreshes are single-flight within the page and, through the
 *   Web Locks API, across tabs: refresh tokens rotate and the server treats a
 *   reused one as theft and ends the login, so two tabs must never trade in
 *   the same token.
 */
import type { SessionUser } from './db';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    /** Seconds to wait before trying again (from `Retry-After`), if the server said. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }

  /** The server says this login cannot continue: log in again. */
  get endsLogin(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/** The request got no HTTP answer: offline, DNS, connection reset, or timed out. */
export class OfflineError extends Error {
  override readonly name = 'OfflineError';
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  user: SessionUser;
}

export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms; the token is refreshed before use shortly before this. */
  accessExpiresAt: number;
}

/** How api.ts reaches the session without depending on auth.ts (which depends on it). */
export interface AuthBinding {
  /** The stored tokens, read fresh (another tab may have rotated them), or null when logged out. */
  tokens(): Promise<StoredTokens | null>;
  /** Store a new pair; `previousRefreshToken` is the one that was traded in. */
  rotated(pair: TokenPair, previousRefreshToken: string): Promise<void>;
  /** The server ended this login (refresh refused, device revoked). */
  ended(error: ApiError): Promise<void>;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  body?: unknown;
  headers?: Record<string, string>;
  /** Bearer token to send. */
  token?: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** Refresh a little before the access token expires, to spare a 401 round trip. */
const EXPIRY_MARGIN_MS = 30_000;
const REFRESH_LOCK = 'fieldq-auth-refresh';
/** Endpoints whose 401 means "wrong credentials/token", never "refresh and retry". */
const TOKEN_ENDPOINTS = ['/api/auth/login', '/api/auth/refresh', '/api/auth/logout'];

let binding: AuthBinding | null = null;
let inflightRefresh: Promise<string> | null = null;

export function bindAuth(next: AuthBinding | null): void {
  binding = next;
  inflightRefresh = null;
}

/** Seconds from a `Retry-After` header: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number.parseInt(trimmed, 10);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** Turns a non-2xx response into an ApiError, whatever its body. */
export async function parseError(response: Response): Promise<ApiError> {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  let field: string | null = null;
  try {
    const text = await response.text();
    const body: unknown = text ? JSON.parse(text) : null;
    if (body && typeof body === 'object') {
      const b = body as Record<string, unknown>;
      if (typeof b.code === 'string' && b.code) code = b.code;
      if (typeof b.message === 'string' && b.message) message = b.message;
      if (typeof b.field === 'string' && b.field) field = b.field;
    }
  } catch {
    // Not JSON (a proxy's HTML error page): keep the status-based code.
  }
  return new ApiError(response.status, code, message, field, parseRetryAfter(response.headers.get('Retry-After')));
}

/** One HTTP call with no auth logic: errors parsed, network failures as OfflineError. */
export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  if (options.token) headers.Authorization = `Bearer ${options.token}`;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller.signal,
    });
  } catch (error) {
    const reason = controller.signal.aborted ? 'timed out' : String((error as Error)?.message ?? error);
    throw new OfflineError(`no answer from ${path}: ${reason}`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) throw await parseError(response);
  if (response.status === 204 || response.status === 205) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** An authenticated call: bearer token, one refresh and one retry on 401. */
export async function apiFetch<T>(path: string, options: Omit<RequestOptions, 'token'> = {}): Promise<T> {
  const auth = requireBinding();
  const tokens = await auth.tokens();
  if (!tokens) throw new ApiError(401, 'NOT_LOGGED_IN', 'not logged in');
  let access = tokens.accessToken;
  if (tokens.accessExpiresAt - EXPIRY_MARGIN_MS <= Date.now()) {
    access = await refreshTokens(access);
  }
  try {
    return await request<T>(path, { ...options, token: access });
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 403 && error.code === 'CLIENT_REVOKED') {
      await auth.ended(error);
      throw error;
    }
    if (error.status !== 401 || TOKEN_ENDPOINTS.some((p) => path.startsWith(p))) throw error;
    const fresh = await refreshTokens(access);
    // Retried once: a second 401 goes to the caller.
    return request<T>(path, { ...options, token: fresh });
  }
}

/** An authenticated GET of an image (an attachment's thumbnail): `<img>` cannot send the bearer token. */
export async function apiFetchBlob(path: string): Promise<Blob> {
  const token = await currentAccessToken();
  let response: Response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'same-origin' });
  } catch (error) {
    throw new OfflineError(`no answer from ${path}: ${String((error as Error)?.message ?? error)}`);
  }
  if (!response.ok) throw await parseError(response);
  return response.blob();
}

/** A valid access token (refreshed first when it is about to expire), for calls made outside `fetch` (XHR uploads). */
export async function currentAccessToken(): Promise<string> {
  const tokens = await requireBinding().tokens();
  if (!tokens) throw new ApiError(401, 'NOT_LOGGED_IN', 'not logged in');
  if (tokens.accessExpiresAt - EXPIRY_MARGIN_MS <= Date.now()) return refreshTokens(tokens.accessToken);
  return tokens.accessToken;
}

/** The binding's reaction to a response that ends the login (a revoked device), for XHR callers. */
export async function endLogin(error: ApiError): Promise<void> {
  await requireBinding().ended(error);
}

/**
 * Trades the refresh token for a new pair and returns the new access token.
 * Concurrent callers share one refresh. `staleAccessToken` is the token the
 * caller found wanting: if the stored one differs, another tab or call has
 * refreshed already and no request is made.
 */
export function refreshTokens(staleAccessToken?: string): Promise<string> {
  if (!inflightRefresh) {
    inflightRefresh = withLock(REFRESH_LOCK, () => refreshNow(staleAccessToken)).finally(() => {
      inflightRefresh = null;
    });
  }
  return inflightRefresh;
}

async function refreshNow(staleAccessToken: string | undefined): Promise<string> {
  const auth = requireBinding();
  const tokens = await auth.tokens();
  if (!tokens) throw new ApiError(401, 'NOT_LOGGED_IN', 'not logged in');
  if (staleAccessToken !== undefined && tokens.accessToken !== staleAccessToken) {
    return tokens.accessToken;
  }
  let pair: TokenPair;
  try {
    pair = await request<TokenPair>('/api/auth/refresh', {
      method: 'POST',
      body: { refresh_token: tokens.refreshToken },
    });
  } catch (error) {
    // 401/403: the login is over (expired, revoked, reused, deactivated). Anything
    // else (offline, 429, 5xx) leaves the session as it is, to try again later.
    if (error instanceof ApiError && error.endsLogin) await auth.ended(error);
    throw error;
  }
  await auth.rotated(pair, tokens.refreshToken);
  return pair.access_token;
}

function requireBinding(): AuthBinding {
  if (!binding) throw new Error('api.ts: bindAuth() has not been called');
  return binding;
}

async function withLock<T>(name: string, task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks?.request) return task();
  return locks.request(name, { mode: 'exclusive' }, task);
}
