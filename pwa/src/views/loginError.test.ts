import { describe, expect, it } from 'vitest';
import { ApiError, OfflineError } from '../api';
import { loginErrorMessage } from './loginError';

describe('loginErrorMessage', () => {
  it('names each login refusal by its code', () => {
    expect(loginErrorMessage(new ApiError(401, 'BAD_CREDENTIALS', 'x')).key).toBe('login.error.BAD_CREDENTIALS');
    expect(loginErrorMessage(new ApiError(401, 'ACCOUNT_DEACTIVATED', 'x')).key).toBe('login.error.ACCOUNT_DEACTIVATED');
    expect(loginErrorMessage(new ApiError(403, 'CLIENT_REVOKED', 'x')).key).toBe('login.error.CLIENT_REVOKED');
    expect(loginErrorMessage(new OfflineError('x')).key).toBe('login.error.OFFLINE');
  });

  it('says how long to wait when throttled', () => {
    const message = loginErrorMessage(new ApiError(429, 'TOO_MANY_REQUESTS', 'x', null, 30), 1_000);
    expect(message).toEqual({ key: 'login.error.TOO_MANY_REQUESTS', params: { seconds: 30 }, retryAt: 31_000 });
    expect(loginErrorMessage(new ApiError(429, 'TOO_MANY_REQUESTS', 'x')).key).toBe('login.error.TOO_MANY_REQUESTS_LATER');
  });

  it('falls back to server and generic messages', () => {
    expect(loginErrorMessage(new ApiError(503, 'BUSY', 'x')).key).toBe('login.error.SERVER');
    expect(loginErrorMessage(new ApiError(400, 'INVALID_INPUT', 'x'))).toEqual({
      key: 'login.error.GENERIC',
      params: { code: 'INVALID_INPUT' },
    });
    expect(loginErrorMessage(new Error('boom')).params).toEqual({ code: 'APP_ERROR' });
  });
});
