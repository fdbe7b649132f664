// A reference implementation of the customer summary's canonical form (docs/SYNC.md, "The customer
// summary's canonical form"), written from the document alone, in plain JavaScript as a phone would
// write it. tests/unit/test_signoff_canonical.py runs it against backend/jobs/signoff_canonical.py.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
const TRIM = /^[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+|[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+$/g;
const text = (s) => s.replace(TRIM, "").normalize("NFC");
const canon = (v) => {
  if (v === null || typeof v === "boolean" || typeof v === "number") return JSON.stringify(v);
  if (typeof v === "string") return JSON.stringify(text(v));
  if (Array.isArray(v)) return "[" + v.map(canon).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}";
};
const pick = (row, fields) => Object.fromEntries(fields.map((f) => [f, row[f] ?? null]));
const by = (key) => (a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0);
export function summary(d) {
  // A step's photo is in the step's blobs: an attachment of the same step and blob is left out.
  const stepPhotos = new Set(d.steps.flatMap((s) => s.blobs.map((b) => `${s.step_id} ${b}`)));
  const doc = {
    format: 1,
    job: pick(d.job, ["id","number","type","customer_id","site_id","unit_id","procedure_id","description","findings","arrival_note","departure_note","meter_reading"]),
    steps: d.steps.map((s) => ({ ...pick(s, ["step_id","result","value","note"]), blobs: [...s.blobs].sort() })).sort(by("step_id")),
    logs: d.logs.map((g) => pick(g, ["id","kind","text","minutes","value"])).sort(by("id")),
    attachments: d.attachments
      .filter((a) => !stepPhotos.has(`${a.step_id} ${a.blob}`))
      .map((a) => pick(a, ["id","blob","step_id","caption"])).sort(by("id")),
    parts: d.parts.map((p) => pick(p, ["move_id","item_id","asset_id","size","qty"])).sort(by("move_id")),
    answers: { ...pick(d.answers, ["signer_name","accepted","rating","rating_technical","rating_service","comment","signature_blob"]),
               signed_at: new Date(d.answers.signed_at).toISOString() },
  };
  return canon(doc);
}
// node canonical_reference.mjs <summary.json>: the canonical form and its sha256, one per line.
// node canonical_reference.mjs --values <values.json>: each value (a number or a string) as the canonical
// form writes it, one JSON string per line.
if (process.argv[2] === "--values") {
  for (const v of JSON.parse(readFileSync(process.argv[3], "utf8"))) console.log(JSON.stringify(canon(v)));
} else {
  const c = summary(JSON.parse(readFileSync(process.argv[2], "utf8")));
  console.log(c);
  console.log(createHash("sha256").update(c, "utf8").digest("hex"));
}
