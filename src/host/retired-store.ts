// The retired-frame store: the host frames taken out of use for good (an
// uncorrectable error, or corrected errors past a threshold), kept on disk so
// a host created again with the same store ("after a reboot") never hands
// them out (seed T5; what rasdaemon's in-memory page-isolation tree and
// mcelog forget at reboot, and what amdgpu's EEPROM table and Windows'
// WHEA bad-page list keep). A record log (src/format/record-log.ts): each
// retirement is one fsynced 32-byte record, so a crash loses at most the one
// being written, and a torn or corrupted file loads what is good.
//
// Header ("HMRF", 1.0, 32 bytes):
//   0 magic "HMRF" · 4 u16 major · 6 u16 minor · 8 u32 headerBytes (32)
//   12 u32 frameBytes (4096) · 16 u32 recordBytes (32) · 20 u64 createdMs · 28 u32 crc32
//
// Record (32 bytes, little endian):
//   0          4      5      8           16             24           28        32
//   ┌──────────┬──────┬──────┬───────────┬──────────────┬────────────┬─────────┐
//   │ "RETF"   │ u8   │ 3 B  │ u64 hfn   │ u64 timeMs   │ u32 errors │ u32 crc │
//   │          │ cause│ rsvd │           │ (Unix epoch) │            │         │
//   └──────────┴──────┴──────┴───────────┴──────────────┴────────────┴─────────┘
//   cause: 1 uncorrectable, 2 correctable (past the threshold)
//   errors: errors counted on the frame when it was retired (1 for an uncorrectable one)
//
// One record per frame: a frame already in the store is not appended again.
// clear() rewrites the file without the cleared frames (after a DIMM is
// replaced), crash-safely.
import { ErrorCode, HypermemError } from "../errors.js";
import { defineHeader } from "../format/header.js";
import { RecordLog, type LoadReport } from "../format/record-log.js";

export type RetireCause = "uncorrectable" | "correctable";

/** One retired frame, as the store keeps it. */
export interface RetiredFrame {
  readonly hfn: number;
  readonly cause: RetireCause;
  /** When it was retired, ms since the Unix epoch. */
  readonly timeMs: number;
  /** Errors counted on the frame when it was retired. */
  readonly errorCount: number;
}

const CAUSES: readonly RetireCause[] = ["uncorrectable", "correctable"];
const FRAME_BYTES = 4096;
export const RETIRED_RECORD_BYTES = 32;
const PAYLOAD_BYTES = RETIRED_RECORD_BYTES - 8;

export const RETIRED_STORE_HEADER = defineHeader({
  name: "retired-frame store",
  magic: "HMRF",
  major: 1,
  minor: 0,
  errorCode: ErrorCode.RetiredStore,
  fields: [
    { name: "frameBytes", type: "u32", validate: (v) => (v === FRAME_BYTES ? null : `frames of ${v} bytes; this hypermem's are ${FRAME_BYTES}`) },
    { name: "recordBytes", type: "u32", validate: (v) => (v === RETIRED_RECORD_BYTES ? null : `records of ${v} bytes; version 1.0 has ${RETIRED_RECORD_BYTES}`) },
    { name: "createdMs", type: "u64" },
  ],
} as const);

function encodeFrame(f: RetiredFrame): Uint8Array {
  const payload = new Uint8Array(PAYLOAD_BYTES);
  const view = new DataView(payload.buffer);
  view.setUint8(0, CAUSES.indexOf(f.cause) + 1);
  view.setBigUint64(4, BigInt(f.hfn), true);
  view.setBigUint64(12, BigInt(f.timeMs), true);
  view.setUint32(20, f.errorCount, true);
  return payload;
}

/** A record that passed its crc but holds a value no writer produces: dropped, named. */
function decodeFrame(payload: Uint8Array): RetiredFrame | string {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const cause = CAUSES[view.getUint8(0) - 1];
  const hfn = view.getBigUint64(4, true);
  if (cause === undefined) return `cause ${view.getUint8(0)} is not 1 (uncorrectable) or 2 (correctable)`;
  if (hfn === 0n || hfn > BigInt(Number.MAX_SAFE_INTEGER)) return `frame ${hfn} cannot be retired`;
  return { hfn: Number(hfn), cause, timeMs: Number(view.getBigUint64(12, true)), errorCount: view.getUint32(20, true) };
}

/** What opening a store found: the record log's report, and records that held impossible values. */
export interface RetiredStoreReport extends LoadReport {
  readonly invalid: readonly string[];
}

export class RetiredStore {
  readonly path: string;
  readonly loadReport: RetiredStoreReport;
  readonly #log: RecordLog<{ frameBytes: number; recordBytes: number; createdMs: number }>;
  readonly #frames = new Map<number, RetiredFrame>();

  private constructor(path: string) {
    this.path = path;
    this.#log = RecordLog.open(path, {
      header: RETIRED_STORE_HEADER,
      headerValues: { frameBytes: FRAME_BYTES, recordBytes: RETIRED_RECORD_BYTES, createdMs: Date.now() },
      recordMagic: "RETF",
      recordBytes: RETIRED_RECORD_BYTES,
    });
    const invalid: string[] = [];
    this.#log.payloads().forEach((payload, i) => {
      const f = decodeFrame(payload);
      if (typeof f === "string") invalid.push(`record ${i}: ${f}`);
      else if (!this.#frames.has(f.hfn)) this.#frames.set(f.hfn, f);
    });
    this.loadReport = Object.freeze({ ...this.#log.loadReport, invalid: Object.freeze(invalid) });
  }

  /** Opens (or creates) the store at `path`. A store of another major version, or not a store, is refused. */
  static open(path: string): RetiredStore {
    if (typeof path !== "string" || path === "") {
      throw new HypermemError(ErrorCode.BadOption, `retiredStore must be a file path, got ${JSON.stringify(path)}`, { option: "retiredStore", value: path });
    }
    return new RetiredStore(path);
  }

  /** The retired frames, by frame number. */
  list(): RetiredFrame[] { return [...this.#frames.values()].sort((a, b) => a.hfn - b.hfn); }

  has(hfn: number): boolean { return this.#frames.has(hfn); }

  get size(): number { return this.#frames.size; }

  /** Appends `frame` durably; a frame already in the store is left as it is. Returns true when appended. */
  append(frame: RetiredFrame): boolean {
    if (this.#frames.has(frame.hfn)) return false;
    this.#log.append(encodeFrame(frame));
    this.#frames.set(frame.hfn, Object.freeze({ ...frame }));
    return true;
  }

  /** Forgets the frames `hfns` (or every frame): a replaced DIMM. Rewrites the file crash-safely; returns the frames cleared. */
  clear(hfns: readonly number[] | "all"): number {
    const drop = hfns === "all" ? new Set(this.#frames.keys()) : new Set(hfns.filter((h) => this.#frames.has(h)));
    for (const h of drop) this.#frames.delete(h);
    this.#log.rewrite(this.list().map(encodeFrame));
    return drop.size;
  }
}
