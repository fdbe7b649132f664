import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it } from 'vitest';
import { db, type SyncedRecord } from '../db';
import { enqueue } from '../sync/outbox';
import { answerHandover, checkOut, handOver, returnCustody } from './actions';
import { custodyView } from './queries';

const CLIENT = 'c0000000-0000-4000-8000-000000000001';
const ME = 'a0000000-0000-4000-8000-000000000001';
const MATE = 'a0000000-0000-4000-8000-000000000002';
const STRANGER = 'a0000000-0000-4000-8000-000000000003';
const TEAM = 'b0000000-0000-4000-8000-000000000001';
const PERSON = 'd0000000-0000-4000-8000-000000000001';
const VAN = 'd0000000-0000-4000-8000-000000000002';
const DEPOT = 'd0000000-0000-4000-8000-000000000003';
const METER = 'e0000000-0000-4000-8000-000000000001';
const SPARE = 'e0000000-0000-4000-8000-000000000002';
const DEPOT_TOOL = 'e0000000-0000-4000-8000-000000000003';
const HELD_BY_OTHER = 'e0000000-0000-4000-8000-000000000004';
const ITEM_TOOL = 'f0000000-0000-4000-8000-000000000001';
const ITEM_SPARE = 'f0000000-0000-4000-8000-000000000002';
const ITEM_JACKET = 'f0000000-0000-4000-8000-000000000003';
const HANDOVER = '90000000-0000-4000-8000-000000000001';

const rec = (entity: string, id: string, data: Record<string, unknown>): SyncedRecord => ({ entity, id, version: 1, data: { id, ...data } });

beforeEach(async () => {
  await Promise.all(db.tables.map((table) => table.clear()));
  await db.records.bulkPut([
    rec('location', PERSON, { kind: 'person', user_id: ME, name: 'Me' }),
    rec('location', VAN, { kind: 'vehicle', user_id: ME, name: 'Van' }),
    rec('location', DEPOT, { kind: 'depot', name: 'Depot' }),
    rec('item', ITEM_TOOL, { name: 'Multimeter', kind: 'tool', tracking: 'serial', service_kind: 'calibration' }),
    rec('item', ITEM_SPARE, { name: 'ATM', kind: 'spare_unit', tracking: 'serial' }),
    rec('item', ITEM_JACKET, { name: 'Jacket', kind: 'uniform', tracking: 'quantity', unit: 'ea', sizes: ['M', 'L'] }),
    rec('asset', METER, { item_id: ITEM_TOOL, serial: 'MM-1', location_id: PERSON, holder_id: ME, due_at: '2026-01-01T00:00:00Z', status: 'in_custody' }),
    rec('asset', SPARE, { item_id: ITEM_SPARE, serial: 'ATM-9', location_id: VAN, holder_id: ME, status: 'in_custody' }),
    rec('asset', DEPOT_TOOL, { item_id: ITEM_TOOL, serial: 'MM-2', location_id: DEPOT, holder_id: null, status: 'in_stock' }),
    rec('asset', HELD_BY_OTHER, { item_id: ITEM_TOOL, serial: 'MM-3', location_id: 'elsewhere', holder_id: STRANGER, status: 'in_custody' }),
    rec('balance', 'q1', { location_id: PERSON, item_id: ITEM_JACKET, size: 'L', qty: 2 }),
    rec('balance', 'q2', { location_id: DEPOT, item_id: ITEM_JACKET, size: 'M', qty: 7 }),
    rec('balance', 'q3', { location_id: PERSON, item_id: ITEM_TOOL, size: '', qty: 1 }),
    rec('user', ME, { display_name: 'Me', team_id: TEAM, role: 'technician' }),
    rec('user', MATE, { display_name: 'Li Na', team_id: TEAM, role: 'technician' }),
    rec('user', STRANGER, { display_name: 'Other', team_id: 'other-team', role: 'technician' }),
    rec('handover', HANDOVER, { from_user_id: MATE, to_user_id: ME, asset_id: DEPOT_TOOL, qty: 1, size: '', status: 'pending', note: 'for tomorrow' }),
  ]);
});

describe('what I hold', () => {
  it('lists my assets (with due dates), my quantities, the depot, colleagues and hand-overs for me', async () => {
    const view = await custodyView(CLIENT, ME, TEAM, Date.parse('2026-06-01T00:00:00Z'));
    expect(view.assets.map((a) => [a.serial, a.kind, a.overdue])).toEqual([
      ['MM-1', 'tool', true],
      ['ATM-9', 'spare_unit', false],
    ]);
    expect(view.stock.map((s) => [s.name, s.size, s.qty])).toEqual([['Jacket', 'L', 2]]); // a serialized item's balance is not a quantity line
    expect(view.depotAssets.map((a) => a.serial)).toEqual(['MM-2']);
    expect(view.depotStock.map((s) => [s.size, s.qty])).toEqual([['M', 7]]);
    expect(view.colleagues).toEqual([{ id: MATE, name: 'Li Na' }]);
    expect(view.incoming).toHaveLength(1);
    expect(view.incoming[0]).toMatchObject({ from_user: 'Li Na', what: 'Multimeter · MM-2', note: 'for tomorrow', answered: null });
    expect(view.me).toEqual({ person: PERSON, vehicle: VAN });
  });

  it('shows what waits to sync on the rows it concerns', async () => {
    await returnCustody(CLIENT, { asset_id: METER }, DEPOT, 'damaged', { note: 'cracked' });
    await handOver(CLIENT, { asset_id: SPARE }, MATE, 'swap tomorrow');
    await answerHandover(CLIENT, HANDOVER, { accept: true, toVehicle: true });
    const view = await custodyView(CLIENT, ME, TEAM);
    expect(Object.fromEntries(view.assets.map((a) => [a.serial, a.pending]))).toEqual({ 'MM-1': 'custody.return', 'ATM-9': 'custody.transfer' });
    expect(view.incoming[0].answered).toBe('custody.accept');
    const entries = await db.outbox.orderBy('id').toArray();
    expect(entries.map((e) => [e.id, e.name])).toEqual([
      [1, 'custody.return'],
      [2, 'custody.transfer'],
      [3, 'custody.accept'],
    ]);
    expect(entries[0].args).toMatchObject({ asset_id: METER, to_location_id: DEPOT, condition: 'damaged', note: 'cracked' });
    expect(entries[1].args).toMatchObject({ asset_id: SPARE, to_user_id: MATE, note: 'swap tomorrow' });
    expect(entries[2].args).toMatchObject({ handover_id: HANDOVER, to_vehicle: true });
  });

  it('an ok return carries no note; a quantity checkout names item, qty and size', async () => {
    await returnCustody(CLIENT, { item_id: ITEM_JACKET, qty: 1, size: 'L' }, DEPOT, 'ok', { note: 'ignored' });
    await checkOut(CLIENT, { item_id: ITEM_JACKET, qty: 3, size: 'M' }, DEPOT, true);
    const [ret, out] = await db.outbox.orderBy('id').toArray();
    expect(ret.args).toEqual({ move_id: ret.args.move_id, item_id: ITEM_JACKET, qty: 1, size: 'L', to_location_id: DEPOT, condition: 'ok' });
    expect(out.args).toMatchObject({ item_id: ITEM_JACKET, qty: 3, size: 'M', from_location_id: DEPOT, to_vehicle: true });
  });

  it('a rejected answer no longer counts as answered', async () => {
    const entry = await enqueue(CLIENT, 'custody.decline', { move_id: 'm', handover_id: HANDOVER, reason: 'not mine' });
    await db.outbox.update(entry.seq!, { state: 'rejected' });
    const view = await custodyView(CLIENT, ME, TEAM);
    expect(view.incoming[0].answered).toBeNull();
  });
});
