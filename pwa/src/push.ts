/**
 * Web Push on this device: subscribe with the server's VAPID key, tell the server (so it can send job
 * assignments, returned work, approvals, exceptions, quality items and spare shortages here), keep that
 * subscription in step on every start, unsubscribe, and the kinds the person muted.
 *
 * The service worker (sw.ts) shows what arrives and opens the notification's page on a tap.
 */
import { apiFetch, request } from './api';

/** The server's id of this device's subscription, for unsubscribing without a listing. */
const SUBSCRIPTION_ID_KEY = 'fieldq-push-subscription-id';

export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

interface SubscriptionRead {
  id: string;
  endpoint: string;
}

export interface PushKind {
  kind: string;
  description: string;
  urgency: string;
  ttl: number;
}

export interface PushPreferences {
  muted: string[];
  kinds: PushKind[];
}

export function pushSupported(): boolean {
  return (
    typeof navigator !== 'undefined' &&
    'serviceWorker' in navigator &&
    typeof window !== 'undefined' &&
    'PushManager' in window &&
    'Notification' in window
  );
}

/** The VAPID public key (base64url) as the bytes `applicationServerKey` takes. */
export function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
  const padded = value.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (value.length % 4)) % 4);
  const raw = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** Whether a subscription's `applicationServerKey` is the key wanted. */
export function sameKey(current: ArrayBuffer | null, wanted: Uint8Array): boolean {
  if (!current) return false;
  const have = new Uint8Array(current);
  return have.length === wanted.length && have.every((byte, i) => byte === wanted[i]);
}

async function currentSubscription(): Promise<PushSubscription | null> {
  if (!pushSupported()) return null;
  const registration = await navigator.serviceWorker.ready;
  return registration.pushManager.getSubscription();
}

export async function pushState(): Promise<PushState> {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'off';
  return (await currentSubscription()) ? 'on' : 'off';
}

function userAgent(): string {
  // The server keeps one line of at most 300 characters.
  return navigator.userAgent.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 300);
}

async function register(subscription: PushSubscription, clientId?: string): Promise<void> {
  const body = { ...subscription.toJSON(), client_id: clientId ?? null, user_agent: userAgent() };
  const saved = await apiFetch<SubscriptionRead>('/api/push/subscriptions', { method: 'POST', body });
  localStorage.setItem(SUBSCRIPTION_ID_KEY, saved.id);
}

/**
 * Ask for permission (call from a tap: browsers refuse a prompt nobody asked for), subscribe with the
 * server's key and register the subscription for the person logged in. Returns the resulting state.
 */
export async function enablePush(clientId?: string): Promise<PushState> {
  if (!pushSupported()) return 'unsupported';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  const { public_key } = await apiFetch<{ public_key: string }>('/api/push/vapid-public-key');
  const key = base64UrlToBytes(public_key);
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    // Made for another server key (the server's key was replaced): it can never receive again.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await register(subscription, clientId);
  return 'on';
}

/**
 * On every start with a login: when this device is subscribed, tell the server again (the browser may
 * have renewed the subscription, or another person may be logged in now). Never prompts.
 */
export async function refreshPushSubscription(clientId?: string): Promise<void> {
  if (!pushSupported() || Notification.permission !== 'granted') return;
  const subscription = await currentSubscription();
  if (subscription) await register(subscription, clientId);
}

/** Stop notifications on this device: the server forgets the subscription, the browser drops it. */
export async function disablePush(): Promise<void> {
  const subscription = await currentSubscription();
  let id = localStorage.getItem(SUBSCRIPTION_ID_KEY);
  if (!id && subscription) {
    try {
      const mine = await apiFetch<SubscriptionRead[]>('/api/push/subscriptions');
      id = mine.find((s) => s.endpoint === subscription.endpoint)?.id ?? null;
    } catch {
      // Offline: unsubscribing below still ends it (the server deletes it on the push service's 410).
    }
  }
  if (id) {
    try {
      await apiFetch<void>(`/api/push/subscriptions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch {
      // Already gone, or offline: the push service answers 410 once the browser unsubscribed, and the
      // server deletes it then.
    }
  }
  localStorage.removeItem(SUBSCRIPTION_ID_KEY);
  await subscription?.unsubscribe();
}

/**
 * At logout, never prompting and never throwing: the server forgets this device's subscription (with the
 * ending login's access token, while it is still valid: the stored login is already gone) and the browser
 * drops it, so no notification for the person who left arrives here and the next person chooses for
 * themselves. Without a token or a network the browser's unsubscribe alone ends it (the push service then
 * answers 410 and the server deletes it).
 */
export async function forgetPushOnLogout(accessToken: string | null, timeoutMs = 5_000): Promise<void> {
  try {
    const id = localStorage.getItem(SUBSCRIPTION_ID_KEY);
    localStorage.removeItem(SUBSCRIPTION_ID_KEY);
    if (id && accessToken) {
      await request<void>(`/api/push/subscriptions/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        token: accessToken,
        timeoutMs,
      }).catch(() => undefined);
    }
    if (!pushSupported()) return;
    // getRegistration, not ready: it never waits for a service worker that may never come.
    const registration = await navigator.serviceWorker.getRegistration();
    const subscription = await registration?.pushManager.getSubscription();
    await subscription?.unsubscribe();
  } catch {
    // Best effort: logging out never fails on this.
  }
}

export function pushPreferences(): Promise<PushPreferences> {
  return apiFetch<PushPreferences>('/api/push/preferences');
}

/** The whole list of muted kinds (the server refuses unknown ones, naming them). */
export function setMutedKinds(muted: string[]): Promise<PushPreferences> {
  return apiFetch<PushPreferences>('/api/push/preferences', { method: 'PUT', body: { muted } });
}

/** A test notification to every device this person subscribed; how many were queued. */
export async function sendTestPush(): Promise<number> {
  return (await apiFetch<{ queued: number }>('/api/push/test', { method: 'POST' })).queued;
}
