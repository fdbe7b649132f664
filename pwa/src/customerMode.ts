/**
 * Customer mode: while the phone is in the customer's hands, the app shows only the sign-off screen
 * of one job, whatever the URL or the back button say, across reloads; the technician's PIN ends it.
 * Kept in IndexedDB (`meta`), so a reload or an edited URL lands back in the mode.
 */
import { db } from './db';
import { verifyPin } from './pin';
import { createStore } from './store';

export interface CustomerMode {
  jobId: string;
  username: string;
  since: number;
  /** The customer's language, kept over a reload (independent of the technician's). */
  locale?: string;
}

const KEY = 'customer-mode';

/** The mode as last read (`undefined` until read at start). */
export const customerModeStore = createStore<CustomerMode | null | undefined>(undefined);

export async function loadCustomerMode(): Promise<CustomerMode | null> {
  const value = ((await db.meta.get(KEY))?.value as CustomerMode | undefined) ?? null;
  customerModeStore.set(value);
  return value;
}

export async function enterCustomerMode(jobId: string, username: string): Promise<void> {
  const mode: CustomerMode = { jobId, username, since: Date.now() };
  await db.meta.put({ key: KEY, value: mode });
  customerModeStore.set(mode);
}

/** Leaves the mode when the PIN is right; returns whether it was. */
export async function leaveCustomerMode(pin: string): Promise<boolean> {
  const mode = customerModeStore.get() ?? (await loadCustomerMode());
  if (!mode) return true;
  if (!(await verifyPin(mode.username, pin))) return false;
  await db.meta.delete(KEY);
  customerModeStore.set(null);
  return true;
}

export async function setCustomerLocale(locale: string): Promise<void> {
  const mode = customerModeStore.get();
  if (!mode) return;
  const next = { ...mode, locale };
  await db.meta.put({ key: KEY, value: next });
  customerModeStore.set(next);
}

/**
 * A forgotten PIN: the mode ends by ending the login (getting back in needs the technician's password,
 * so nothing of theirs is exposed); what waits in the outbox stays for them.
 */
export async function endCustomerModeBySigningOut(signOut: () => Promise<void>): Promise<void> {
  await db.meta.delete(KEY);
  customerModeStore.set(null);
  await signOut();
}
