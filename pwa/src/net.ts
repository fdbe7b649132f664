/** Whether the browser believes it is online, as an observable. */
import { createStore } from './store';

export const onlineStore = createStore<boolean>(typeof navigator === 'undefined' ? true : navigator.onLine);

export function isOnline(): boolean {
  return onlineStore.get();
}

export function watchNetwork(onOnline?: () => void): void {
  window.addEventListener('online', () => {
    onlineStore.set(true);
    onOnline?.();
  });
  window.addEventListener('offline', () => onlineStore.set(false));
}
