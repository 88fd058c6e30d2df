// A resync: the secondary becomes the primary, byte for byte, by a
// checkpoint (COLO's design). The secondary's host keeps a cache of the
// primary's memory as of the last sync: a staged receiver of the
// checkpoint stream (src/checkpoint's Backup, epochs mode) that applies a
// checkpoint only at its COMMIT. A resync sends the primary's pages dirtied
// since the last sync (XBZRLE deltas against versions the cache confirmed);
// once committed, every page dirty on either side since the last sync is
// flushed from the cache into the running secondary, and the secondary's
// memory digest must equal the primary's at the pause.
//
//  primary ── dirty since last sync ──► stream (PAGE | ZERO | XBZRLE ... COMMIT) ──► cache (staged; applied at COMMIT)
//  secondary ◄── flush: pages dirty on the primary ∪ dirty on the secondary, copied from the cache
//  verify: digest(secondary) == digest(primary at the pause)
//
// A damaged stream leaves the cache at its last commit and the secondary
// untouched (nothing is flushed); the next attempt starts a new stream that
// carries the whole guest, since the damaged receiver accepts nothing more.
import { Backup } from "../checkpoint/backup.js";
import { ConfirmedBases } from "../checkpoint/confirmed-bases.js";
import { addCounts, CheckpointEncoder, emptyCounts, type RecordCounts } from "../checkpoint/encoder.js";
import { PendingCheckpoint } from "../checkpoint/pending.js";
import { StagingArea, takeAll } from "../checkpoint/staging.js";
import { hexDigest } from "../checkpoint/verify.js";
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { PageLogReader } from "../host/page-log.js";
import { PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import { guestDigest } from "../stream/fingerprints.js";
import { FlushBuffers, flushPages } from "./flush.js";

/** Frames the secondary host keeps free beyond the two guest copies (page tables, receiver buffers). */
const SECONDARY_SLACK_FRAMES = 2048;

/** The primary's side of one resync attempt, taken at the pause. */
export interface ResyncPlan {
  readonly attempt: number;
  /** A new stream carrying the whole guest (the first sync, or after a damaged stream). */
  readonly full: boolean;
  readonly pfns: Uint32Array;
  readonly chunks: Uint8Array[];
  readonly wireBytes: number;
  readonly counts: RecordCounts;
  readonly copiedPages: number;
  readonly primaryDigest: bigint;
}

export type ResyncOutcome =
  | { readonly ok: true; readonly flushedPages: number; readonly divergedPages: number; readonly verified: boolean; readonly error: HypermemError | null }
  | { readonly ok: false; readonly error: HypermemError };

/** Refuses a secondary host that cannot hold two copies of the guest (the running secondary and the cache). */
export function checkSecondaryHost(host: Host, guestPages: number): void {
  const free = host.maxFrames - host.kernels.frames.used;
  const need = 2 * guestPages + SECONDARY_SLACK_FRAMES;
  if (need > free) {
    throw new HypermemError(ErrorCode.BackupMemory,
      `the secondary host has ${free} free frames (${(free / 256).toFixed(0)} MiB); lockstep of a ${guestPages}-page guest needs ${need} (the running secondary, the primary's cache and page tables): refused`,
      { guestPages, framesFree: free, framesNeeded: need });
  }
}

export class ResyncChannel {
  readonly primary: Vm;
  readonly secondary: Vm;
  readonly #host: Host;
  readonly #diffs: boolean;
  readonly #diffCachePages: number;
  readonly #chunkPayloadBytes: number;
  readonly #reader: PageLogReader;
  readonly #list: PfnList;
  readonly #secondaryReader: PageLogReader;
  readonly #secondaryList: PfnList;
  readonly #staging: StagingArea;
  readonly #flushBuffers = new FlushBuffers();
  #backup: Backup | null = null;
  #encoder: CheckpointEncoder | null = null;
  #bases: ConfirmedBases | null = null;
  #seq = 0;

  constructor(primary: Vm, secondary: Vm, host: Host, o: { diffs: boolean; diffCachePages: number; chunkPayloadBytes: number }) {
    this.primary = primary;
    this.secondary = secondary;
    this.#host = host;
    this.#diffs = o.diffs;
    this.#diffCachePages = o.diffCachePages;
    this.#chunkPayloadBytes = o.chunkPayloadBytes;
    const listCapacity = Math.ceil(primary.pages / 64) * 64;
    this.#reader = primary.dirtyLog.open("lockstep", { initial: "all" });
    this.#list = new PfnList(primary.host.kernels, listCapacity);
    this.#secondaryReader = secondary.dirtyLog.open("lockstep", { initial: "empty" });
    this.#secondaryList = new PfnList(secondary.host.kernels, listCapacity);
    this.#staging = new StagingArea(primary);
  }

  /** The primary's memory as of the last sync, on the secondary's host (null before the first). */
  get cache(): Vm | null { return this.#backup?.vm ?? null; }

  close(): void {
    this.#dropCache();
    this.#staging.close();
    this.#reader.close();
    this.#secondaryReader.close();
    this.#list.free();
    this.#secondaryList.free();
  }

  #dropCache(): void {
    const taken = this.#backup?.receiver.takeCommitted() ?? null;
    taken?.vm.destroy();
    this.#backup = null;
  }

  /** The pause on the primary: takes the pages dirtied since the last sync (all of them for a new stream) and encodes the checkpoint. */
  prepare(attempt: number, full: boolean, damage: boolean): ResyncPlan {
    this.#reader.sync();
    const dirty = takeAll(this.#reader, this.#list);
    const chunks: Uint8Array[] = [];
    let pfns = dirty;
    if (full) {
      this.#dropCache();
      this.#backup = new Backup(this.#host, this.primary.pages);
      this.#bases = new ConfirmedBases(this.#diffCachePages);
      this.#encoder = new CheckpointEncoder(this.#bases, this.#diffs, this.#chunkPayloadBytes);
      this.#seq = 0;
      chunks.push(this.#encoder.header(this.primary.pages, this.primary.id));
      pfns = Uint32Array.from({ length: this.primary.pages }, (_, i) => i);
    }
    const cp = new PendingCheckpoint(this.#seq++);
    const staged = this.#staging.stage(pfns, cp);
    cp.epochs.push(attempt);
    cp.closed = true;
    const counts = emptyCounts();
    for (;;) {
      const chunk = this.#encoder!.next(cp);
      if (!chunk) break;
      addCounts(counts, chunk.counts);
      chunks.push(chunk.bytes);
      if (chunk.commit) break;
    }
    this.#staging.recycle(cp);
    if (damage) {
      const at = chunks.length - 1;
      const copy = chunks[at].slice();
      copy[Math.min(copy.length - 1, 20)] ^= 0xff;
      chunks[at] = copy;
    }
    const wireBytes = chunks.reduce((n, c) => n + c.length, 0);
    return { attempt, full, pfns, chunks, wireBytes, counts, copiedPages: staged.copiedPages, primaryDigest: guestDigest(this.primary).digest };
  }

  /** The stream reaches the secondary's host: stage, commit, flush into the secondary, verify. */
  deliver(plan: ResyncPlan, onFlushed: ((secondary: Vm) => void) | null): ResyncOutcome {
    const backup = this.#backup!;
    let committed = 0;
    for (const chunk of plan.chunks) committed += backup.receive(chunk).length;
    if (backup.error || committed === 0) {
      const error = backup.error ?? new HypermemError(ErrorCode.StreamCorrupt, `resync ${plan.attempt}: the stream ended without its COMMIT`, { attempt: plan.attempt });
      return { ok: false, error };
    }
    this.#bases!.acknowledge(backup.committed);
    const flush = plan.full ? plan.pfns : this.#union(plan.pfns);
    const { flushedPages, divergedPages } = this.#flush(flush);
    onFlushed?.(this.secondary);
    const digest = guestDigest(this.secondary).digest;
    const verified = digest === plan.primaryDigest;
    const error = verified ? null : new HypermemError(ErrorCode.LockstepDiverged,
      `after resync ${plan.attempt} the secondary (vm ${this.secondary.id}) has digest ${hexDigest(digest)}, the primary had ${hexDigest(plan.primaryDigest)} at the pause`,
      { attempt: plan.attempt, digest: hexDigest(digest), expected: hexDigest(plan.primaryDigest) });
    return { ok: true, flushedPages, divergedPages, verified, error };
  }

  /** Pages dirty on the primary (`pfns`) or on the secondary since the last sync, sorted. */
  #union(pfns: Uint32Array): Uint32Array {
    this.#secondaryReader.sync();
    const mine = takeAll(this.#secondaryReader, this.#secondaryList);
    const all = new Set<number>(pfns);
    for (const pfn of mine) all.add(pfn);
    return Uint32Array.from([...all].sort((a, b) => a - b));
  }

  /** Copies every listed page that differs from the cache into the secondary; returns the pages compared and those that differed. */
  #flush(pfns: Uint32Array): { flushedPages: number; divergedPages: number } {
    const divergedPages = flushPages(this.cache!, this.secondary, pfns, this.#flushBuffers);
    this.#secondaryReader.sync();
    takeAll(this.#secondaryReader, this.#secondaryList);
    return { flushedPages: pfns.length, divergedPages };
  }
}
