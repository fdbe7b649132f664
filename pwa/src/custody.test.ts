import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { type CachedCustody, type CustodyAsset, cachedCustody, groupByKit } from './custody';
import { clearSession, db, USER_CACHE_PREFIX } from './db';

const asset = (id: string, parent: string | null = null): CustodyAsset => ({
  id,
  sku: 'TOOL',
  item_name: `Tool ${id}`,
  kind: 'tool',
  serial: `S-${id}`,
  status: 'in_custody',
  condition: 'ok',
  parent_asset_id: parent,
  due_at: null,
  due_kind: null,
  return_due_at: null,
  overdue: false,
});

describe('groupByKit', () => {
  it('lists the tools inside a toolbox under it, in order', () => {
    const grouped = groupByKit([asset('box'), asset('a', 'box'), asset('loose'), asset('b', 'box')]);
    expect(grouped.map((g) => [g.asset.id, g.contents.map((c) => c.id)])).toEqual([
      ['box', ['a', 'b']],
      ['loose', []],
    ]);
  });

  it('shows a tool whose toolbox is not in my custody on its own', () => {
    expect(groupByKit([asset('a', 'elsewhere')]).map((g) => g.asset.id)).toEqual(['a']);
  });
});

describe('the cached custody', () => {
  beforeEach(async () => {
    await db.meta.clear();
  });

  it('is kept per user and forgotten when the login ends', async () => {
    const cached: CachedCustody = {
      custody: { user_id: 'u1', vehicle: null, assets: [asset('a')], stock: [], handovers_in: [], overdue_count: 0 },
      fetchedAt: 1,
    };
    await db.meta.put({ key: `${USER_CACHE_PREFIX}custody:u1`, value: cached });
    await db.meta.put({ key: 'sync-cursor', value: 'kept' });
    expect(await cachedCustody('u1')).toEqual(cached);
    expect(await cachedCustody('u2')).toBeNull();

    await clearSession();
    expect(await cachedCustody('u1')).toBeNull();
    expect((await db.meta.get('sync-cursor'))?.value).toBe('kept');
  });
});
