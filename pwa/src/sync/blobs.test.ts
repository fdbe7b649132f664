import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { OfflineError } from '../api';
import { db } from '../db';
import {
  ACCEPTED_TYPES,
  addBlob,
  BlobRefusedError,
  commitDrafts,
  discardDraft,
  draftsOf,
  ensureUploaded,
  MAX_BLOB_BYTES,
  releaseUploaded,
  sha256Hex,
  sniffType,
  uploadPending,
  uploadProgressStore,
  type BlobTransport,
  type BlobUpload,
} from './blobs';
import { enqueue } from './outbox';

const CLIENT = '0b6c2a8e-1111-4c1a-9d7e-000000000001';
const OTHER = '0b6c2a8e-2222-4c1a-9d7e-000000000002';
const JOB = '5e0f0d4e-7a1b-4c2d-8e3f-00000000000a';

const bytesOf = (...parts: (number[] | string)[]): ArrayBuffer => {
  const out: number[] = [];
  for (const part of parts) out.push(...(typeof part === 'string' ? [...part].map((c) => c.charCodeAt(0)) : part));
  return new Uint8Array(out).buffer;
};
/** A JPEG-looking file (the magic number is all sniffType reads); `n` makes each one different. */
const jpeg = (n = 0, size = 64) => {
  const b = new Uint8Array(size);
  b.set([0xff, 0xd8, 0xff, 0xe0]);
  b[4] = n & 0xff;
  b[5] = (n >> 8) & 0xff;
  return b.buffer;
};
const png = () => bytesOf([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0, 0, 0, 13], 'IHDR');
const webp = () => bytesOf('RIFF', [0x24, 0, 0, 0], 'WEBP', 'VP8 ');
const heic = (brand = 'heic') => bytesOf([0, 0, 0, 0x18], 'ftyp', brand, [0, 0, 0, 0], 'mif1');
const noThumb = async () => undefined;
/** The original bytes kept on the phone (db.originals), or an empty buffer when released. */
const originalOf = async (sha256: string) => (await db.originals.get(sha256))?.bytes ?? new ArrayBuffer(0);
/** Frees the original as releaseUploaded does. */
const release = async (sha256: string) => {
  await db.originals.delete(sha256);
  await db.blobs.update(sha256, { kept: false });
};

/** A transport over an in-memory server; `failPuts` makes the next puts throw `errors[i]`. */
function fakeTransport() {
  const stored = new Map<string, ArrayBuffer>();
  const progress: [string, number][] = [];
  const errors: Error[] = [];
  const transport = {
    stored,
    progress,
    errors,
    exists: vi.fn(async (sha256: string) => stored.has(sha256)),
    put: vi.fn(async (record: BlobUpload, onProgress: (sent: number) => void) => {
      const error = errors.shift();
      if (error) {
        onProgress(Math.floor(record.size / 2));
        throw error;
      }
      const half = Math.floor(record.size / 2);
      onProgress(half);
      progress.push([record.sha256, half]);
      onProgress(record.size);
      progress.push([record.sha256, record.size]);
      stored.set(record.sha256, record.bytes);
    }),
  };
  return transport satisfies BlobTransport & Record<string, unknown>;
}

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  uploadProgressStore.set(null);
});

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vectors', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc').buffer as ArrayBuffer)).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(await sha256Hex(new ArrayBuffer(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await sha256Hex(new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq').buffer as ArrayBuffer)).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });
});

describe('sniffType', () => {
  it('knows JPEG, PNG, WebP and HEIC by their bytes', () => {
    expect(sniffType(jpeg())).toBe('image/jpeg');
    expect(sniffType(png())).toBe('image/png');
    expect(sniffType(webp())).toBe('image/webp');
    for (const brand of ['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1']) expect(sniffType(heic(brand)), brand).toBe('image/heic');
  });

  it('refuses anything else', () => {
    expect(sniffType(new ArrayBuffer(0))).toBeNull();
    expect(sniffType(bytesOf([0xff, 0xd8]))).toBeNull(); // truncated
    expect(sniffType(bytesOf('GIF89a', [1, 0, 1, 0]))).toBeNull();
    expect(sniffType(bytesOf('%PDF-1.7\n'))).toBeNull();
    expect(sniffType(bytesOf('RIFF', [0, 0, 0, 0], 'WAVE'))).toBeNull();
    expect(sniffType(heic('mp42'))).toBeNull(); // an MP4 video
    expect(sniffType(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>').buffer as ArrayBuffer)).toBeNull();
    expect(sniffType(crypto.getRandomValues(new Uint8Array(32)).fill(0, 0, 1).buffer)).toBeNull();
  });

  it('only reports types the server accepts', () => {
    for (const bytes of [jpeg(), png(), webp(), heic()]) expect(ACCEPTED_TYPES).toContain(sniffType(bytes));
  });
});

describe('addBlob', () => {
  it('keeps the original bytes, content-addressed, pending, with the sniffed type', async () => {
    const bytes = jpeg(1);
    const thumbnail = vi.fn(async () => new Uint8Array([1, 2, 3]).buffer);
    const record = await addBlob(bytes, 'image/png', { clientId: CLIENT, jobId: JOB, thumbnail, now: 1000 });
    expect(record).toMatchObject({
      sha256: await sha256Hex(bytes),
      clientId: CLIENT,
      type: 'image/jpeg', // the bytes win over the declared type
      size: 64,
      state: 'pending',
      sent: 0,
      createdAt: 1000,
      jobId: JOB,
    });
    expect(thumbnail).toHaveBeenCalledWith(bytes, 'image/jpeg');
    const stored = (await db.blobs.get(record.sha256))!;
    expect(new Uint8Array(await originalOf(record.sha256))).toEqual(new Uint8Array(bytes));
    expect(stored.kept).toBe(true);
    expect(new Uint8Array(stored.thumb!)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('keeps the photo when the thumbnail cannot be made', async () => {
    const record = await addBlob(jpeg(2), 'image/jpeg', { clientId: CLIENT, thumbnail: async () => Promise.reject(new Error('decode')) });
    expect(record.thumb).toBeUndefined();
    expect(await db.blobs.count()).toBe(1);
  });

  it('makes no thumbnail by default where there is no canvas (node)', async () => {
    const record = await addBlob(jpeg(3), 'image/jpeg', { clientId: CLIENT });
    expect(record.thumb).toBeUndefined();
  });

  it('refuses empty, oversized and non-image files, keeping nothing', async () => {
    const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof BlobRefusedError ? e.code : `other: ${e}`));
    expect(await refusal(addBlob(new ArrayBuffer(0), 'image/jpeg', { clientId: CLIENT }))).toBe('EMPTY');
    const big = new Uint8Array(MAX_BLOB_BYTES + 1);
    big.set([0xff, 0xd8, 0xff]);
    expect(await refusal(addBlob(big.buffer, 'image/jpeg', { clientId: CLIENT }))).toBe('TOO_LARGE');
    expect(await refusal(addBlob(bytesOf('GIF89a'), 'image/jpeg', { clientId: CLIENT }))).toBe('NOT_AN_IMAGE');
    expect(await db.blobs.count()).toBe(0);
  });

  it('takes exactly 15 MiB', async () => {
    const max = new Uint8Array(MAX_BLOB_BYTES);
    max.set([0xff, 0xd8, 0xff]);
    expect((await addBlob(max.buffer, 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb })).size).toBe(MAX_BLOB_BYTES);
  });

  it('takes a HEIF the bytes do not reveal when the camera declares it', async () => {
    const record = await addBlob(bytesOf([0, 0, 0, 0x18], 'ftyp', 'xxxx'), 'image/heif', { clientId: CLIENT, thumbnail: noThumb });
    expect(record.type).toBe('image/heic');
  });

  it('stores the same photo once, and a later draft of it joins the step', async () => {
    const first = await addBlob(jpeg(4), 'image/jpeg', { clientId: CLIENT, jobId: JOB, thumbnail: noThumb, now: 1 });
    const again = await addBlob(jpeg(4), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's1', thumbnail: noThumb, now: 2 });
    expect(again.sha256).toBe(first.sha256);
    expect(again).toMatchObject({ createdAt: 1, draftStepId: 's1' });
    expect(await db.blobs.count()).toBe(1);
  });

  it('takes the bytes back for a photo whose original was freed after upload, staying uploaded', async () => {
    const record = await addBlob(jpeg(5), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    await db.blobs.update(record.sha256, { state: 'uploaded' });
    await release(record.sha256);
    const back = await addBlob(jpeg(5), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    expect(back.state).toBe('uploaded');
    expect((await originalOf(record.sha256)).byteLength).toBe(0); // on the server: not kept again
  });
});

describe('ensureUploaded', () => {
  it('uploads the named blobs in order with progress, and marks them uploaded', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(10), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    const b = await addBlob(jpeg(11, 100), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    const seen: unknown[] = [];
    const stop = uploadProgressStore.subscribe((value) => seen.push(value));

    await ensureUploaded([b.sha256, a.sha256], t);
    stop();

    expect(t.put.mock.calls.map(([record]) => record.sha256)).toEqual([b.sha256, a.sha256]);
    expect(t.progress).toEqual([
      [b.sha256, 50],
      [b.sha256, 100],
      [a.sha256, 32],
      [a.sha256, 64],
    ]);
    expect(seen).toEqual([
      { sha256: b.sha256, sent: 0, total: 100 },
      { sha256: b.sha256, sent: 50, total: 100 },
      { sha256: b.sha256, sent: 100, total: 100 },
      null,
      { sha256: a.sha256, sent: 0, total: 64 },
      { sha256: a.sha256, sent: 32, total: 64 },
      { sha256: a.sha256, sent: 64, total: 64 },
      null,
    ]);
    for (const sha of [a.sha256, b.sha256]) {
      const stored = (await db.blobs.get(sha))!;
      expect(stored).toMatchObject({ state: 'uploaded', sent: stored.size });
      expect(stored.uploadedAt).toBeTypeOf('number');
      expect(stored.error).toBeUndefined();
    }
    // Already uploaded: nothing to do, not even a HEAD.
    t.exists.mockClear();
    await ensureUploaded([a.sha256], t);
    expect(t.exists).not.toHaveBeenCalled();
    expect(t.put).toHaveBeenCalledTimes(2);
  });

  it('skips the put for a blob the server already has (exists), and still marks it', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(12), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    t.stored.set(a.sha256, await originalOf(a.sha256));
    await ensureUploaded([a.sha256], t);
    expect(t.exists).toHaveBeenCalledWith(a.sha256);
    expect(t.put).not.toHaveBeenCalled();
    expect((await db.blobs.get(a.sha256))!.state).toBe('uploaded');
  });

  it('with force puts again a blob marked uploaded, without asking whether it exists', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(13), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    await db.blobs.update(a.sha256, { state: 'uploaded' });
    t.stored.set(a.sha256, await originalOf(a.sha256)); // the server says it has it, yet a push said BLOB_MISSING
    await ensureUploaded([a.sha256], t, true);
    expect(t.exists).not.toHaveBeenCalled();
    expect(t.put).toHaveBeenCalledTimes(1);
  });

  it('passes over blobs this phone does not hold, or whose original was freed', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(14), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    await db.blobs.update(a.sha256, { state: 'pending' });
    await release(a.sha256);
    await ensureUploaded(['f'.repeat(64), a.sha256], t);
    expect(t.exists).not.toHaveBeenCalled();
    expect(t.put).not.toHaveBeenCalled();
  });

  it('on a transport error leaves the blob pending and throws', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(15), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    t.errors.push(new OfflineError('no answer to the photo upload'));
    await expect(ensureUploaded([a.sha256], t)).rejects.toBeInstanceOf(OfflineError);
    expect((await db.blobs.get(a.sha256))!).toMatchObject({ state: 'pending', sent: 0 });
    expect(uploadProgressStore.get()).toBeNull();
    await ensureUploaded([a.sha256], t);
    expect((await db.blobs.get(a.sha256))!.state).toBe('uploaded');
  });

  it('marks a blob the server refuses failed with the reason, and throws', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(16), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    t.errors.push(new BlobRefusedError('not a real image', 'UNSUPPORTED_MEDIA'));
    await expect(ensureUploaded([a.sha256], t)).rejects.toBeInstanceOf(BlobRefusedError);
    expect((await db.blobs.get(a.sha256))!).toMatchObject({ state: 'failed', error: 'UNSUPPORTED_MEDIA: not a real image' });
  });
});

describe('uploadPending', () => {
  it('resumes: offline on the first put leaves the blob pending; a later call uploads it', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(20), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 1 });
    t.errors.push(new OfflineError('no answer to the photo upload'));
    await expect(uploadPending(CLIENT, t)).rejects.toBeInstanceOf(OfflineError);
    expect((await db.blobs.get(a.sha256))!.state).toBe('pending');
    expect(t.stored.size).toBe(0);

    expect(await uploadPending(CLIENT, t)).toBe(1);
    expect((await db.blobs.get(a.sha256))!.state).toBe('uploaded');
    expect(t.stored.has(a.sha256)).toBe(true);
    expect(await uploadPending(CLIENT, t)).toBe(0); // nothing left
  });

  it('resumes across a reload: the queue lives in IndexedDB', async () => {
    const t = fakeTransport();
    await addBlob(jpeg(21), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 1 });
    await addBlob(jpeg(22), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 2 });
    t.errors.push(new OfflineError('timed out'));
    await expect(uploadPending(CLIENT, t)).rejects.toThrow('timed out');
    db.close();
    await db.open();
    expect(await uploadPending(CLIENT, t)).toBe(2);
    expect(await db.blobs.where('state').equals('uploaded').count()).toBe(2);
  });

  it('uploads oldest first, only this client’s, and only blobs that still have their bytes', async () => {
    const t = fakeTransport();
    const newer = await addBlob(jpeg(23), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 300 });
    const older = await addBlob(jpeg(24), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 100 });
    await addBlob(jpeg(25), 'image/jpeg', { clientId: OTHER, thumbnail: noThumb, now: 50 });
    const done = await addBlob(jpeg(26), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 10 });
    await db.blobs.update(done.sha256, { state: 'uploaded' });
    const hollow = await addBlob(jpeg(27), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 20 });
    await release(hollow.sha256);

    expect(await uploadPending(CLIENT, t)).toBe(2);
    expect(t.put.mock.calls.map(([record]) => record.sha256)).toEqual([older.sha256, newer.sha256]);
  });

  it('skips the put of a pending blob the server already has', async () => {
    const t = fakeTransport();
    const a = await addBlob(jpeg(28), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb });
    t.stored.set(a.sha256, await originalOf(a.sha256));
    await uploadPending(CLIENT, t);
    expect(t.put).not.toHaveBeenCalled();
    expect((await db.blobs.get(a.sha256))!.state).toBe('uploaded');
  });

  it('a refused photo is marked failed and does not hold back the others', async () => {
    const t = fakeTransport();
    const bad = await addBlob(jpeg(29), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 1 });
    const good = await addBlob(jpeg(30), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 2 });
    t.errors.push(new BlobRefusedError('decompression bomb', 'IMAGE_TOO_LARGE'));
    await expect(uploadPending(CLIENT, t)).rejects.toBeInstanceOf(BlobRefusedError);
    expect((await db.blobs.get(bad.sha256))!).toMatchObject({ state: 'failed', error: 'IMAGE_TOO_LARGE: decompression bomb' });
    expect((await db.blobs.get(good.sha256))!.state).toBe('uploaded');
  });

  it('a transport error stops the queue (the next sync resumes it)', async () => {
    const t = fakeTransport();
    await addBlob(jpeg(31), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 1 });
    await addBlob(jpeg(32), 'image/jpeg', { clientId: CLIENT, thumbnail: noThumb, now: 2 });
    t.errors.push(new OfflineError('offline'));
    await expect(uploadPending(CLIENT, t)).rejects.toBeInstanceOf(OfflineError);
    expect(t.put).toHaveBeenCalledTimes(1);
    expect(await db.blobs.where('state').equals('pending').count()).toBe(2);
  });
});

describe('releaseUploaded', () => {
  it('frees the originals that are uploaded and named by no entry; keeps the rest', async () => {
    const thumbnail = async () => new Uint8Array([9]).buffer;
    const free = await addBlob(jpeg(40), 'image/jpeg', { clientId: CLIENT, thumbnail });
    const named = await addBlob(jpeg(41), 'image/jpeg', { clientId: CLIENT, thumbnail });
    const pending = await addBlob(jpeg(42), 'image/jpeg', { clientId: CLIENT, thumbnail });
    const draft = await addBlob(jpeg(43), 'image/jpeg', { clientId: CLIENT, thumbnail, jobId: JOB, draftStepId: 's1' });
    await db.blobs.where('sha256').anyOf(free.sha256, named.sha256, draft.sha256).modify({ state: 'uploaded' });
    await enqueue(CLIENT, 'job.attach', { attachment_id: 'a0000000-0000-4000-8000-000000000001', job_id: JOB, blob: named.sha256 });

    expect(await releaseUploaded()).toBe(1);
    const freed = (await db.blobs.get(free.sha256))!;
    expect((await originalOf(free.sha256)).byteLength).toBe(0);
    expect(freed.kept).toBe(false);
    expect(freed.thumb!.byteLength).toBe(1); // the thumbnail stays for the screens
    expect(freed.state).toBe('uploaded');
    for (const kept of [named, pending, draft]) expect((await originalOf(kept.sha256)).byteLength).toBe(64);
    expect(await releaseUploaded()).toBe(0); // already freed: not counted again
  });
});

describe('drafts', () => {
  it('draftsOf lists a step’s drafts oldest first; commitDrafts makes them the step’s', async () => {
    const a = await addBlob(jpeg(50), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's1', thumbnail: noThumb, now: 2 });
    const b = await addBlob(jpeg(51), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's1', thumbnail: noThumb, now: 1 });
    await addBlob(jpeg(52), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's2', thumbnail: noThumb });
    await addBlob(jpeg(53), 'image/jpeg', { clientId: CLIENT, jobId: JOB, thumbnail: noThumb });
    expect((await draftsOf(JOB, 's1')).map((r) => r.sha256)).toEqual([b.sha256, a.sha256]);

    await enqueue(CLIENT, 'job.step', { job_id: JOB, step_id: 's1', result: 'pass', blobs: [a.sha256, b.sha256] }, {
      alsoInTransaction: () => commitDrafts([a.sha256, b.sha256]),
    });
    expect(await draftsOf(JOB, 's1')).toEqual([]);
    expect((await db.blobs.get(a.sha256))!.draftStepId).toBeUndefined();
    expect(await draftsOf(JOB, 's2')).toHaveLength(1);
  });

  it('discardDraft deletes a draft no entry names, and only un-drafts one an entry names', async () => {
    const a = await addBlob(jpeg(54), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's1', thumbnail: noThumb });
    const b = await addBlob(jpeg(55), 'image/jpeg', { clientId: CLIENT, jobId: JOB, draftStepId: 's1', thumbnail: noThumb });
    await enqueue(CLIENT, 'job.attach', { attachment_id: 'a0000000-0000-4000-8000-000000000002', job_id: JOB, blob: b.sha256 });
    await discardDraft(a.sha256);
    await discardDraft(b.sha256);
    expect(await db.blobs.get(a.sha256)).toBeUndefined();
    const kept = (await db.blobs.get(b.sha256))!;
    expect(kept.draftStepId).toBeUndefined();
    expect(kept.state).toBe('pending');
  });
});
