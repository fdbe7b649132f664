/**
 * When to sync, and the network side of it. Syncs at start, when the browser comes online, shortly
 * after each local write, every few minutes while the app is visible and online, when the service
 * worker's Background Sync fires, and on "Sync now". One tab at a time (Web Locks): the others wait
 * for the next trigger. A sync is: photos up, the outbox pushed, the scope pulled, settled entries
 * dropped.
 */
import { ApiError, OfflineError, apiFetch, currentAccessToken, endLogin, refreshTokens } from '../api';
import { clientIdFor, db, renewClientId } from '../db';
import { createStore } from '../store';
import { BlobRefusedError, ensureUploaded, releaseUploaded, uploadPending, type BlobTransport, type BlobUpload } from './blobs';
import {
  dropSettled,
  isFinal,
  moveToNewClient,
  onEnqueue,
  OutboxGapError,
  push,
  type DeviceReport,
  type PushBody,
  type PushResponse,
} from './outbox';
import { adoptRecords, claimRecords, pullAll, pullState, type PullBody, type PullPage } from './pull';

export type SyncProblem = 'offline' | 'server' | 'update' | 'gap' | 'blob' | null;

export interface SyncStatus {
  running: boolean;
  phase: 'idle' | 'uploading' | 'pushing' | 'pulling';
  /** Epoch ms of the last sync that got through (push and pull). */
  lastSyncAt: number | null;
  problem: SyncProblem;
  message: string | null;
  /** Records received by the pull running now (first sync progress). */
  received: number;
}

export const syncStatusStore = createStore<SyncStatus>({
  running: false,
  phase: 'idle',
  lastSyncAt: null,
  problem: null,
  message: null,
  received: 0,
});

export interface StorageInfo {
  persisted: boolean | null;
  usage: number | null;
  quota: number | null;
}

export const storageStore = createStore<StorageInfo>({ persisted: null, usage: null, quota: null });

/** The signed-in user's client id (set by `startSync`). */
export const clientStore = createStore<string | null>(null);

const APP_VERSION = typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : 'dev';
const SYNC_LOCK = 'fieldq-sync';
const AFTER_WRITE_MS = 1_500;
const WHILE_VISIBLE_MS = 3 * 60_000;
const PUSH_TIMEOUT_MS = 90_000;

let username: string | null = null;
let stops: (() => void)[] = [];
let debounce: ReturnType<typeof setTimeout> | null = null;
let again = false;
let inflight: Promise<void> | null = null;

function set(change: Partial<SyncStatus>): void {
  syncStatusStore.set({ ...syncStatusStore.get(), ...change });
}

/** Starts syncing for the signed-in user (after login, or a login restored at start). */
export async function startSync(user: { username: string }): Promise<string> {
  stopSync();
  username = user.username;
  const clientId = await clientIdFor(user.username);
  await claimRecords(clientId);
  clientStore.set(clientId);
  const { lastPullAt } = await pullState(clientId);
  set({ lastSyncAt: lastPullAt, problem: null, message: null });

  const onOnline = () => void syncNow();
  const onVisible = () => document.visibilityState === 'visible' && void syncNow();
  const onMessage = (event: MessageEvent) => {
    if ((event.data as { type?: string } | null)?.type === 'FIELDQ_SYNC') void syncNow();
  };
  window.addEventListener('online', onOnline);
  document.addEventListener('visibilitychange', onVisible);
  navigator.serviceWorker?.addEventListener('message', onMessage);
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible' && navigator.onLine) void syncNow();
  }, WHILE_VISIBLE_MS);
  const unsubscribe = onEnqueue(() => scheduleSync());
  stops = [
    () => window.removeEventListener('online', onOnline),
    () => document.removeEventListener('visibilitychange', onVisible),
    () => navigator.serviceWorker?.removeEventListener('message', onMessage),
    () => clearInterval(timer),
    unsubscribe,
  ];
  void askPersistence();
  void syncNow();
  return clientId;
}

export function stopSync(): void {
  for (const stop of stops) stop();
  stops = [];
  if (debounce) clearTimeout(debounce);
  debounce = null;
  username = null;
  clientStore.set(null);
}

/** After a local write: sync soon (several writes in a row make one push), and ask for Background Sync. */
export function scheduleSync(): void {
  if (debounce) clearTimeout(debounce);
  debounce = setTimeout(() => {
    debounce = null;
    void syncNow();
  }, AFTER_WRITE_MS);
  void registerBackgroundSync();
}

async function registerBackgroundSync(): Promise<void> {
  try {
    const registration = await navigator.serviceWorker?.getRegistration();
    const sync = (registration as (ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }) | undefined)?.sync;
    await sync?.register(SYNC_LOCK);
  } catch {
    // No Background Sync here (Safari, Firefox): the other triggers cover it.
  }
}

/** Runs a sync now, or right after the one in progress. Resolves when done; never throws. */
export function syncNow(): Promise<void> {
  if (inflight) {
    again = true;
    return inflight;
  }
  inflight = (async () => {
    do {
      again = false;
      await runLocked();
    } while (again && clientStore.get());
  })().finally(() => {
    inflight = null;
  });
  return inflight;
}

async function runLocked(): Promise<void> {
  const locks = navigator.locks;
  if (!locks?.request) return runOnce();
  // Another tab syncing now: it will do this tab's work too (one outbox, one IndexedDB).
  await locks.request(SYNC_LOCK, { ifAvailable: true }, async (lock) => {
    if (lock) await runOnce();
  });
}

async function runOnce(): Promise<void> {
  const clientId = clientStore.get();
  if (!clientId) return;
  if (!navigator.onLine) {
    set({ problem: 'offline', message: null });
    return;
  }
  set({ running: true, phase: 'uploading', received: 0 });
  try {
    await uploadPending(clientId, blobTransport).catch((error: unknown) => {
      // A refused photo waits (marked failed) for the technician; the rest of the sync goes on.
      if (!(error instanceof BlobRefusedError)) throw error;
    });
    set({ phase: 'pushing' });
    await pushWithRecovery(clientId);
    set({ phase: 'pulling' });
    const reached = await pullAll(clientStore.get() ?? clientId, pullDeps, (received) => set({ received }));
    if (reached !== null) await dropSettled(clientStore.get() ?? clientId, reached);
    await releaseUploaded();
    set({ lastSyncAt: Date.now(), problem: null, message: null });
  } catch (error) {
    set(problemOf(error));
  } finally {
    set({ running: false, phase: 'idle' });
    void refreshStorage();
  }
}

async function pushWithRecovery(clientId: string): Promise<void> {
  try {
    await push(clientId, pushDeps);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && error.code === 'CLIENT_UNKNOWN' && username) {
      // The server has no record of this client (a restored database): start over with a new id;
      // the entries not yet answered are numbered again from 1. Their record ids keep this safe.
      const fresh = await renewClientId(username);
      await moveToNewClient(clientId, fresh);
      await adoptRecords(fresh);
      clientStore.set(fresh);
      await push(fresh, pushDeps);
      return;
    }
    throw error;
  }
}

function problemOf(error: unknown): Partial<SyncStatus> {
  if (error instanceof OfflineError) return { problem: 'offline', message: null };
  if (error instanceof OutboxGapError) return { problem: 'gap', message: error.message };
  if (error instanceof BlobRefusedError) return { problem: 'blob', message: error.message };
  if (error instanceof ApiError) {
    if (error.status === 426) return { problem: 'update', message: error.message };
    return { problem: 'server', message: `${error.code}: ${error.message}` };
  }
  console.error('sync failed', error);
  return { problem: 'server', message: String((error as Error)?.message ?? error) };
}

/** What the server keeps about this phone (SYNC.md 1.1, device health). */
export async function deviceReport(): Promise<DeviceReport> {
  const clientId = clientStore.get();
  const entries = clientId ? await db.outbox.where('clientId').equals(clientId).toArray() : [];
  const pending = entries.filter((entry) => !isFinal(entry));
  const oldest = pending.reduce<number | null>((min, entry) => (min === null || entry.createdAt < min ? entry.createdAt : min), null);
  const blobsPending = await db.blobs.where('state').anyOf('pending', 'failed').count();
  const storage = await refreshStorage();
  const report: DeviceReport = {
    app_version: APP_VERSION,
    outbox_pending: pending.length,
    oldest_pending_at: oldest === null ? null : new Date(oldest).toISOString(),
    blobs_pending: blobsPending,
    persisted: storage.persisted,
  };
  if (storage.usage !== null) report.storage_used = Math.round(storage.usage);
  if (storage.quota !== null) report.storage_quota = Math.round(storage.quota);
  return report;
}

const pushDeps = {
  post: (body: PushBody) => apiFetch<PushResponse>('/api/sync/v1/push', { method: 'POST', body, timeoutMs: PUSH_TIMEOUT_MS }),
  ensureUploaded: (sha256s: string[], force?: boolean) => ensureUploaded(sha256s, blobTransport, force),
  device: deviceReport,
};

const pullDeps = {
  post: (body: PullBody) => apiFetch<PullPage>('/api/sync/v1/pull', { method: 'POST', body, timeoutMs: PUSH_TIMEOUT_MS }),
  device: deviceReport,
};

/** Blobs go up with XMLHttpRequest: `fetch` reports no upload progress. */
export const blobTransport: BlobTransport = {
  async exists(sha256) {
    try {
      await apiFetch(`/api/sync/v1/blobs/${sha256}`, { method: 'HEAD' });
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return false;
      throw error;
    }
  },
  async put(record, onProgress) {
    let token = await currentAccessToken();
    let status = await xhrPut(record, token, onProgress);
    if (status.status === 401) {
      token = await refreshTokens(token);
      status = await xhrPut(record, token, onProgress);
    }
    if (status.status === 200 || status.status === 201) return;
    const error = new ApiError(status.status, status.code, status.message);
    if (status.status === 403 && status.code === 'CLIENT_REVOKED') await endLogin(error);
    if ([400, 413, 415, 422].includes(status.status)) throw new BlobRefusedError(status.message, status.code);
    throw error;
  },
};

function xhrPut(
  record: BlobUpload,
  token: string,
  onProgress: (sent: number) => void,
): Promise<{ status: number; code: string; message: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `/api/sync/v1/blobs/${record.sha256}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', record.type);
    xhr.timeout = 120_000;
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      let code = `HTTP_${xhr.status}`;
      let message = xhr.statusText;
      try {
        const body = JSON.parse(xhr.responseText) as { code?: string; message?: string };
        code = body.code ?? code;
        message = body.message ?? message;
      } catch {
        // not JSON
      }
      resolve({ status: xhr.status, code, message });
    };
    xhr.onerror = () => reject(new OfflineError('no answer to the photo upload'));
    xhr.ontimeout = () => reject(new OfflineError('the photo upload timed out'));
    xhr.send(record.bytes);
  });
}

/** Asks the browser not to evict FieldQ's data (after login); the answer is shown on the waiting screen. */
export async function askPersistence(): Promise<void> {
  try {
    const storage = navigator.storage;
    if (storage?.persist && !(await storage.persisted())) await storage.persist();
  } catch {
    // Not supported: shown as unknown.
  }
  await refreshStorage();
}

export async function refreshStorage(): Promise<StorageInfo> {
  const info: StorageInfo = { persisted: null, usage: null, quota: null };
  try {
    const storage = navigator.storage;
    if (storage?.persisted) info.persisted = await storage.persisted();
    if (storage?.estimate) {
      const estimate = await storage.estimate();
      info.usage = estimate.usage ?? null;
      info.quota = estimate.quota ?? null;
    }
  } catch {
    // leave unknown
  }
  storageStore.set(info);
  return info;
}

/** Space runs short: less than 15 % or 300 MB of the quota left. */
export function storageLow(info: StorageInfo): boolean {
  if (info.usage === null || info.quota === null || info.quota === 0) return false;
  const left = info.quota - info.usage;
  return left < 300 * 1024 * 1024 || left / info.quota < 0.15;
}
