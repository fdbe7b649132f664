/**
 * Photos and signatures: the one owner of `db.blobs`. Content-addressed (SHA-256, WebCrypto); the
 * original bytes are kept exactly as the camera made them (their EXIF time and place are evidence the
 * server reads) until they are on the server and no outbox entry names them; a small thumbnail stays
 * for the screens. Uploaded one at a time with per-photo progress, before the mutations that name them
 * (docs/SYNC.md, Blobs); a reload resumes the queue, and nothing is dropped.
 */
import { db, type BlobRecord } from '../db';

/** A blob with its original bytes, as a transport uploads it. */
export type BlobUpload = BlobRecord & { bytes: ArrayBuffer };
import { createStore } from '../store';

export const MAX_BLOB_BYTES = 15 * 1024 * 1024;
export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/heic', 'image/heif'];
const THUMB_EDGE = 320;

/** The upload in progress (sha256, bytes sent, total), for the waiting screen. */
export const uploadProgressStore = createStore<{ sha256: string; sent: number; total: number } | null>(null);

export class BlobRefusedError extends Error {
  override readonly name = 'BlobRefusedError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The image type from the bytes themselves (a file's extension or a browser's guess can be wrong). */
export function sniffType(bytes: ArrayBuffer): string | null {
  const b = new Uint8Array(bytes.slice(0, 16));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  const ascii = (from: number, to: number) => String.fromCharCode(...b.slice(from, to));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(4, 8) === 'ftyp') {
    const brand = ascii(8, 12);
    if (['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
  }
  return null;
}

export interface AddBlobOptions {
  clientId: string;
  jobId?: string;
  draftStepId?: string;
  /** Makes the thumbnail; the default uses createImageBitmap and a canvas (absent in unit tests). */
  thumbnail?: (bytes: ArrayBuffer, type: string) => Promise<ArrayBuffer | undefined>;
  now?: number;
}

/** Keeps a photo (or signature) on the phone and queues its upload; returns its record. */
export async function addBlob(bytes: ArrayBuffer, declaredType: string, options: AddBlobOptions): Promise<BlobRecord> {
  if (bytes.byteLength === 0) throw new BlobRefusedError('the file is empty', 'EMPTY');
  if (bytes.byteLength > MAX_BLOB_BYTES) throw new BlobRefusedError('the photo is larger than 15 MB', 'TOO_LARGE');
  const type = sniffType(bytes) ?? (declaredType === 'image/heif' ? 'image/heic' : null);
  if (!type) throw new BlobRefusedError('not a JPEG, PNG, WebP or HEIC image', 'NOT_AN_IMAGE');
  const sha256 = await sha256Hex(bytes);
  const existing = await db.blobs.get(sha256);
  if (existing && (existing.kept || existing.state === 'uploaded')) {
    if (options.draftStepId && !existing.draftStepId && existing.state !== 'uploaded') {
      await db.blobs.update(sha256, { draftStepId: options.draftStepId, jobId: options.jobId });
    }
    return (await db.blobs.get(sha256))!;
  }
  const thumb = await (options.thumbnail ?? makeThumbnail)(bytes, type).catch(() => undefined);
  const record: BlobRecord = {
    sha256,
    clientId: options.clientId,
    type,
    size: bytes.byteLength,
    kept: true,
    thumb,
    createdAt: options.now ?? Date.now(),
    state: existing?.state === 'uploaded' ? 'uploaded' : 'pending',
    sent: 0,
    jobId: options.jobId,
    draftStepId: options.draftStepId,
  };
  await db.transaction('rw', db.blobs, db.originals, async () => {
    await db.originals.put({ sha256, bytes });
    await db.blobs.put(record);
  });
  return record;
}

/** A JPEG thumbnail, at most THUMB_EDGE pixels on its long side, oriented as the photo is shown. */
export async function makeThumbnail(bytes: ArrayBuffer, type: string): Promise<ArrayBuffer | undefined> {
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas === 'undefined') return undefined;
  const bitmap = await createImageBitmap(new Blob([bytes], { type }), { imageOrientation: 'from-image' });
  const scale = Math.min(1, THUMB_EDGE / Math.max(bitmap.width, bitmap.height));
  const canvas = new OffscreenCanvas(Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale)));
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.75 });
  return blob.arrayBuffer();
}

/** How blobs reach the server; supplied by the engine (XHR with progress), or by a test. */
export interface BlobTransport {
  exists(sha256: string): Promise<boolean>;
  put(record: BlobUpload, onProgress: (sent: number) => void): Promise<void>;
}

/**
 * Uploads the named blobs, one at a time, in the order given. A blob the server already has is only
 * marked. `force` uploads again a blob marked uploaded (the server said it is missing).
 * Throws on a transport error; a blob the server refuses for good (415/422/413/400) is marked
 * `failed` with the reason and the error is thrown so the mutation naming it waits visibly.
 */
export async function ensureUploaded(sha256s: string[], transport: BlobTransport, force = false): Promise<void> {
  for (const sha256 of sha256s) {
    const record = await db.blobs.get(sha256);
    if (!record) continue; // not taken on this phone: the server has it or will say `blocked`
    if (record.state === 'uploaded' && !force) continue;
    if (!record.kept) continue;
    await uploadOne(record, transport, force);
  }
}

/** Uploads everything pending (oldest first), so photos travel even before their step is recorded. */
export async function uploadPending(clientId: string, transport: BlobTransport): Promise<number> {
  const pending = (await db.blobs.where('state').anyOf('pending', 'failed').toArray())
    .filter((record) => record.clientId === clientId && record.kept)
    .sort((a, b) => a.createdAt - b.createdAt);
  // A photo the server refuses for good (marked failed) does not hold back the ones after it; the
  // refusal is still thrown at the end. A transport error stops the queue (the next sync resumes it).
  let refused: BlobRefusedError | null = null;
  for (const record of pending) {
    try {
      await uploadOne(record, transport, false);
    } catch (error) {
      if (!(error instanceof BlobRefusedError)) throw error;
      refused ??= error;
    }
  }
  if (refused) throw refused;
  return pending.length;
}

async function uploadOne(record: BlobRecord, transport: BlobTransport, force: boolean): Promise<void> {
  const original = await db.originals.get(record.sha256);
  if (!original) return; // released meanwhile: it is on the server
  uploadProgressStore.set({ sha256: record.sha256, sent: 0, total: record.size });
  try {
    if (force || !(await transport.exists(record.sha256))) {
      await transport.put({ ...record, bytes: original.bytes }, (sent) => {
        uploadProgressStore.set({ sha256: record.sha256, sent, total: record.size });
      });
    }
    await db.blobs.update(record.sha256, { state: 'uploaded', sent: record.size, uploadedAt: Date.now(), error: undefined });
  } catch (error) {
    if (error instanceof BlobRefusedError) {
      await db.blobs.update(record.sha256, { state: 'failed', error: `${error.code}: ${error.message}` });
    }
    throw error;
  } finally {
    uploadProgressStore.set(null);
  }
}

/**
 * Frees the originals that are on the server and named by no outbox entry (the thumbnail stays for
 * the screens). Photos still waiting are never touched.
 */
export async function releaseUploaded(): Promise<number> {
  return db.transaction('rw', [db.blobs, db.outbox, db.originals], async () => {
    const named = new Set((await db.outbox.toArray()).flatMap((entry) => entry.blobs));
    const uploaded = await db.blobs.where('state').equals('uploaded').toArray();
    let freed = 0;
    for (const record of uploaded) {
      if (named.has(record.sha256) || record.draftStepId || !record.kept) continue;
      await db.originals.delete(record.sha256);
      await db.blobs.update(record.sha256, { kept: false });
      freed += 1;
    }
    return freed;
  });
}

/** Draft photos of a step (taken, the step not recorded yet). */
export function draftsOf(jobId: string, stepId: string): Promise<BlobRecord[]> {
  return db.blobs
    .where('jobId')
    .equals(jobId)
    .filter((record) => record.draftStepId === stepId)
    .sortBy('createdAt');
}

/** The drafts join their step: called inside the enqueue transaction of the step's `job.step`. */
export async function commitDrafts(sha256s: string[]): Promise<void> {
  for (const sha256 of sha256s) await db.blobs.update(sha256, { draftStepId: undefined });
}

/** Removes a draft photo the technician discarded before recording the step. */
export async function discardDraft(sha256: string): Promise<void> {
  await db.transaction('rw', [db.blobs, db.outbox, db.originals], async () => {
    const named = (await db.outbox.toArray()).some((entry) => entry.blobs.includes(sha256));
    if (named) {
      await db.blobs.update(sha256, { draftStepId: undefined });
    } else {
      await db.blobs.delete(sha256);
      await db.originals.delete(sha256);
    }
  });
}

/**
 * Keeps every file of a camera `<input type=file>` as a draft photo and empties the input; returns the
 * refusal's code (EMPTY, TOO_LARGE, NOT_AN_IMAGE) of the last file refused, if any.
 */
export async function keepPhotosFrom(input: HTMLInputElement, options: AddBlobOptions): Promise<string | null> {
  const files = [...(input.files ?? [])];
  input.value = '';
  let refused: string | null = null;
  for (const file of files) {
    try {
      await addBlob(await file.arrayBuffer(), file.type, options);
    } catch (problem) {
      if (!(problem instanceof BlobRefusedError)) throw problem;
      refused = problem.code;
    }
  }
  return refused;
}
