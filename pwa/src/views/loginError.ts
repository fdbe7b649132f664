/** Which message the login form shows for a failed login. */
import { ApiError, OfflineError } from '../api';
import type { MessageKey, Params } from '../i18n';

export interface LoginErrorMessage {
  key: MessageKey;
  params?: Params;
  /** For throttling: epoch ms when trying again makes sense. */
  retryAt?: number;
}

export function loginErrorMessage(error: unknown, now = Date.now()): LoginErrorMessage {
  if (error instanceof OfflineError) return { key: 'login.error.OFFLINE' };
  if (!(error instanceof ApiError)) return { key: 'login.error.GENERIC', params: { code: 'APP_ERROR' } };
  switch (error.code) {
    case 'BAD_CREDENTIALS':
      return { key: 'login.error.BAD_CREDENTIALS' };
    case 'ACCOUNT_DEACTIVATED':
      return { key: 'login.error.ACCOUNT_DEACTIVATED' };
    case 'CLIENT_REVOKED':
      return { key: 'login.error.CLIENT_REVOKED' };
    case 'TOO_MANY_REQUESTS':
      return error.retryAfter !== null && error.retryAfter > 0
        ? { key: 'login.error.TOO_MANY_REQUESTS', params: { seconds: error.retryAfter }, retryAt: now + error.retryAfter * 1000 }
        : { key: 'login.error.TOO_MANY_REQUESTS_LATER' };
  }
  if (error.status === 429) return { key: 'login.error.TOO_MANY_REQUESTS_LATER' };
  if (error.status >= 500) return { key: 'login.error.SERVER' };
  return { key: 'login.error.GENERIC', params: { code: error.code } };
}
