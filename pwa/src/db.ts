/**
 * The one module that opens IndexedDB. Every schema change is a new
 * `db.version(n)` below (never edit a released version): Dexie upgrades
 * installed phones from whatever version they hold.
 */
import Dexie, { type EntityTable } from 'dexie';

export type Locale = 'en' | 'zh-CN';
export type Role = 'technician' | 'supervisor' | 'quality' | 'manager';

/** The user as `POST /api/auth/login` and `/refresh` return it. */
export interface SessionUser {
  id: string;
  username: string;
  display_name: string;
  role: Role | string;
  team_id: string | null;
  locale: string;
  must_change_password: boolean;
}

/** The current login. There is at most one row, with `id: 'current'`. */
export interface SessionRecord {
  id: 'current';
  user: SessionUser;
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds after which the access token is expired. */
  accessExpiresAt: number;
  /** Cached so the shell can show it offline; filled in after login. */
  teamName?: string | null;
  savedAt: number;
}

export type Session = Omit<SessionRecord, 'id'>;

/** One client id per (installation, user): the server refuses one used by another user. */
export interface ClientRecord {
  username: string;
  clientId: string;
  createdAt: number;
}

export interface PrefRecord {
  key: string;
  value: string;
}

/** What the server answered for one mutation (docs/SYNC.md, Push). */
export interface MutationResult {
  id: number;
  status: 'applied' | 'merged' | 'rejected' | 'duplicate' | 'blocked';
  version?: number;
  overridden_fields?: string[];
  refused_fields?: string[];
  exception_id?: string;
  code?: string;
  message?: string;
  field?: string;
  blob?: string;
  /** For `duplicate`: the result stored when the mutation was first processed. */
  result?: Omit<MutationResult, 'id' | 'result'> & { id?: number };
}

/**
 * Where an outbox entry stands. `queued`: not yet sent; `sent`: in a push whose answer has not
 * come back (a lost answer is sent again and comes back `duplicate`); `blocked`: waits for a blob;
 * the rest are the server's final answers.
 */
export type OutboxState = 'queued' | 'sent' | 'applied' | 'merged' | 'rejected' | 'blocked' | 'duplicate';

/**
 * A domain mutation recorded on this phone (docs/SYNC.md). `seq` is local insertion order; `id` is
 * the protocol's per-client mutation counter (1, 2, 3, … with no gaps), given in the same Dexie
 * transaction that adds the entry. sync/outbox.ts is the only writer.
 */
export interface OutboxEntry {
  seq?: number;
  id: number;
  clientId: string;
  name: string;
  args: Record<string, unknown>;
  client_time: string;
  state: OutboxState;
  /** The job the mutation is about, when there is one (the screens' overlay looks it up by this). */
  jobId?: string;
  /** Every record id the args name: a record the pull deletes stays (pinned) while an entry names it. */
  refs: string[];
  /** Blobs (sha256) the mutation names: uploaded before it is pushed. */
  blobs: string[];
  createdAt: number;
  attempts: number;
  /** Words naming the subject (a job's number) that outlive its records, for the waiting screen. */
  label?: string;
  result?: MutationResult;
  /** The push's write_checkpoint: once a pull reaches it, the pulled records contain this entry's effects. */
  checkpoint?: string;
  /** Rejected or merged entries wait in "Needs attention" until the technician has seen them (1). */
  seen?: 0 | 1;
}

/** A record of the pulled scope: `entity` and `id` as the change feed names them, `data` as sent. */
export interface SyncedRecord {
  entity: string;
  id: string;
  version: number;
  data: Record<string, unknown>;
  /** For a job's own records (steps, logs, attachments, sign-off, approval): the job, indexed. */
  jobId?: string;
  /** The pull deleted it while the outbox still named it: kept readable until those entries are final. */
  pinned?: 1;
}

/**
 * A photo or signature taken on this phone, content-addressed. The original bytes stay (their EXIF
 * time and place are evidence the server reads); a small JPEG thumbnail is made for the screens.
 */
export interface BlobRecord {
  sha256: string;
  clientId: string;
  type: string;
  size: number;
  /** The original is still on this phone (in `db.originals`, kept apart so the screens never read it). */
  kept: boolean;
  thumb?: ArrayBuffer;
  createdAt: number;
  state: 'pending' | 'uploaded' | 'failed';
  /** Bytes acknowledged by the last upload attempt (progress). */
  sent: number;
  error?: string;
  uploadedAt?: number;
  jobId?: string;
  /** A photo taken for a step that has no result yet: it joins the step's `job.step` when recorded. */
  draftStepId?: string;
}

/** A photo's or signature's original bytes, exactly as taken (read only to upload it). */
export interface OriginalRecord {
  sha256: string;
  bytes: ArrayBuffer;
}

/** Small key/value state: sync cursors, mutation counters, the last sync. */
export interface MetaRecord {
  key: string;
  value: unknown;
}

export class FieldQDB extends Dexie {
  session!: EntityTable<SessionRecord, 'id'>;
  clients!: EntityTable<ClientRecord, 'username'>;
  prefs!: EntityTable<PrefRecord, 'key'>;
  outbox!: EntityTable<OutboxEntry, 'seq'>;
  meta!: EntityTable<MetaRecord, 'key'>;
  records!: Dexie.Table<SyncedRecord, [string, string]>;
  blobs!: EntityTable<BlobRecord, 'sha256'>;
  originals!: EntityTable<OriginalRecord, 'sha256'>;

  constructor(name = 'fieldq') {
    super(name);
    // v1: the shell. Only primary keys and queried fields are listed here.
    this.version(1).stores({
      session: 'id',
      clients: 'username',
      prefs: 'key',
      outbox: '++seq, id',
      meta: 'key',
    });
    // v2: the sync client. The pulled scope, the outbox's states and the photo queue.
    this.version(2).stores({
      outbox: '++seq, id, [clientId+id], clientId, jobId, state',
      records: '[entity+id], entity, [entity+jobId], pinned',
      blobs: 'sha256, state, clientId, jobId',
    });
    // v3: originals apart from the photo's metadata: every screen reads `blobs` (thumbnails, states),
    // and cloning megabytes of originals on each local write made the screens slow.
    this.version(3)
      .stores({ originals: 'sha256' })
      .upgrade(async (tx) => {
        const blobs = tx.table('blobs');
        const originals = tx.table('originals');
        for (const row of (await blobs.toArray()) as (BlobRecord & { bytes?: ArrayBuffer })[]) {
          const { bytes, ...rest } = row;
          const kept = !!bytes && bytes.byteLength > 0;
          if (kept) await originals.put({ sha256: row.sha256, bytes });
          await blobs.put({ ...rest, kept });
        }
      });
  }
}

export const db = new FieldQDB();

const SESSION_KEY = 'current';
const LOCALE_KEY = 'locale';

/** The server compares usernames trimmed and lower-cased; so do we. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

export async function saveSession(session: Session): Promise<void> {
  await db.session.put({ ...session, id: SESSION_KEY });
}

export async function loadSession(): Promise<Session | null> {
  const row = await db.session.get(SESSION_KEY);
  if (!row) return null;
  const { id: _id, ...session } = row;
  return session;
}

/** `meta` keys under this prefix hold data of the signed-in user; they go when the login ends. */
export const USER_CACHE_PREFIX = 'user-cache:';

/**
 * Ends the local login and forgets what was cached for that user (the next person to sign in on
 * this phone must not see it). Client ids, prefs and the outbox stay: they outlive a login.
 */
export async function clearSession(): Promise<void> {
  await db.transaction('rw', db.session, db.meta, async () => {
    await db.session.delete(SESSION_KEY);
    await db.meta.where('key').startsWith(USER_CACHE_PREFIX).delete();
  });
}

/** Updates the stored session only if it is still the same login (same refresh token). */
export async function updateSession(
  expectedRefreshToken: string,
  change: Partial<Session>,
): Promise<boolean> {
  return db.transaction('rw', db.session, async () => {
    const row = await db.session.get(SESSION_KEY);
    if (!row || row.refreshToken !== expectedRefreshToken) return false;
    await db.session.put({ ...row, ...change, id: SESSION_KEY });
    return true;
  });
}

/** The client id for this user on this installation, made on first use. */
export async function clientIdFor(username: string): Promise<string> {
  const key = normalizeUsername(username);
  return db.transaction('rw', db.clients, async () => {
    const found = await db.clients.get(key);
    if (found) return found.clientId;
    const clientId = newUuid();
    await db.clients.put({ username: key, clientId, createdAt: Date.now() });
    return clientId;
  });
}

/** Replaces a user's client id (when the server says the old one belongs to someone else). */
export async function renewClientId(username: string): Promise<string> {
  const clientId = newUuid();
  await db.clients.put({ username: normalizeUsername(username), clientId, createdAt: Date.now() });
  return clientId;
}

export async function getLocale(): Promise<Locale | null> {
  const row = await db.prefs.get(LOCALE_KEY);
  return row?.value === 'en' || row?.value === 'zh-CN' ? row.value : null;
}

export async function setLocale(locale: Locale): Promise<void> {
  await db.prefs.put({ key: LOCALE_KEY, value: locale });
}

/**
 * A random (v4) UUID. `crypto.randomUUID` exists only in secure contexts, and a
 * phone may reach a test server over plain http on the LAN; `getRandomValues` works there too.
 */
export function newUuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
