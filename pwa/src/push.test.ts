import { beforeEach, describe, expect, it, vi } from 'vitest';
import { bindAuth } from './api';
import {
  base64UrlToBytes,
  disablePush,
  enablePush,
  forgetPushOnLogout,
  pushState,
  pushSupported,
  refreshPushSubscription,
  sameKey,
  sendTestPush,
  setMutedKinds,
} from './push';

const ID_KEY = 'fieldq-push-subscription-id';
// A real VAPID public key: an uncompressed P-256 point, 65 bytes starting 0x04.
const VAPID = 'BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U';

const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });

function memoryStorage(): Storage {
  const map = new Map<string, string>();
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (key) => map.get(key) ?? null,
    key: (i) => [...map.keys()][i] ?? null,
    removeItem: (key) => void map.delete(key),
    setItem: (key, value) => void map.set(key, String(value)),
  };
}

interface FakeSubscription {
  endpoint: string;
  options: { applicationServerKey: ArrayBuffer | null };
  toJSON(): unknown;
  unsubscribe: ReturnType<typeof vi.fn>;
}

function fakeSubscription(key: Uint8Array, endpoint = 'https://push.example/sub/1'): FakeSubscription {
  return {
    endpoint,
    options: { applicationServerKey: key.slice().buffer },
    toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh: 'p256dh-key', auth: 'auth-secret' } }),
    unsubscribe: vi.fn(async () => true),
  };
}

/** A browser with push: `current` is the subscription the push manager has. */
function stubBrowser(permission: NotificationPermission, current: FakeSubscription | null, answer: NotificationPermission = 'granted') {
  const notification = { permission, requestPermission: vi.fn(async () => answer) };
  const made = fakeSubscription(base64UrlToBytes(VAPID), 'https://push.example/sub/new');
  const pushManager = {
    getSubscription: vi.fn(async () => current),
    subscribe: vi.fn(async (_options: PushSubscriptionOptionsInit) => made),
  };
  const registration = { pushManager };
  vi.stubGlobal('Notification', notification);
  vi.stubGlobal('window', { PushManager: class {}, Notification: notification });
  vi.stubGlobal('navigator', {
    userAgent: 'Mozilla/5.0\n(Test)\u0007 Browser',
    serviceWorker: { ready: Promise.resolve(registration), getRegistration: async () => registration },
  });
  return { notification, pushManager, made };
}

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  fetchMock = vi.fn();
  vi.stubGlobal('fetch', fetchMock);
  vi.stubGlobal('localStorage', memoryStorage());
  bindAuth({
    tokens: async () => ({ accessToken: 'access-1', refreshToken: 'refresh-1', accessExpiresAt: Date.now() + 600_000 }),
    rotated: async () => undefined,
    ended: async () => undefined,
  });
});

const call = (i: number) => {
  const [path, init] = fetchMock.mock.calls[i]! as [string, RequestInit];
  return {
    path,
    method: init.method,
    body: init.body ? JSON.parse(String(init.body)) : undefined,
    auth: (init.headers as Record<string, string>).Authorization,
  };
};

/** The other way, by the browser's own btoa: a round trip checks the decoding. */
const toBase64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

describe('base64UrlToBytes', () => {
  it('decodes base64url without padding', () => {
    expect([...base64UrlToBytes('AQID')]).toEqual([1, 2, 3]);
    expect([...base64UrlToBytes('AQ')]).toEqual([1]);
    expect([...base64UrlToBytes('AQI')]).toEqual([1, 2]);
    expect([...base64UrlToBytes('')]).toEqual([]);
  });

  it('reads the URL-safe alphabet (- and _)', () => {
    expect([...base64UrlToBytes('-_8')]).toEqual([0xfb, 0xff]);
    expect(toBase64Url(base64UrlToBytes('_-_-'))).toBe('_-_-');
  });

  it('gives the 65-byte point of a VAPID key, on its own buffer', () => {
    const bytes = base64UrlToBytes(VAPID);
    expect(bytes.length).toBe(65);
    expect(bytes[0]).toBe(0x04);
    expect(toBase64Url(bytes)).toBe(VAPID);
    expect(bytes.buffer.byteLength).toBe(65);
  });

  it('refuses what is not base64', () => {
    expect(() => base64UrlToBytes('not base64!')).toThrow();
  });
});

describe('sameKey', () => {
  const key = base64UrlToBytes(VAPID);

  it('matches the same bytes only', () => {
    expect(sameKey(key.slice().buffer, key)).toBe(true);
    expect(sameKey(null, key)).toBe(false);
    expect(sameKey(key.slice(1).buffer, key)).toBe(false);
    const other = key.slice();
    other[64] = other[64]! ^ 1;
    expect(sameKey(other.buffer, key)).toBe(false);
  });
});

describe('support and state', () => {
  it('is unsupported without service workers, PushManager or Notification', async () => {
    vi.stubGlobal('navigator', { userAgent: 'x' });
    vi.stubGlobal('window', {});
    expect(pushSupported()).toBe(false);
    expect(await pushState()).toBe('unsupported');
  });

  it('is denied, off or on from the permission and the subscription', async () => {
    stubBrowser('denied', null);
    expect(pushSupported()).toBe(true);
    expect(await pushState()).toBe('denied');
    stubBrowser('default', null);
    expect(await pushState()).toBe('off');
    stubBrowser('granted', null);
    expect(await pushState()).toBe('off');
    stubBrowser('granted', fakeSubscription(base64UrlToBytes(VAPID)));
    expect(await pushState()).toBe('on');
  });
});

describe('enablePush', () => {
  it('stops at a refused permission without asking the server', async () => {
    const { pushManager } = stubBrowser('default', null, 'denied');
    expect(await enablePush()).toBe('denied');
    stubBrowser('default', null, 'default');
    expect(await enablePush()).toBe('off');
    expect(pushManager.subscribe).not.toHaveBeenCalled();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("subscribes with the server's key and registers the subscription", async () => {
    const { pushManager } = stubBrowser('default', null);
    fetchMock
      .mockResolvedValueOnce(json(200, { public_key: VAPID }))
      .mockResolvedValueOnce(json(201, { id: 'sub-1', endpoint: 'https://push.example/sub/new' }));
    expect(await enablePush('client-1')).toBe('on');
    const options = pushManager.subscribe.mock.calls[0]![0];
    expect(options.userVisibleOnly).toBe(true);
    expect([...(options.applicationServerKey as Uint8Array)]).toEqual([...base64UrlToBytes(VAPID)]);
    expect(call(0).path).toBe('/api/push/vapid-public-key');
    expect(call(1)).toMatchObject({ path: '/api/push/subscriptions', method: 'POST', auth: 'Bearer access-1' });
    expect(call(1).body).toMatchObject({
      endpoint: 'https://push.example/sub/new',
      keys: { p256dh: 'p256dh-key', auth: 'auth-secret' },
      client_id: 'client-1',
      user_agent: 'Mozilla/5.0 (Test)  Browser',
    });
    expect(localStorage.getItem(ID_KEY)).toBe('sub-1');
  });

  it('replaces a subscription made for another server key', async () => {
    const stale = fakeSubscription(new Uint8Array([4, 1, 2, 3]));
    const { pushManager } = stubBrowser('granted', stale);
    fetchMock
      .mockResolvedValueOnce(json(200, { public_key: VAPID }))
      .mockResolvedValueOnce(json(200, { id: 'sub-2', endpoint: 'https://push.example/sub/new' }));
    expect(await enablePush()).toBe('on');
    expect(stale.unsubscribe).toHaveBeenCalled();
    expect(pushManager.subscribe).toHaveBeenCalledOnce();
  });

  it('lets the browser\'s refusal to subscribe through (the card shows it)', async () => {
    const { pushManager } = stubBrowser('granted', null);
    pushManager.subscribe.mockRejectedValueOnce(new DOMException('Registration failed - push service not available', 'AbortError'));
    fetchMock.mockResolvedValueOnce(json(200, { public_key: VAPID }));
    await expect(enablePush()).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('refreshPushSubscription', () => {
  it('does nothing (and never prompts) without permission or a subscription', async () => {
    const { notification } = stubBrowser('default', fakeSubscription(base64UrlToBytes(VAPID)));
    await refreshPushSubscription('c');
    stubBrowser('granted', null);
    await refreshPushSubscription('c');
    expect(notification.requestPermission).not.toHaveBeenCalled();
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it('registers the existing subscription again for whoever is logged in', async () => {
    stubBrowser('granted', fakeSubscription(base64UrlToBytes(VAPID)));
    fetchMock.mockResolvedValueOnce(json(200, { id: 'sub-3', endpoint: 'https://push.example/sub/1' }));
    await refreshPushSubscription('client-9');
    expect(call(0)).toMatchObject({ path: '/api/push/subscriptions', method: 'POST' });
    expect(call(0).body.client_id).toBe('client-9');
    expect(localStorage.getItem(ID_KEY)).toBe('sub-3');
  });
});

describe('disablePush', () => {
  it('deletes the stored subscription on the server and unsubscribes', async () => {
    const current = fakeSubscription(base64UrlToBytes(VAPID));
    stubBrowser('granted', current);
    localStorage.setItem(ID_KEY, 'sub-1');
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
    await disablePush();
    expect(call(0)).toMatchObject({ path: '/api/push/subscriptions/sub-1', method: 'DELETE' });
    expect(current.unsubscribe).toHaveBeenCalled();
    expect(localStorage.getItem(ID_KEY)).toBeNull();
  });

  it('finds the id by endpoint when none is stored', async () => {
    const current = fakeSubscription(base64UrlToBytes(VAPID));
    stubBrowser('granted', current);
    fetchMock
      .mockResolvedValueOnce(json(200, [{ id: 'other', endpoint: 'https://elsewhere' }, { id: 'mine', endpoint: current.endpoint }]))
      .mockResolvedValueOnce(new Response(null, { status: 204 }));
    await disablePush();
    expect(call(1)).toMatchObject({ path: '/api/push/subscriptions/mine', method: 'DELETE' });
    expect(current.unsubscribe).toHaveBeenCalled();
  });

  it('still unsubscribes offline', async () => {
    const current = fakeSubscription(base64UrlToBytes(VAPID));
    stubBrowser('granted', current);
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'));
    await disablePush();
    expect(current.unsubscribe).toHaveBeenCalled();
  });
});

describe('forgetPushOnLogout', () => {
  it("deletes this device's subscription with the ending login's token, then unsubscribes", async () => {
    const current = fakeSubscription(base64UrlToBytes(VAPID));
    stubBrowser('granted', current);
    localStorage.setItem(ID_KEY, 'sub-1');
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
    await forgetPushOnLogout('access-old');
    expect(call(0)).toMatchObject({ path: '/api/push/subscriptions/sub-1', method: 'DELETE', auth: 'Bearer access-old' });
    expect(current.unsubscribe).toHaveBeenCalled();
    expect(localStorage.getItem(ID_KEY)).toBeNull();
  });

  it('never throws: offline, refused, without a token or without push at all', async () => {
    const current = fakeSubscription(base64UrlToBytes(VAPID));
    stubBrowser('granted', current);
    localStorage.setItem(ID_KEY, 'sub-1');
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(forgetPushOnLogout('access-old')).resolves.toBeUndefined();
    expect(current.unsubscribe).toHaveBeenCalledOnce();

    localStorage.setItem(ID_KEY, 'sub-1');
    fetchMock.mockResolvedValueOnce(json(401, { code: 'INVALID_TOKEN', message: 'expired' }));
    await expect(forgetPushOnLogout('access-old')).resolves.toBeUndefined();

    fetchMock.mockClear();
    localStorage.setItem(ID_KEY, 'sub-1');
    await forgetPushOnLogout(null);
    expect(fetchMock).not.toHaveBeenCalled();
    expect(localStorage.getItem(ID_KEY)).toBeNull();

    vi.stubGlobal('window', {});
    vi.stubGlobal('localStorage', undefined);
    await expect(forgetPushOnLogout('access-old')).resolves.toBeUndefined();
  });

  it('does not wait for a service worker that never comes', async () => {
    stubBrowser('granted', null);
    vi.stubGlobal('navigator', {
      userAgent: 'x',
      serviceWorker: { ready: new Promise(() => undefined), getRegistration: async () => undefined },
    });
    await expect(forgetPushOnLogout(null)).resolves.toBeUndefined();
  });
});

describe('preferences and the test', () => {
  it('sends the whole muted list and reads how many tests were queued', async () => {
    fetchMock
      .mockResolvedValueOnce(json(200, { muted: ['spare_shortage'], kinds: [] }))
      .mockResolvedValueOnce(json(202, { queued: 2 }));
    expect((await setMutedKinds(['spare_shortage'])).muted).toEqual(['spare_shortage']);
    expect(call(0)).toMatchObject({ path: '/api/push/preferences', method: 'PUT', body: { muted: ['spare_shortage'] } });
    expect(await sendTestPush()).toBe(2);
    expect(call(1)).toMatchObject({ path: '/api/push/test', method: 'POST' });
  });

  it("passes the server's 400 naming a bad kind to the caller", async () => {
    fetchMock.mockResolvedValueOnce(
      json(400, { code: 'INVALID_INPUT', message: "unknown notification kind 'nope'", field: 'muted[0]' }),
    );
    await expect(setMutedKinds(['nope'])).rejects.toMatchObject({ status: 400, field: 'muted[0]' });
  });
});
