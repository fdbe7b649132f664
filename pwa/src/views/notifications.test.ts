import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, OfflineError } from '../api';
import { applyLocale, isMessageKey, translate } from '../i18n';
import type { PushKind } from '../push';
import { type CardState, kindLabel, pushErrorMessage, refusedKind, stateLabelKey, toggleMuted } from './NotificationsCard';

const kind = (name: string, description = `about ${name}`): PushKind => ({ kind: name, description, urgency: 'normal', ttl: 60 });

afterEach(() => applyLocale('en'));

describe('stateLabelKey', () => {
  const states: CardState[] = ['loading', 'unsupported', 'denied', 'off', 'on'];

  it('says something different, in both languages, for every state', () => {
    const keys = states.map(stateLabelKey);
    expect(new Set(keys).size).toBe(states.length);
    for (const key of keys) {
      expect(isMessageKey(key), key).toBe(true);
      expect(translate('zh-CN', key)).not.toBe(translate('en', key));
    }
  });

  it('tells blocked apart from off and unsupported', () => {
    expect(translate('en', stateLabelKey('denied'))).toMatch(/blocked/i);
    expect(translate('en', stateLabelKey('off'))).toMatch(/off/i);
    expect(translate('en', stateLabelKey('on'))).toMatch(/\bon\b/i);
    expect(translate('en', stateLabelKey('unsupported'))).toMatch(/cannot/i);
  });
});

describe('toggleMuted', () => {
  it('mutes a kind, keeping the list sorted', () => {
    expect(toggleMuted(['spare_shortage'], 'job_assigned', true)).toEqual(['job_assigned', 'spare_shortage']);
  });

  it('unmutes a kind', () => {
    expect(toggleMuted(['job_assigned', 'spare_shortage'], 'job_assigned', false)).toEqual(['spare_shortage']);
    expect(toggleMuted(['job_assigned'], 'job_assigned', false)).toEqual([]);
  });

  it('never duplicates and is harmless when nothing changes', () => {
    expect(toggleMuted(['job_assigned'], 'job_assigned', true)).toEqual(['job_assigned']);
    expect(toggleMuted(['b', 'a', 'a'], 'c', true)).toEqual(['a', 'b', 'c']);
    expect(toggleMuted([], 'job_assigned', false)).toEqual([]);
  });

  it('leaves the given list alone', () => {
    const muted = Object.freeze(['spare_shortage']);
    toggleMuted(muted, 'job_assigned', true);
    expect(muted).toEqual(['spare_shortage']);
  });
});

describe('kindLabel', () => {
  it('names the kinds we know in the current language', () => {
    expect(kindLabel(kind('job_assigned'))).toBe('A job assigned to me');
    applyLocale('zh-CN');
    expect(kindLabel(kind('job_assigned'))).toBe('有工单派给我');
  });

  it("falls back to the server's description for a kind this version does not know", () => {
    expect(kindLabel(kind('brand_new', 'Something new'))).toBe('Something new');
    expect(kindLabel(kind('brand_new', ''))).toBe('brand_new');
  });

  it('has a label for every kind the server lets people mute', () => {
    const kinds = ['job_assigned', 'job_reassigned', 'job_returned', 'job_awaiting_approval', 'sync_exception', 'quality_assigned', 'quality_overdue', 'spare_shortage'];
    for (const name of kinds) expect(isMessageKey(`push.kind.${name}`), name).toBe(true);
  });
});

describe('refusedKind', () => {
  const refusal = (field: string | null, message = 'bad') => new ApiError(400, 'INVALID_INPUT', message, field);

  it('takes the kind from the field the server names', () => {
    expect(refusedKind(refusal('muted[1]'), ['job_assigned', 'nope'])).toBe('nope');
  });

  it("falls back to the kind quoted in the server's message", () => {
    const message = "unknown notification kind 'nope'; known kinds: job_assigned";
    expect(refusedKind(refusal('muted[9]', message), ['job_assigned'])).toBe('nope');
    expect(refusedKind(refusal(null, "'test' notifications cannot be muted"), [])).toBe('test');
  });

  it('is null when nothing names a kind', () => {
    expect(refusedKind(refusal('muted'), ['x'])).toBeNull();
  });
});

describe('pushErrorMessage', () => {
  it('names the refused kind on a 400 from saving preferences', () => {
    const error = new ApiError(400, 'INVALID_INPUT', "unknown notification kind 'nope'", 'muted[0]');
    expect(pushErrorMessage(error, ['nope'])).toEqual({ tone: 'error', key: 'push.error.badKind', params: { kind: 'nope' } });
    expect(translate('en', 'push.error.badKind', { kind: 'nope' })).toContain('nope');
  });

  it('says offline, or the server code, for other failures', () => {
    expect(pushErrorMessage(new OfflineError('x')).key).toBe('push.error.offline');
    expect(pushErrorMessage(new ApiError(503, 'UNAVAILABLE', 'x'))).toEqual({
      tone: 'error',
      key: 'push.error.server',
      params: { code: 'UNAVAILABLE' },
    });
    expect(pushErrorMessage(new ApiError(400, 'INVALID_INPUT', 'x')).key).toBe('push.error.server');
  });

  it("explains the browser's own refusals", () => {
    expect(pushErrorMessage(new DOMException('denied', 'NotAllowedError')).key).toBe('push.error.denied');
    // Headless Chromium and browsers without a push service: "Registration failed - push service not available".
    expect(pushErrorMessage(new DOMException('Registration failed', 'AbortError')).key).toBe('push.error.subscribe');
    expect(pushErrorMessage(new Error('boom')).key).toBe('push.error.subscribe');
    expect(pushErrorMessage('weird').key).toBe('push.error.subscribe');
  });
});
