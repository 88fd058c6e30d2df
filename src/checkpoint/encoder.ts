// The checkpoint stream, primary side: the page-record stream of
// docs/migration-stream.md (version 3.0, header flag XBZRLE) built from
// staged page copies, with one COMMIT record closing each checkpoint. Each
// page goes as ZERO, as an XBZRLE delta against the version the backup
// confirmed (src/pages/xbzrle.ts: QEMU's format, limit 4095 bytes), as a
// whole PAGE when it has no confirmed base or the delta does not fit, or
// not at all when it equals the confirmed version.
//
// Chunk (checkpoint records inside):
//   0 "HMCK" · 4 u32 seq · 8 u32 payload length · 12 u32 xxh3-low32 · 16 records...
// Record: 0 u8 type · 1 u8 flags 0 · 2 u16 length · 4 u32 pfn (COMMIT: checkpoint number) · 8 payload
//   PAGE (1): 4096 bytes · ZERO (2): none · XBZRLE (3): 1..4095 bytes · COMMIT (7): none
import { xbzrleEncode } from "../pages/xbzrle.js";
import { encodeHeader, FLAG_XBZRLE, frameChunk, RECORD_HEADER_BYTES, RecordType, writeRecordHeader } from "../stream/format.js";
import { ConfirmedBases, ZERO_PAGE } from "./confirmed-bases.js";
import type { PendingCheckpoint } from "./pending.js";

const PAGE_BYTES = 4096;
/** Longest XBZRLE record payload the stream allows. */
const MAX_DELTA_BYTES = 4095;

export type RecordKind = "page" | "zero" | "delta";

/** What the records of one checkpoint (or one chunk) carried. */
export interface RecordCounts {
  fullPages: number;
  zeroPages: number;
  deltaPages: number;
  /** Encoded bytes of the deltas. */
  deltaBytes: number;
  /** Pages equal to their confirmed version: nothing sent. */
  unchangedPages: number;
  /** Bytes on the wire (chunk headers and payloads). */
  wireBytes: number;
}

export function emptyCounts(): RecordCounts {
  return { fullPages: 0, zeroPages: 0, deltaPages: 0, deltaBytes: 0, unchangedPages: 0, wireBytes: 0 };
}

/** Adds the counts of `c` into `into` (which may carry more fields). */
export function addCounts(into: RecordCounts, c: RecordCounts): void {
  for (const key of Object.keys(c) as (keyof RecordCounts)[]) into[key] += c[key];
}

export interface EncodedChunk {
  readonly bytes: Uint8Array;
  readonly counts: RecordCounts;
  /** The chunk ends with the checkpoint's COMMIT. */
  readonly commit: boolean;
}

export class CheckpointEncoder {
  readonly bases: ConfirmedBases;
  readonly diffs: boolean;
  readonly #payload: Uint8Array;
  readonly #view: DataView;
  #sequence = 0;
  /** Called for every page record written (tests check the feedback rule with it). */
  onRecord: ((pfn: number, kind: RecordKind, checkpoint: number) => void) | null = null;

  constructor(bases: ConfirmedBases, diffs: boolean, chunkPayloadBytes: number) {
    this.bases = bases;
    this.diffs = diffs;
    this.#payload = new Uint8Array(chunkPayloadBytes);
    this.#view = new DataView(this.#payload.buffer);
  }

  /** The stream header for a guest of `guestPages` pages. */
  header(guestPages: number, vmId: number): Uint8Array {
    return encodeHeader({ flags: FLAG_XBZRLE, guestPages, vmId });
  }

  /**
   * The next chunk of `cp`: page records until the payload is full or no
   * page is left, then (once it is drained) its COMMIT. Null when there is
   * nothing to send now (every page left was unchanged, or the checkpoint is
   * still open with no page staged).
   */
  next(cp: PendingCheckpoint): EncodedChunk | null {
    const counts = emptyCounts();
    let at = 0;
    while (at + RECORD_HEADER_BYTES + PAGE_BYTES <= this.#payload.length) {
      const page = cp.takeNext();
      if (!page) break;
      at += this.#record(cp.seq, page.pfn, page.bytes, at, counts);
    }
    let commit = false;
    if (cp.drained && !cp.commitQueued && at + RECORD_HEADER_BYTES <= this.#payload.length) {
      writeRecordHeader(this.#view, at, RecordType.Commit, 0, cp.seq);
      at += RECORD_HEADER_BYTES;
      cp.commitQueued = true;
      commit = true;
    }
    if (at === 0) return null;
    const bytes = frameChunk(this.#sequence++, this.#payload.subarray(0, at));
    counts.wireBytes = bytes.length;
    return { bytes, counts, commit };
  }

  /** Writes the record of one page at payload offset `at`; returns its size (0 when unchanged). */
  #record(seq: number, pfn: number, bytes: Uint8Array | null, at: number, counts: RecordCounts): number {
    const page = bytes ?? ZERO_PAGE;
    const base = this.diffs ? this.bases.confirmedBase(pfn) : null;
    if (base !== null) {
      const delta = xbzrleEncode(base, page, MAX_DELTA_BYTES);
      if (delta !== null && delta.length === 0) {
        counts.unchangedPages++;
        return 0;
      }
      if (delta !== null && bytes !== null) {
        writeRecordHeader(this.#view, at, RecordType.Xbzrle, delta.length, pfn);
        this.#payload.set(delta, at + RECORD_HEADER_BYTES);
        counts.deltaPages++;
        counts.deltaBytes += delta.length;
        this.#sent(pfn, "delta", seq, page);
        return RECORD_HEADER_BYTES + delta.length;
      }
    }
    if (bytes === null) {
      writeRecordHeader(this.#view, at, RecordType.Zero, 0, pfn);
      counts.zeroPages++;
      this.#sent(pfn, "zero", seq, ZERO_PAGE);
      return RECORD_HEADER_BYTES;
    }
    writeRecordHeader(this.#view, at, RecordType.Page, PAGE_BYTES, pfn);
    this.#payload.set(page, at + RECORD_HEADER_BYTES);
    counts.fullPages++;
    this.#sent(pfn, "page", seq, page);
    return RECORD_HEADER_BYTES + PAGE_BYTES;
  }

  #sent(pfn: number, kind: RecordKind, seq: number, page: Uint8Array): void {
    this.bases.sent(pfn, seq, page === ZERO_PAGE ? ZERO_PAGE : page.slice());
    this.onRecord?.(pfn, kind, seq);
  }
}
