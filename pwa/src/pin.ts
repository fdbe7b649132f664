/**
 * The technician's PIN that ends customer mode. Set on the phone, kept only as a PBKDF2-SHA-256 hash
 * (WebCrypto, a random salt) in IndexedDB, so it is checked with no network and never leaves the phone.
 */
import { db, normalizeUsername } from './db';

export const PIN_ITERATIONS = 210_000;
const PREFIX = 'pin:';

interface StoredPin {
  salt: string;
  hash: string;
  iterations: number;
}

export function validPin(pin: string): boolean {
  return /^\d{4,8}$/.test(pin);
}

const hex = (bytes: ArrayBuffer | Uint8Array) =>
  Array.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');

function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function derive(pin: string, salt: Uint8Array<ArrayBuffer>, iterations: number): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256);
  return hex(bits);
}

export async function hasPin(username: string): Promise<boolean> {
  return !!(await db.prefs.get(PREFIX + normalizeUsername(username)));
}

export async function setPin(username: string, pin: string, iterations = PIN_ITERATIONS): Promise<void> {
  if (!validPin(pin)) throw new Error('a PIN is 4 to 8 digits');
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const stored: StoredPin = { salt: hex(salt), hash: await derive(pin, salt, iterations), iterations };
  await db.prefs.put({ key: PREFIX + normalizeUsername(username), value: JSON.stringify(stored) });
}

/** True when `pin` is the one set for this user on this phone (constant-time comparison of the hashes). */
export async function verifyPin(username: string, pin: string): Promise<boolean> {
  const row = await db.prefs.get(PREFIX + normalizeUsername(username));
  if (!row || !validPin(pin)) return false;
  const stored = JSON.parse(row.value) as StoredPin;
  const candidate = await derive(pin, fromHex(stored.salt), stored.iterations);
  let diff = candidate.length ^ stored.hash.length;
  for (let i = 0; i < Math.min(candidate.length, stored.hash.length); i += 1) {
    diff |= candidate.charCodeAt(i) ^ stored.hash.charCodeAt(i);
  }
  return diff === 0;
}
