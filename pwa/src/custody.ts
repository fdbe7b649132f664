/**
 * What the signed-in technician holds, from `GET /api/inventory/custody/me`, kept in IndexedDB so the
 * phone shows the last known custody with no signal (render from local data first, then the network).
 * The sync protocol (a later issue) will replace the fetch with pulled `asset` and `balance` records.
 */
import { apiFetch } from './api';
import { db, USER_CACHE_PREFIX } from './db';

export interface CustodyAsset {
  id: string;
  sku: string;
  item_name: string;
  kind: string;
  serial: string;
  status: string;
  condition: string;
  parent_asset_id: string | null;
  due_at: string | null;
  due_kind: string | null;
  return_due_at: string | null;
  overdue: boolean;
}

export interface CustodyStock {
  sku: string;
  item_name: string;
  kind: string;
  unit: string;
  size: string;
  qty: number;
}

export interface Custody {
  user_id: string;
  vehicle: CustodyAsset | null;
  assets: CustodyAsset[];
  stock: CustodyStock[];
  handovers_in: { id: string }[];
  overdue_count: number;
}

export interface CachedCustody {
  custody: Custody;
  /** Epoch ms when the server answered. */
  fetchedAt: number;
}

const KEY_PREFIX = `${USER_CACHE_PREFIX}custody:`;

export async function cachedCustody(userId: string): Promise<CachedCustody | null> {
  const row = await db.meta.get(KEY_PREFIX + userId);
  return (row?.value as CachedCustody | undefined) ?? null;
}

export async function refreshCustody(userId: string, now = Date.now()): Promise<CachedCustody> {
  const custody = await apiFetch<Custody>('/api/inventory/custody/me');
  const cached = { custody, fetchedAt: now };
  await db.meta.put({ key: KEY_PREFIX + userId, value: cached });
  return cached;
}

/** Tools inside a toolbox are listed under it; everything else stands alone. */
export function groupByKit(assets: CustodyAsset[]): { asset: CustodyAsset; contents: CustodyAsset[] }[] {
  const ids = new Set(assets.map((a) => a.id));
  const children = new Map<string, CustodyAsset[]>();
  for (const asset of assets) {
    if (asset.parent_asset_id && ids.has(asset.parent_asset_id)) {
      children.set(asset.parent_asset_id, [...(children.get(asset.parent_asset_id) ?? []), asset]);
    }
  }
  return assets
    .filter((a) => !(a.parent_asset_id && ids.has(a.parent_asset_id)))
    .map((asset) => ({ asset, contents: children.get(asset.id) ?? [] }));
}
