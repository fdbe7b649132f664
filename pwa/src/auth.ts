/**
 * Login, logout and restore. The stored session is the truth: the shell
 * renders from it at once (offline too) and the server is asked afterwards.
 */
import { ApiError, apiFetch, bindAuth, refreshTokens, request, type AuthBinding, type TokenPair } from './api';
import {
  clearSession,
  clientIdFor,
  getLocale,
  loadSession,
  renewClientId,
  saveSession,
  updateSession,
  type Session,
  type SessionUser,
} from './db';
import { applyLocale, resolveLocale } from './i18n';
import { isOnline } from './net';
import { forgetPushOnLogout } from './push';
import { createStore } from './store';

export type AuthState =
  | { status: 'loading' }
  | { status: 'anonymous'; notice?: LoginNotice }
  | { status: 'signedIn'; session: Session };

/** Why the login screen is shown again: the login ran out, or this phone was blocked (lost or stolen). */
export type LoginNotice = 'sessionEnded' | 'deviceRevoked';

export const authStore = createStore<AuthState>({ status: 'loading' });

const APP_VERSION = typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : 'dev';

/** Whether the server has confirmed the stored login since this page loaded. */
let confirmedThisLoad = false;

export function sessionFromPair(pair: TokenPair, now = Date.now()): Session {
  return {
    user: pair.user,
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    savedAt: now,
  };
}

const binding: AuthBinding = {
  async tokens() {
    const session = await loadSession();
    return session && {
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      accessExpiresAt: session.accessExpiresAt,
    };
  },
  async rotated(pair, previousRefreshToken) {
    // Only if this is still the same login: never resurrect one that was logged out meanwhile.
    if (await updateSession(previousRefreshToken, sessionFromPair(pair))) {
      confirmedThisLoad = true;
      await publishStoredSession();
    }
  },
  async ended(error) {
    await clearSession();
    const revoked = error.status === 403 && error.code === 'CLIENT_REVOKED';
    authStore.set({ status: 'anonymous', notice: revoked ? 'deviceRevoked' : 'sessionEnded' });
  },
};

/** Renders the stored login at once, then confirms it with the server when online. */
export async function startAuth(stored?: Session | null): Promise<void> {
  bindAuth(binding);
  const session = stored !== undefined ? stored : await loadSession().catch(() => null);
  if (!session) {
    authStore.set({ status: 'anonymous' });
    return;
  }
  authStore.set({ status: 'signedIn', session });
  void confirmSession();
}

/** Below this much life left, the access token is traded in rather than used to confirm the login. */
const CONFIRM_WITH_ACCESS_MS = 60_000;

/**
 * Proves the login still stands and brings the user's current name and role. While the access token is
 * good it asks `GET /api/auth/me`; only an expiring token is traded in. A reload (or a page opened from a
 * notification) must not rotate the refresh token each time: a rotation whose answer is lost (signal gone,
 * page left) leaves the phone holding a spent token, and the next refresh would end the whole login.
 * Offline or on a server error the stored login simply stays; a 401/403 ends it (through the binding).
 */
export async function confirmSession(): Promise<void> {
  if (confirmedThisLoad || !isOnline()) return;
  const session = await loadSession();
  if (!session) return;
  try {
    if (session.accessExpiresAt - CONFIRM_WITH_ACCESS_MS > Date.now()) {
      // A 401 here (login revoked, token refused) refreshes once and retries (api.ts).
      const user = await apiFetch<SessionUser>('/api/auth/me');
      const current = await loadSession();
      if (current && (await updateSession(current.refreshToken, { user: { ...current.user, ...pickUser(user) } }))) {
        await publishStoredSession();
      }
    } else {
      await refreshTokens(session.accessToken);
    }
    confirmedThisLoad = true;
    await loadTeamName();
  } catch {
    // Handled: an ended login already switched to the login screen; otherwise retry when online.
  }
}

function pickUser(user: SessionUser): Partial<SessionUser> {
  const { id, username, display_name, role, team_id, locale, must_change_password } = user;
  return { id, username, display_name, role, team_id, locale, must_change_password };
}

export async function login(username: string, password: string): Promise<Session> {
  bindAuth(binding);
  const name = username.trim();
  let clientId = await clientIdFor(name);
  let pair: TokenPair;
  try {
    pair = await postLogin(name, password, clientId);
  } catch (error) {
    // This installation's id for the user is registered to someone else (a copied
    // profile, a renamed account): make a new one. A revoked device stays revoked.
    if (!(error instanceof ApiError) || error.status !== 403 || error.field !== 'client_id' || error.code === 'CLIENT_REVOKED') {
      throw error;
    }
    clientId = await renewClientId(name);
    pair = await postLogin(name, password, clientId);
  }
  const session = sessionFromPair(pair);
  await saveSession(session);
  confirmedThisLoad = true;
  if (!(await getLocale())) {
    applyLocale(resolveLocale({ userLocale: pair.user.locale, browserLanguage: globalThis.navigator?.language }));
  }
  authStore.set({ status: 'signedIn', session });
  void loadTeamName();
  return session;
}

function postLogin(username: string, password: string, clientId: string): Promise<TokenPair> {
  return request<TokenPair>('/api/auth/login', {
    method: 'POST',
    body: { username, password, client_id: clientId, app_version: APP_VERSION },
  });
}

/** Ends the login here at once (and this device's notifications for it); tells the server when it can be reached. */
export async function logout(): Promise<void> {
  const session = await loadSession();
  await clearSession();
  authStore.set({ status: 'anonymous' });
  // Before the server ends the login (its access token dies with it); bounded and never throws.
  await forgetPushOnLogout(session && session.accessExpiresAt > Date.now() ? session.accessToken : null);
  if (session) {
    try {
      await request('/api/auth/logout', { method: 'POST', body: { refresh_token: session.refreshToken } });
    } catch {
      // Offline: the server-side login expires on its own (the refresh token's lifetime).
    }
  }
}

interface TeamRead {
  id: string;
  name: string;
}

/** Fetches the name of the user's team (or, for a supervisor, the teams they lead) for display offline. */
async function loadTeamName(): Promise<void> {
  const session = await loadSession();
  if (!session) return;
  const { user } = session;
  try {
    let teamName: string | null = null;
    if (user.team_id) {
      teamName = (await apiFetch<TeamRead>(`/api/teams/${encodeURIComponent(user.team_id)}`)).name;
    } else if (user.role === 'supervisor') {
      const teams = await apiFetch<TeamRead[]>('/api/teams/');
      teamName = teams.map((team) => team.name).join(', ') || null;
    }
    const current = await loadSession();
    if (current && (await updateSession(current.refreshToken, { teamName }))) await publishStoredSession();
  } catch {
    // Not essential: the shell shows no team until the next successful try.
  }
}

async function publishStoredSession(): Promise<void> {
  const session = await loadSession();
  if (session && authStore.get().status === 'signedIn') authStore.set({ status: 'signedIn', session });
}
