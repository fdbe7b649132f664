/**
 * Service worker registration, done here rather than by an injected inline
 * script (the CSP forbids inline scripts). Updates wait for the user: the
 * toast's Reload posts SKIP_WAITING and the page reloads once the new worker
 * has taken control.
 */
import { Workbox } from 'workbox-window';
import { createStore } from './store';

/** Set when a new version is installed and waiting; calling it applies it. */
export const updateStore = createStore<(() => void) | null>(null);
/** True once a service worker controls this page (the shell then opens offline). */
export const offlineReadyStore = createStore<boolean>(false);

const UPDATE_CHECK_INTERVAL_MS = 60 * 60 * 1000;

export function registerServiceWorker(): void {
  if (!('serviceWorker' in navigator) || !import.meta.env.PROD) return;
  const container = navigator.serviceWorker;
  const wb = new Workbox('/sw.js', { scope: '/' });

  wb.addEventListener('waiting', () => {
    updateStore.set(() => {
      container.addEventListener('controllerchange', () => window.location.reload(), { once: true });
      // Posts {type: 'SKIP_WAITING'} to the waiting worker; see sw.ts.
      wb.messageSkipWaiting();
    });
  });

  void wb.register().catch((error: unknown) => console.warn('service worker registration failed', error));

  void container.ready.then(() => {
    const markReady = () => {
      document.body.dataset.swReady = '1';
      offlineReadyStore.set(true);
    };
    if (container.controller) markReady();
    else container.addEventListener('controllerchange', markReady, { once: true });
  });

  // Technicians keep the app open all day: look for a new version now and then.
  let lastCheck = Date.now();
  const checkForUpdate = () => {
    if (!navigator.onLine || Date.now() - lastCheck < 60_000) return;
    lastCheck = Date.now();
    void wb.update().catch(() => undefined);
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') checkForUpdate();
  });
  window.setInterval(checkForUpdate, UPDATE_CHECK_INTERVAL_MS);
}
