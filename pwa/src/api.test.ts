import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  apiFetch,
  bindAuth,
  OfflineError,
  parseRetryAfter,
  refreshTokens,
  request,
  type AuthBinding,
  type StoredTokens,
  type TokenPair,
} from './api';

const USER = {
  id: '7d1e5d0c-8f7a-4b53-9a49-0d6a3f1f0c11',
  username: 'tech1',
  display_name: 'Tech One',
  role: 'technician',
  team_id: null,
  locale: 'zh-CN',
  must_change_password: false,
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

function pair(n: number): TokenPair {
  return { access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: 'bearer', expires_in: 900, user: USER };
}

/** An in-memory session, as auth.ts keeps it in IndexedDB. */
function memoryBinding(initial: StoredTokens | null) {
  const state = { tokens: initial, ended: null as ApiError | null };
  const binding: AuthBinding = {
    tokens: async () => state.tokens && { ...state.tokens },
    rotated: async (p, previous) => {
      expect(previous).toBe(state.tokens?.refreshToken);
      state.tokens = { accessToken: p.access_token, refreshToken: p.refresh_token, accessExpiresAt: Date.now() + 900_000 };
    },
    ended: async (error) => {
      state.tokens = null;
      state.ended = error;
    },
  };
  return { state, binding };
}

const fresh = (n: number): StoredTokens => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  accessExpiresAt: Date.now() + 600_000,
});

function authHeader(call: unknown[]): string | undefined {
  const init = call[1] as RequestInit;
  return (init.headers as Record<string, string>).Authorization;
}

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  fetchMock = vi.fn();
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  bindAuth(null);
});

describe('error parsing', () => {
  it('turns the server error body into an ApiError', async () => {
    fetchMock.mockResolvedValueOnce(json(401, { code: 'BAD_CREDENTIALS', message: 'wrong username or password' }));
    const error = await request('/api/auth/login', { method: 'POST', body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 401,
      code: 'BAD_CREDENTIALS',
      message: 'wrong username or password',
      field: null,
      retryAfter: null,
    });
  });

  it('keeps the field and Retry-After', async () => {
    fetchMock.mockResolvedValueOnce(json(429, { code: 'TOO_MANY_REQUESTS', message: 'slow down' }, { 'Retry-After': '37' }));
    await expect(request('/api/auth/login', { body: {} })).rejects.toMatchObject({ status: 429, code: 'TOO_MANY_REQUESTS', retryAfter: 37 });

    fetchMock.mockResolvedValueOnce(json(403, { code: 'FORBIDDEN', message: 'no', field: 'client_id' }));
    await expect(request('/api/auth/login', { body: {} })).rejects.toMatchObject({ status: 403, field: 'client_id' });
  });

  it('copes with a body that is not JSON', async () => {
    fetchMock.mockResolvedValueOnce(new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    await expect(request('/api/health')).rejects.toMatchObject({ status: 502, code: 'HTTP_502', message: 'Bad Gateway' });
  });

  it('reports a network failure as OfflineError', async () => {
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(request('/api/health')).rejects.toBeInstanceOf(OfflineError);
  });

  it('reports a request that never answers as OfflineError', async () => {
    fetchMock.mockImplementationOnce(
      (_url: string, init: RequestInit) =>
        new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))),
    );
    await expect(request('/api/health', { timeoutMs: 10 })).rejects.toThrow(/timed out/);
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2026-11-24T09:00:00Z');
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter('Tue, 24 Nov 2026 08:00:00 GMT', now)).toBe(0);
  });

  it('sends JSON and returns the parsed body, nothing for 204', async () => {
    fetchMock.mockResolvedValueOnce(json(200, { ok: 1 }));
    await expect(request('/api/x', { method: 'POST', body: { a: 1 } })).resolves.toEqual({ ok: 1 });
    const init = fetchMock.mock.calls[0]![1] as RequestInit;
    expect(init.method).toBe('POST');
    expect(init.body).toBe('{"a":1}');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');

    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
    await expect(request('/api/auth/logout', { body: { refresh_token: 'r' } })).resolves.toBeUndefined();
  });
});

describe('apiFetch', () => {
  it('sends the bearer token', async () => {
    bindAuth(memoryBinding(fresh(1)).binding);
    fetchMock.mockResolvedValueOnce(json(200, USER));
    await expect(apiFetch('/api/auth/me')).resolves.toEqual(USER);
    expect(fetchMock.mock.calls[0]![0]).toBe('/api/auth/me');
    expect(authHeader(fetchMock.mock.calls[0]!)).toBe('Bearer access-1');
  });

  it('refreshes once on 401 and retries with the new token', async () => {
    const { state, binding } = memoryBinding(fresh(1));
    bindAuth(binding);
    fetchMock
      .mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'expired' }))
      .mockResolvedValueOnce(json(200, pair(2)))
      .mockResolvedValueOnce(json(200, { id: 'team' }));
    await expect(apiFetch('/api/teams/x')).resolves.toEqual({ id: 'team' });

    const urls = fetchMock.mock.calls.map((c) => c[0]);
    expect(urls).toEqual(['/api/teams/x', '/api/auth/refresh', '/api/teams/x']);
    expect(JSON.parse((fetchMock.mock.calls[1]![1] as RequestInit).body as string)).toEqual({ refresh_token: 'refresh-1' });
    expect(authHeader(fetchMock.mock.calls[2]!)).toBe('Bearer access-2');
    expect(state.tokens?.refreshToken).toBe('refresh-2'); // the rotated token is kept
  });

  it('retries only once: a second 401 reaches the caller', async () => {
    bindAuth(memoryBinding(fresh(1)).binding);
    fetchMock
      .mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'a' }))
      .mockResolvedValueOnce(json(200, pair(2)))
      .mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'b' }));
    await expect(apiFetch('/api/teams/x')).rejects.toMatchObject({ status: 401, message: 'b' });
    expect(fetchMock).toHaveBeenCalledTimes(3);
  });

  it('shares one refresh between concurrent calls', async () => {
    const { state, binding } = memoryBinding(fresh(1));
    bindAuth(binding);
    let refreshes = 0;
    fetchMock.mockImplementation(async (url: string, init: RequestInit) => {
      if (url === '/api/auth/refresh') {
        refreshes += 1;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return json(200, pair(2));
      }
      const auth = (init.headers as Record<string, string>).Authorization;
      return auth === 'Bearer access-2' ? json(200, { url }) : json(401, { code: 'INVALID_TOKEN', message: 'expired' });
    });
    const results = await Promise.all([apiFetch('/api/a'), apiFetch('/api/b'), apiFetch('/api/c')]);
    expect(results).toEqual([{ url: '/api/a' }, { url: '/api/b' }, { url: '/api/c' }]);
    expect(refreshes).toBe(1);
    expect(state.tokens?.refreshToken).toBe('refresh-2');
  });

  it('refreshes before the call when the access token has expired', async () => {
    bindAuth(memoryBinding({ ...fresh(1), accessExpiresAt: Date.now() - 1 }).binding);
    fetchMock.mockResolvedValueOnce(json(200, pair(2))).mockResolvedValueOnce(json(200, { ok: true }));
    await apiFetch('/api/auth/me');
    expect(fetchMock.mock.calls.map((c) => c[0])).toEqual(['/api/auth/refresh', '/api/auth/me']);
    expect(authHeader(fetchMock.mock.calls[1]!)).toBe('Bearer access-2');
  });

  it('ends the login when the refresh is refused', async () => {
    const { state, binding } = memoryBinding(fresh(1));
    bindAuth(binding);
    fetchMock
      .mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'expired' }))
      .mockResolvedValueOnce(json(401, { code: 'REFRESH_TOKEN_REUSED', message: 'reused' }));
    await expect(apiFetch('/api/a')).rejects.toMatchObject({ status: 401, code: 'REFRESH_TOKEN_REUSED' });
    expect(state.tokens).toBeNull();
    expect(state.ended?.code).toBe('REFRESH_TOKEN_REUSED');
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it('keeps the login when the refresh fails for lack of network', async () => {
    const { state, binding } = memoryBinding(fresh(1));
    bindAuth(binding);
    fetchMock
      .mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'expired' }))
      .mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(apiFetch('/api/a')).rejects.toBeInstanceOf(OfflineError);
    expect(state.tokens?.refreshToken).toBe('refresh-1');
    expect(state.ended).toBeNull();
  });

  it('never refreshes for a token endpoint or a non-401 error', async () => {
    bindAuth(memoryBinding(fresh(1)).binding);
    fetchMock.mockResolvedValueOnce(json(401, { code: 'X', message: 'x' }));
    await expect(apiFetch('/api/auth/logout', { body: {} })).rejects.toMatchObject({ status: 401 });
    fetchMock.mockResolvedValueOnce(json(404, { code: 'NOT_FOUND', message: 'x' }));
    await expect(apiFetch('/api/teams/x')).rejects.toMatchObject({ status: 404 });
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  it('skips the network when another caller already refreshed', async () => {
    const { binding } = memoryBinding(fresh(2));
    bindAuth(binding);
    await expect(refreshTokens('access-1')).resolves.toBe('access-2');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('refuses when nobody is logged in', async () => {
    bindAuth(memoryBinding(null).binding);
    await expect(apiFetch('/api/a')).rejects.toMatchObject({ status: 401, code: 'NOT_LOGGED_IN' });
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
