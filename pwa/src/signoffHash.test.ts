/// <reference types="node" />
/**
 * The phone's canonical form of what the customer saw equals the server's: the worked example of
 * docs/SYNC.md (the server's own test pins the same bytes and hash in tests/unit/test_signoff_canonical.py)
 * fed to the phone's function gives the same bytes and the same SHA-256.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalSummary, canonicalText, sha256HexOf, type SummaryRows } from './signoffHash';

const example = JSON.parse(
  readFileSync(new URL('../../tests/unit/data/customer_summary_example.json', import.meta.url), 'utf8'),
) as SummaryRows;
const pythonTest = readFileSync(new URL('../../tests/unit/test_signoff_canonical.py', import.meta.url), 'utf8');

/** The expected bytes and hash, read from the server's test so the two can never drift apart. */
function serverExpectation(): { canonical: string; hash: string } {
  const hash = /EXAMPLE_HASH = "([0-9a-f]{64})"/.exec(pythonTest)![1];
  const block = /EXAMPLE_CANONICAL = \(\n([\s\S]*?)\n\)/.exec(pythonTest)![1];
  // Python's adjacent single-quoted literals: join them and undo Python's escapes (\\ and \").
  const canonical = [...block.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1].replace(/\\(.)/g, '$1')).join('');
  return { canonical, hash };
}

describe('the customer summary canonical form', () => {
  it('writes the worked example byte for byte as the server does', async () => {
    const { canonical, hash } = serverExpectation();
    const mine = canonicalSummary(example);
    expect(mine).toBe(canonical);
    expect(await sha256HexOf(mine)).toBe(hash);
    expect(hash).toBe('519fd1415e15a799529206c86b4943367941b3b5be12654e6315d7d70b224109');
  });

  it('leaves out the attachment the server makes for a step photo', () => {
    const doc = JSON.parse(canonicalSummary(example)) as { attachments: { id: string }[] };
    expect(doc.attachments.map((a) => a.id)).toEqual(['5d4c3b2a-1f0e-4d9c-8b7a-695847362514']);
  });

  it('trims then normalizes to NFC, and keeps what is inside', () => {
    expect(canonicalText('\u00a0 Cafe\u0301 \u3000')).toBe('Café');
    expect(canonicalText(' a  b ')).toBe('a  b');
  });

  it('writes numbers, keys and escapes as JSON.stringify does, keys sorted', () => {
    expect(canonicalJson({ b: 1, a: [0.1, 1e21, -0, 12], c: 'tab\there "q" \u2028' })).toBe(
      '{"a":[0.1,1e+21,0,12],"b":1,"c":"tab\\there \\"q\\" \u2028"}',
    );
  });

  it('changes the hash when anything the customer saw changes', async () => {
    const base = await sha256HexOf(canonicalSummary(example));
    const changed = structuredClone(example);
    (changed.answers as Record<string, unknown>).rating = 4;
    expect(await sha256HexOf(canonicalSummary(changed))).not.toBe(base);
  });
});
