import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { customerModeStore, enterCustomerMode, leaveCustomerMode, loadCustomerMode, setCustomerLocale } from './customerMode';
import { db } from './db';
import { hasPin, setPin, validPin, verifyPin } from './pin';

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  customerModeStore.set(undefined);
});

describe('the technician PIN', () => {
  it('is 4 to 8 digits', () => {
    expect(['1234', '12345678'].map(validPin)).toEqual([true, true]);
    expect(['123', '123456789', '12a4', ' 1234', ''].map(validPin)).toEqual([false, false, false, false, false]);
  });

  it('is kept only as a salted PBKDF2 hash, per user, and checked offline', async () => {
    expect(await hasPin('Tech1')).toBe(false);
    await setPin('Tech1', '2468', 1000);
    const stored = JSON.stringify(await db.prefs.toArray());
    expect(stored).not.toContain('2468');
    expect(await hasPin('tech1')).toBe(true); // usernames compared as the server does
    expect(await verifyPin('tech1', '2468')).toBe(true);
    expect(await verifyPin('tech1', '2469')).toBe(false);
    expect(await verifyPin('tech2', '2468')).toBe(false);
    // A new PIN gets a new salt: the same PIN twice gives different stored hashes.
    const first = (await db.prefs.get('pin:tech1'))!.value;
    await setPin('tech1', '2468', 1000);
    expect((await db.prefs.get('pin:tech1'))!.value).not.toBe(first);
  });

  it('refuses to store a malformed PIN', async () => {
    await expect(setPin('tech1', '12', 1000)).rejects.toThrow();
    expect(await hasPin('tech1')).toBe(false);
  });
});

describe('customer mode', () => {
  it('survives a reload and ends only with the right PIN', async () => {
    await setPin('tech1', '2468', 1000);
    await enterCustomerMode('job-1', 'tech1');
    await setCustomerLocale('en');
    customerModeStore.set(undefined); // a reload: nothing in memory
    expect(await loadCustomerMode()).toMatchObject({ jobId: 'job-1', username: 'tech1', locale: 'en' });
    expect(await leaveCustomerMode('1111')).toBe(false);
    expect(await loadCustomerMode()).not.toBeNull();
    expect(await leaveCustomerMode('2468')).toBe(true);
    expect(await loadCustomerMode()).toBeNull();
  });
});
