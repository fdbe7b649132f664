import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { authStore, confirmSession, login, logout, sessionFromPair, startAuth } from './auth';
import { clientIdFor, db, loadSession, saveSession, type SessionUser } from './db';
import { onlineStore } from './net';

const USER: SessionUser = {
  id: '7d1e5d0c-8f7a-4b53-9a49-0d6a3f1f0c11',
  username: 'tech1',
  display_name: 'Tech One',
  role: 'technician',
  team_id: null,
  locale: 'en',
  must_change_password: false,
};

const pair = (n: number, user = USER) => ({
  access_token: `access-${n}`,
  refresh_token: `refresh-${n}`,
  token_type: 'bearer',
  expires_in: 900,
  user,
});

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  fetchMock = vi.fn();
  vi.stubGlobal('fetch', fetchMock);
  onlineStore.set(true);
  authStore.set({ status: 'loading' });
});

describe('startAuth', () => {
  it('shows the login when nothing is stored', async () => {
    await startAuth();
    expect(authStore.get()).toEqual({ status: 'anonymous' });
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('renders the stored user offline, without any request', async () => {
    await saveSession(sessionFromPair(pair(1)));
    onlineStore.set(false);
    await startAuth();
    const state = authStore.get();
    expect(state.status).toBe('signedIn');
    expect(state.status === 'signedIn' && state.session.user.display_name).toBe('Tech One');
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('ends the stored login when the server refuses the refresh', async () => {
    await saveSession(sessionFromPair(pair(1), Date.now() - 3_600_000)); // an expired access token
    // A fresh page load: the previous test may have confirmed a session.
    vi.resetModules();
    const auth = await import('./auth');
    const net = await import('./net');
    net.onlineStore.set(true);
    fetchMock.mockResolvedValueOnce(json(401, { code: 'SESSION_REVOKED', message: 'ended' }));
    await auth.startAuth();
    expect(auth.authStore.get().status).toBe('signedIn'); // shown at once from local data
    await vi.waitFor(() => expect(auth.authStore.get()).toEqual({ status: 'anonymous', notice: 'sessionEnded' }));
    expect(await loadSession()).toBeNull();
  });

  it('stores the rotated tokens and the fresh user after a background refresh', async () => {
    await saveSession(sessionFromPair(pair(1), Date.now() - 3_600_000)); // an expired access token
    vi.resetModules();
    const auth = await import('./auth');
    const renamed = { ...USER, display_name: 'Tech One (renamed)' };
    fetchMock.mockResolvedValueOnce(json(200, pair(2, renamed)));
    await auth.startAuth();
    await vi.waitFor(async () => expect((await loadSession())?.refreshToken).toBe('refresh-2'));
    const state = auth.authStore.get();
    expect(state.status === 'signedIn' && state.session.user.display_name).toBe('Tech One (renamed)');
    expect(JSON.parse(fetchMock.mock.calls[0]![1].body)).toEqual({ refresh_token: 'refresh-1' });
  });
});

describe('confirming a login on a page load', () => {
  it('asks who I am with a good access token, and never rotates the refresh token for it', async () => {
    await saveSession(sessionFromPair(pair(1)));
    vi.resetModules();
    const auth = await import('./auth');
    const net = await import('./net');
    net.onlineStore.set(true);
    fetchMock.mockResolvedValue(json(200, { ...USER, display_name: 'Tech One (renamed)', is_active: true }));
    await auth.startAuth();
    await vi.waitFor(async () => expect((await loadSession())?.user.display_name).toBe('Tech One (renamed)'));
    expect(fetchMock.mock.calls[0]![0]).toBe('/api/auth/me');
    expect(fetchMock.mock.calls.some((call) => call[0] === '/api/auth/refresh')).toBe(false);
    expect((await loadSession())?.refreshToken).toBe('refresh-1');
  });

  it('ends the login when the server refuses both the access token and the refresh', async () => {
    await saveSession(sessionFromPair(pair(1)));
    vi.resetModules();
    const auth = await import('./auth');
    const net = await import('./net');
    net.onlineStore.set(true);
    fetchMock
      .mockResolvedValueOnce(json(401, { code: 'SESSION_REVOKED', message: 'ended' }))
      .mockResolvedValueOnce(json(401, { code: 'SESSION_REVOKED', message: 'ended' }));
    await auth.startAuth();
    await vi.waitFor(() => expect(auth.authStore.get()).toEqual({ status: 'anonymous', notice: 'sessionEnded' }));
    expect(fetchMock.mock.calls.map((call) => call[0])).toEqual(['/api/auth/me', '/api/auth/refresh']);
  });
});

describe('login and logout', () => {
  it('logs in with this installation\'s client id for the user and stores the session', async () => {
    fetchMock.mockResolvedValueOnce(json(200, pair(1)));
    await login(' tech1 ', 'fieldq-demo');
    const body = JSON.parse(fetchMock.mock.calls[0]![1].body);
    expect(body).toMatchObject({ username: 'tech1', password: 'fieldq-demo', client_id: await clientIdFor('tech1') });
    expect((await loadSession())?.accessToken).toBe('access-1');
    expect(authStore.get().status).toBe('signedIn');
  });

  it('makes a new client id when the server says the old one is another user\'s', async () => {
    const old = await clientIdFor('tech1');
    fetchMock
      .mockResolvedValueOnce(json(403, { code: 'FORBIDDEN', message: 'belongs to another user', field: 'client_id' }))
      .mockResolvedValueOnce(json(200, pair(1)));
    await login('tech1', 'pw');
    const retried = JSON.parse(fetchMock.mock.calls[1]![1].body).client_id;
    expect(retried).not.toBe(old);
    expect(await clientIdFor('tech1')).toBe(retried);
  });

  it('stores nothing when the login is refused', async () => {
    fetchMock.mockResolvedValueOnce(json(401, { code: 'BAD_CREDENTIALS', message: 'no' }));
    await expect(login('tech1', 'bad')).rejects.toMatchObject({ code: 'BAD_CREDENTIALS' });
    expect(await loadSession()).toBeNull();
  });

  it('logs out locally even offline, and tells the server when it can', async () => {
    await saveSession(sessionFromPair(pair(1)));
    authStore.set({ status: 'signedIn', session: (await loadSession())! });
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await logout();
    expect(await loadSession()).toBeNull();
    expect(authStore.get().status).toBe('anonymous');
    expect(fetchMock.mock.calls[0]![0]).toBe('/api/auth/logout');
    expect(JSON.parse(fetchMock.mock.calls[0]![1].body)).toEqual({ refresh_token: 'refresh-1' });
  });

  it('does not confirm while offline', async () => {
    await saveSession(sessionFromPair(pair(1)));
    onlineStore.set(false);
    await confirmSession();
    expect(fetchMock).not.toHaveBeenCalled();
  });
});
