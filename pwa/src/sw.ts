/**
 * FieldQ's service worker: the precached shell (so the app opens with no
 * network), the SPA navigation fallback, updates on the user's say-so, and push.
 */
import { clientsClaim } from 'workbox-core';
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<string | { url: string; revision: string | null }>;
};

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();

// Every in-app URL opens the precached shell; the API (and its docs) always go to the network.
registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    // The API, and the customer's survey pages (server-rendered, no login) are never the app shell.
    denylist: [/^\/api(\/|$)/, /^\/s\//],
  }),
);

// A new worker takes over only when the page asks (the update toast), never mid-task.
self.addEventListener('message', (event: ExtendableMessageEvent) => {
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});

// On first install, control the open page at once so it works offline without a reload.
clientsClaim();

/**
 * Background Sync (Chromium): the browser wakes the worker when the connection is back, even if the
 * page is in the background. The outbox, the token and the sync code live in the page, so the worker
 * asks every open FieldQ window to sync now; with none open, the next start syncs (engine.ts).
 */
self.addEventListener('sync', (event: Event) => {
  const syncEvent = event as Event & { tag: string; waitUntil(promise: Promise<unknown>): void };
  if (syncEvent.tag !== 'fieldq-sync') return;
  syncEvent.waitUntil(
    self.clients.matchAll({ type: 'window' }).then((windows) => {
      for (const client of windows) client.postMessage({ type: 'FIELDQ_SYNC' });
    }),
  );
});

/** What the server sends (backend/push/services.py): the words are already in the recipient's language. */
interface PushPayload {
  id?: string;
  kind?: string;
  title?: string;
  body?: string;
  url?: string;
  /** The logical topic ("job:<id>"): a newer notification about the same thing replaces the shown one. */
  tag?: string;
  created_at?: string;
}

self.addEventListener('push', (event: PushEvent) => {
  let payload: PushPayload = {};
  try {
    payload = (event.data?.json() as PushPayload | undefined) ?? {};
  } catch {
    payload = { body: event.data?.text() };
  }
  const options: NotificationOptions = {
    body: payload.body ?? '',
    icon: '/icons/icon-192.png',
    badge: '/icons/favicon-32.png',
    data: { url: sameOriginUrl(payload.url), kind: payload.kind ?? null, id: payload.id ?? null },
  };
  const sentAt = payload.created_at ? Date.parse(payload.created_at) : NaN;
  if (!Number.isNaN(sentAt)) (options as NotificationOptions & { timestamp?: number }).timestamp = sentAt;
  if (payload.tag) options.tag = payload.tag;
  event.waitUntil(self.registration.showNotification(payload.title || 'FieldQ', options));
});

self.addEventListener('notificationclick', (event: NotificationEvent) => {
  event.notification.close();
  const url = sameOriginUrl((event.notification.data as { url?: string } | null)?.url);
  event.waitUntil(openOrFocus(url));
});

/** Only this app's own pages may be opened from a notification. */
function sameOriginUrl(raw: string | undefined): string {
  try {
    const url = new URL(raw ?? '/', self.location.origin);
    return url.origin === self.location.origin ? url.href : `${self.location.origin}/`;
  } catch {
    return `${self.location.origin}/`;
  }
}

async function openOrFocus(url: string): Promise<void> {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const exact = windows.find((client) => client.url === url);
  if (exact) {
    await exact.focus();
    return;
  }
  const any = windows[0];
  if (any) {
    const focused = await any.focus();
    await focused.navigate(url).catch(() => undefined);
    return;
  }
  await self.clients.openWindow(url);
}
