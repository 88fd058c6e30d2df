// Pre-copy live migration (Clark et al., NSDI'05; QEMU ram.c; Xen
// xc_domain_save). The source sends every page (the bulk pass), then keeps
// sending the pages the running guest dirtied, syncing its dirty bitmap,
// until the policy stops precopy; then it pauses the guest and sends what is
// left (stop-and-copy). In-process, time is simulated: each chunk takes its
// wire bytes / bandwidth (or its encode time, if longer) and the guest's
// workload runs for exactly that long meanwhile, so pages it dirties show up
// in the next sync. Over TCP the clock is the wall clock: after each chunk
// the guest runs for the real time that passed, the bandwidth is measured
// every 100 ms (QEMU's BUFFER_DELAY), and max-bandwidth paces the sends (each
// waits until the bytes before it fit the cap) until the guest stops.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { createChannelPair, type Channel } from "../net/channel.js";
import { effectiveRate, transferNs } from "../sim/link.js";
import { resolveMigrationOptions, type MigrationOptions, type ResolvedMigrationOptions } from "./options.js";
import { addStats, emptyPackStats, PagePacker, type PackStage, type PackStats } from "./packer.js";
import { expectedDowntimeNs, qemuShouldSwitchover, SyncPeriod, xenStopReason } from "./policy.js";
import { StreamReceiver } from "./receiver.js";
import { encodeAck, isAck } from "./stream-format.js";
import type { MigrationResult, RoundRecord } from "./stats.js";
import { verifyGuests } from "./verify.js";

/** QEMU's BUFFER_DELAY: the wall-clock window of bandwidth measurement and rate limiting, ns. */
const RATE_WINDOW_NS = 100e6;

/** Words of the migration bitmap scanned at a time: 65,536 pages (QEMU), 1,024 pages (Xen, which re-checks the dirty log per window). */
const QEMU_WINDOW_WORDS = 1024;
const XEN_WINDOW_WORDS = 16;

/** Source-side state of one migration. */
class PrecopySource {
  readonly vm: Vm;
  readonly o: ResolvedMigrationOptions;
  readonly channel: Channel;
  readonly packer: PagePacker;
  readonly words: number;
  /** Migration bitmap: pages still to send. */
  readonly pendingPtr: number;
  /** Xen: pages the guest dirtied during the current round (skipped, sent next round). */
  readonly redirtiedPtr: number;
  readonly listPtr: number;
  readonly sync: SyncPeriod;
  nowNs = 0;
  setupNs = 0;
  /** QEMU expected-downtime at the last sync: pending / measured bandwidth, ns. */
  lastExpectedDowntimeNs = 0;
  transferred = 0;
  pendingPages: number;
  generation = 1;
  round = 0;
  /** Whole passes over the bitmap done; XBZRLE starts after the first (QEMU xbzrle_started). */
  passes = 0;
  roundStartNs = 0;
  roundPages = 0;
  roundBytes = 0;
  bandwidth: number;
  pagesSentTotal = 0;
  /** Bytes on the wire when the guest stopped for stop-and-copy (null while it runs). */
  bytesAtStop: number | null = null;
  readonly rounds: RoundRecord[] = [];
  readonly totals: PackStats = emptyPackStats();
  /** Wall clock: performance.now() at the start, and the current rate window (start ns, bytes sent in it). */
  readonly wallStartMs = performance.now();
  windowStartNs = 0;
  windowBytes = 0;
  /** Sends the channel has not resolved yet, oldest first (at most its sendDepth). */
  readonly inFlight: Promise<void>[] = [];
  readonly sendDepth: number;

  constructor(vm: Vm, o: ResolvedMigrationOptions, channel: Channel) {
    this.vm = vm;
    this.o = o;
    this.channel = channel;
    const k = vm.host.kernels;
    this.words = Math.ceil(vm.pages / 64);
    this.sendDepth = Math.max(1, Math.min(16, Math.floor(channel.sendDepth ?? 1)));
    this.packer = new PagePacker(vm, { xbzrleCacheBytes: o.xbzrleCacheBytes, borrowChunks: true, chunkBuffers: this.sendDepth, zeroPageDetection: o.zeroPageDetection });
    this.pendingPtr = k.allocBuffer(this.words * 8);
    this.redirtiedPtr = k.allocBuffer(this.words * 8);
    this.listPtr = k.allocBuffer(QEMU_WINDOW_WORDS * 64 * 4);
    this.pendingPages = vm.pages;
    this.bandwidth = o.clock === "wall" ? 0 : effectiveRate(o.link); // wall: unknown until measured
    this.sync = new SyncPeriod(0, o.autoConverge);
  }

  release(): void {
    const k = this.vm.host.kernels;
    this.packer.close();
    k.freeBuffer(this.pendingPtr, this.words * 8);
    k.freeBuffer(this.redirtiedPtr, this.words * 8);
    k.freeBuffer(this.listPtr, QEMU_WINDOW_WORDS * 64 * 4);
  }

  /**
   * Sends framed bytes; the link time is accounted by the caller. Up to
   * sendDepth sends stay in flight (each borrowed chunk in its own packer
   * buffer); past that, waits for the oldest.
   */
  async send(bytes: Uint8Array): Promise<void> {
    const sent = this.channel.send(bytes);
    sent.catch(() => {}); // observed when awaited below or by flush()
    this.inFlight.push(sent);
    this.transferred += bytes.length;
    if (this.inFlight.length >= this.sendDepth) await this.inFlight.shift();
    if (this.o.clock === "wall" && this.bytesAtStop === null) await this.meterAndLimit(bytes.length); // QEMU lifts the limit for the completion
  }

  /** Wall clock: ns since the migration started. */
  wallNs(): number {
    return (performance.now() - this.wallStartMs) * 1e6;
  }

  /**
   * Wall clock, after each send: with max-bandwidth, waits until the bytes
   * sent so far fit the cap (so the rate never exceeds it by more than the
   * last chunk); counts the bytes into the 100 ms window and, at its end,
   * takes the window's rate as the bandwidth.
   */
  async meterAndLimit(bytes: number): Promise<void> {
    this.windowBytes += bytes;
    let now = this.wallNs();
    const cap = this.o.link.maxBandwidthBytesPerSec;
    if (cap !== null) {
      const allowedNs = ((this.transferred - bytes) * 1e9) / cap;
      if (allowedNs > now) {
        await new Promise((resolve) => setTimeout(resolve, (allowedNs - now) / 1e6));
        now = this.wallNs();
      }
    }
    if (now - this.windowStartNs >= RATE_WINDOW_NS) {
      this.bandwidth = (this.windowBytes * 1e9) / (now - this.windowStartNs);
      this.windowStartNs = now;
      this.windowBytes = 0;
    }
  }

  /** Moves the clock past `wireBytes` sent (simulated: their link time, or the encode time if longer; wall: to now). Returns the time that passed, ns. */
  advance(wireBytes: number, encodes = 0): number {
    const dt = this.o.clock === "wall"
      ? this.wallNs() - this.nowNs
      : Math.max(transferNs(this.o.link, wireBytes), encodes * this.o.xbzrleEncodeNsPerPage);
    this.nowNs += dt;
    return dt;
  }

  /** Waits for every send in flight. */
  async flush(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }

  /** Starts dirty logging and marks every page pending (the bulk pass). */
  async setup(): Promise<void> {
    const k = this.vm.host.kernels;
    this.vm.harvestDirtyInto(this.pendingPtr);
    const u8 = k.heap.u8;
    u8.fill(0xff, this.pendingPtr, this.pendingPtr + this.words * 8);
    const tail = this.vm.pages % 64;
    if (tail !== 0) {
      const last = this.pendingPtr + (this.words - 1) * 8;
      u8.fill(0, last, last + 8);
      for (let b = 0; b < tail; b++) u8[last + (b >>> 3)] |= 1 << (b & 7);
    }
    const header = this.packer.header();
    await this.send(header);
    this.advance(header.length);
    if (this.o.clock === "simulated") this.nowNs += 2 * this.o.link.latencyNs;
    this.setupNs = this.nowNs;
    this.roundStartNs = this.nowNs;
  }

  /** Scans up to `maxWords` words of the pending bitmap from `word` into the list, clearing them. Returns pfns listed. */
  takeWindow(word: number, maxWords: number): number {
    const k = this.vm.host.kernels;
    const count = Math.min(maxWords, this.words - word);
    const src = this.pendingPtr + word * 8;
    const n = k.bitmapScan(src, count, this.listPtr);
    const u32 = k.heap.u32;
    const base = word * 64;
    const at = this.listPtr >>> 2;
    if (base !== 0) for (let i = 0; i < n; i++) u32[at + i] += base;
    k.heap.u8.fill(0, src, src + count * 8);
    this.pendingPages -= n;
    return n;
  }

  /** Xen: drops from list[from, n) the pages dirtied again during this round. Returns the new n. */
  skipRedirtied(from: number, n: number): number {
    const k = this.vm.host.kernels;
    this.vm.harvestDirtyInto(this.redirtiedPtr);
    const u32 = k.heap.u32;
    const u8 = k.heap.u8;
    const at = this.listPtr >>> 2;
    let kept = from;
    for (let i = from; i < n; i++) {
      const pfn = u32[at + i];
      if ((u8[this.redirtiedPtr + (pfn >>> 3)] & (1 << (pfn & 7))) === 0) u32[at + kept++] = pfn;
    }
    return kept;
  }

  /** Puts list[from, n) back into the pending bitmap. */
  unsend(from: number, n: number): void {
    const k = this.vm.host.kernels;
    const u32 = k.heap.u32;
    const u8 = k.heap.u8;
    const at = this.listPtr >>> 2;
    for (let i = from; i < n; i++) {
      const pfn = u32[at + i];
      u8[this.pendingPtr + (pfn >>> 3)] |= 1 << (pfn & 7);
    }
    this.pendingPages += n - from;
  }

  /** Packs and sends one chunk from list[pos, n); advances time and runs the guest. Returns pfns consumed. */
  async sendChunk(pos: number, n: number, stage: PackStage): Promise<number> {
    const { consumed, chunk, stats } = this.packer.packChunk(this.listPtr, pos, n - pos, stage, this.generation);
    addStats(this.totals, stats);
    if (chunk) await this.send(chunk);
    const wire = chunk ? chunk.length : 0;
    const dt = this.advance(wire, stats.xbzrlePages + stats.xbzrleOverflow + stats.xbzrleUnchanged);
    if (this.bytesAtStop === null) this.o.workload?.runFor(dt);
    this.roundBytes += wire;
    this.roundPages += stats.pages;
    this.pagesSentTotal += stats.pages;
    return consumed;
  }

  /** A dirty-bitmap sync: ends a round, updates rates and the throttle. */
  async syncDirty(): Promise<void> {
    const k = this.vm.host.kernels;
    const before = this.pendingPages;
    if (this.o.policy === "xen") {
      this.vm.harvestDirtyInto(this.redirtiedPtr);
      k.bitmapOr(this.pendingPtr, this.redirtiedPtr, this.words);
      k.heap.u8.fill(0, this.redirtiedPtr, this.redirtiedPtr + this.words * 8);
      this.pendingPages = k.bitmapCount(this.pendingPtr, this.words);
    } else {
      this.pendingPages = this.vm.harvestDirtyInto(this.pendingPtr);
    }
    const dirtied = this.pendingPages - before;
    const durationNs = this.nowNs - this.roundStartNs;
    if (durationNs > 0 && this.roundBytes > 0) this.bandwidth = (this.roundBytes * 1e9) / durationNs;
    this.sync.onSync(this.nowNs, this.transferred, dirtied);
    this.lastExpectedDowntimeNs = this.expectedDowntimeNs();
    if (this.o.workload) this.o.workload.throttle = this.sync.throttlePct / 100;
    this.rounds.push({
      round: this.round, pagesSent: this.roundPages, bytes: this.roundBytes,
      durationMs: durationNs / 1e6, pagesDirtied: dirtied, throttlePct: this.sync.throttlePct,
    });
    const marker = this.packer.endRound(this.round);
    await this.send(marker);
    this.advance(marker.length);
    this.generation++;
    this.round++;
    this.roundStartNs = this.nowNs;
    this.roundPages = 0;
    this.roundBytes = 0;
  }

  expectedDowntimeNs(): number {
    return expectedDowntimeNs({
      remainingPages: this.pendingPages, bandwidthBytesPerSec: this.bandwidth,
      latencyNs: this.o.link.latencyNs, downtimeLimitNs: this.o.downtimeLimitNs,
    });
  }

  /** After a sync: why precopy stops now, or null. */
  stopReason(): string | null {
    if (this.o.policy === "xen") {
      return xenStopReason({ roundsDone: this.round, pagesSentTotal: this.pagesSentTotal, guestPages: this.vm.pages, remainingPages: this.pendingPages });
    }
    const input = { remainingPages: this.pendingPages, bandwidthBytesPerSec: this.bandwidth, latencyNs: this.o.link.latencyNs, downtimeLimitNs: this.o.downtimeLimitNs };
    return qemuShouldSwitchover(input) ? `expected downtime ${(this.expectedDowntimeNs() / 1e6).toFixed(1)} ms within the ${this.o.downtimeLimitNs / 1e6} ms limit` : null;
  }

  /** Why the user's limits end the migration now, or null. */
  giveUpReason(): string | null {
    if (this.o.maxRounds !== null && this.round >= this.o.maxRounds) return `gave up after ${this.round} rounds (maxRounds)`;
    if (this.o.maxTotalTimeNs !== null && this.nowNs >= this.o.maxTotalTimeNs) return `gave up after ${(this.nowNs / 1e6).toFixed(0)} ms (maxTotalTimeNs)`;
    return null;
  }

  progress(phase: "precopy" | "stop-and-copy"): void {
    this.o.onProgress?.({
      phase, round: this.round, remainingBytes: this.pendingPages * 4096, transferredBytes: this.transferred,
      dirtyPagesRate: this.sync.dirtyPagesRate, throttlePct: this.sync.throttlePct, elapsedMs: this.nowNs / 1e6,
    });
  }

  /**
   * Precopy: scans the pending bitmap from where it left off, wrapping; syncs
   * at the end of each pass, and (QEMU) as soon as what is pending fits the
   * downtime limit. Returns why it stopped and whether to switch over.
   */
  async precopy(): Promise<{ switchover: boolean; reason: string }> {
    const xen = this.o.policy === "xen";
    const windowWords = xen ? XEN_WINDOW_WORDS : QEMU_WINDOW_WORDS;
    let word = 0;
    for (;;) {
      if (word >= this.words) {
        word = 0;
        this.passes++;
        if (this.roundPages === 0 && this.nowNs === this.roundStartNs) continue;
        await this.syncDirty();
        const stop = this.stopReason();
        if (stop) return { switchover: true, reason: stop };
        const giveUp = this.giveUpReason();
        if (giveUp) return { switchover: false, reason: giveUp };
        continue;
      }
      let n = this.takeWindow(word, windowWords);
      word += windowWords;
      if (xen && this.round > 0) n = this.skipRedirtied(0, n);
      const stage: PackStage = this.passes === 0 ? "bulk" : "iterate";
      for (let pos = 0; pos < n;) {
        pos += await this.sendChunk(pos, n, stage);
        this.progress("precopy");
        const giveUp = this.o.maxTotalTimeNs !== null && this.nowNs >= this.o.maxTotalTimeNs ? this.giveUpReason() : null;
        if (giveUp) return { switchover: false, reason: giveUp };
        if (!xen && this.fitsAfterThisChunk(n - pos)) {
          this.unsend(pos, n);
          await this.syncDirty();
          const stop = this.stopReason();
          if (stop) return { switchover: true, reason: stop };
          const limit = this.giveUpReason();
          if (limit) return { switchover: false, reason: limit };
          break;
        }
      }
    }
  }

  /** QEMU: do the pages still pending (in the bitmap and the unsent list) fit the downtime limit? */
  fitsAfterThisChunk(unsent: number): boolean {
    return qemuShouldSwitchover({
      remainingPages: this.pendingPages + unsent, bandwidthBytesPerSec: this.bandwidth,
      latencyNs: this.o.link.latencyNs, downtimeLimitNs: this.o.downtimeLimitNs,
    });
  }

  /** Stop-and-copy: the guest is paused; every pending page goes, then the end of the stream. */
  async stopAndCopy(): Promise<number> {
    this.advance(0);
    const stoppedNs = this.nowNs;
    this.bytesAtStop = this.transferred;
    this.pendingPages = this.vm.harvestDirtyInto(this.pendingPtr);
    if (this.o.policy === "xen") {
      // Pages skipped as re-dirtied during the unfinished round wait in redirtied.
      this.vm.host.kernels.bitmapOr(this.pendingPtr, this.redirtiedPtr, this.words);
      this.pendingPages = this.vm.host.kernels.bitmapCount(this.pendingPtr, this.words);
    }
    this.generation++;
    for (let word = 0; word < this.words; word += QEMU_WINDOW_WORDS) {
      const n = this.takeWindow(word, QEMU_WINDOW_WORDS);
      for (let pos = 0; pos < n;) {
        pos += await this.sendChunk(pos, n, this.passes === 0 ? "bulk" : "final");
        this.progress("stop-and-copy");
      }
    }
    const end = this.packer.endStream();
    await this.send(end);
    await this.flush();
    this.advance(end.length);
    if (this.o.clock === "simulated") this.nowNs += this.o.link.latencyNs;
    this.rounds.push({
      round: this.round, pagesSent: this.roundPages, bytes: this.roundBytes,
      durationMs: (this.nowNs - stoppedNs) / 1e6, pagesDirtied: 0, throttlePct: this.sync.throttlePct,
    });
    return this.nowNs - stoppedNs;
  }
}

function buildResult(src: PrecopySource, status: MigrationResult["status"], reason: string, downtimeNs: number, wallMs: number): MigrationResult {
  const t = src.totals;
  const totalMs = src.nowNs / 1e6;
  const last = src.rounds.filter((r) => r.durationMs > 0).at(-1);
  const lookups = t.xbzrlePages + t.xbzrleCacheMiss + t.xbzrleOverflow + t.xbzrleUnchanged;
  return {
    status,
    totalTime: totalMs,
    setupTime: src.setupNs / 1e6,
    downtime: downtimeNs / 1e6,
    expectedDowntime: src.lastExpectedDowntimeNs / 1e6,
    ram: {
      transferred: src.transferred,
      remaining: status === "completed" ? 0 : src.pendingPages * 4096,
      total: src.vm.memoryBytes,
      duplicate: t.zeroPages,
      normal: t.normalPages,
      normalBytes: t.normalBytes,
      dirtySyncCount: src.generation - 1,
      pagesPerSecond: last ? last.pagesSent / (last.durationMs / 1e3) : 0,
      dirtyPagesRate: src.sync.dirtyPagesRate,
      mbps: totalMs > 0 ? (src.transferred * 8) / (totalMs / 1e3) / 1e6 : 0,
      precopyBytes: src.bytesAtStop ?? src.transferred,
      downtimeBytes: src.transferred - (src.bytesAtStop ?? src.transferred),
    },
    xbzrleCache: src.o.xbzrleCacheBytes === null ? null : {
      cacheSize: src.o.xbzrleCacheBytes,
      bytes: t.xbzrleBytes,
      pages: t.xbzrlePages,
      cacheMiss: t.xbzrleCacheMiss,
      cacheMissRate: lookups > 0 ? t.xbzrleCacheMiss / lookups : 0,
      encodingRate: t.xbzrleBytes > 0 ? (t.xbzrlePages * 4096) / t.xbzrleBytes : 0,
      overflow: t.xbzrleOverflow,
    },
    cpuThrottlePercentage: src.sync.throttlePct,
    rounds: src.rounds,
    poisonedPagesSent: t.poisonedPages,
    latentErrorsFound: t.latentFound,
    stopReason: reason,
    verification: null,
    error: null,
    wallTimeMs: wallMs,
  };
}

export interface MigrationOutcome extends MigrationResult {
  /** The running destination guest (null unless completed). */
  destination: Vm | null;
}

/**
 * Runs the source side of a migration of `vm` over `channel`. The source
 * guest is left running (with its workload) unless the migration completed.
 */
export async function migrateSource(vm: Vm, channel: Channel, o: ResolvedMigrationOptions): Promise<MigrationResult> {
  const wallStart = performance.now();
  if (o.workload && o.workload.vm !== vm) {
    throw new HypermemError(ErrorCode.BadOption, `the workload runs on vm ${o.workload.vm.id}, not on the migrating vm ${vm.id}`, { option: "workload" });
  }
  const src = new PrecopySource(vm, o, channel);
  try {
    await src.setup();
    const { switchover, reason } = await src.precopy();
    if (!switchover) {
      channel.close(new HypermemError(ErrorCode.MigrationFailed, `migration cancelled by the source: ${reason}`));
      return buildResult(src, "cancelled", reason, 0, performance.now() - wallStart);
    }
    const downtimeNs = await src.stopAndCopy();
    const ack = await channel.receive();
    if (ack === null || !isAck(ack)) {
      throw new HypermemError(ErrorCode.MigrationFailed, ack === null
        ? "the destination closed the connection without acknowledging the stream"
        : `the destination answered ${ack.length} bytes that are not an acknowledgement`, { bytes: ack?.length ?? 0 });
    }
    channel.close();
    return buildResult(src, "completed", reason, downtimeNs, performance.now() - wallStart);
  } catch (err) {
    const e = err instanceof HypermemError ? err : new HypermemError(ErrorCode.MigrationFailed, String((err as Error)?.message ?? err));
    channel.close(e);
    const result = buildResult(src, "failed", e.message, 0, performance.now() - wallStart);
    result.error = { code: e.code, message: e.message };
    return result;
  } finally {
    src.release();
  }
}

/**
 * Receives one migration from `channel` into `host`: reads until END_STREAM,
 * checks the digest, acknowledges, and returns the running guest. On any
 * error the partial guest is discarded and the channel closed with the error.
 */
export async function migrateDestination(host: Host, channel: Channel): Promise<Vm> {
  const receiver = new StreamReceiver(host);
  try {
    while (!receiver.done) {
      const bytes = await channel.receive();
      if (bytes === null) break;
      receiver.push(bytes);
    }
    const vm = receiver.finish();
    await channel.send(encodeAck());
    return vm;
  } catch (err) {
    receiver.abort();
    channel.close(err as Error);
    throw err;
  }
}

/**
 * Live-migrates `vm` to `destination` in-process over a simulated link.
 * Resolves with QEMU's `info migrate` figures and, when completed, the
 * destination guest; on failure or cancellation the source guest is intact
 * and still running, and the destination holds nothing of it.
 */
export async function migrate(vm: Vm, destination: Host, options: MigrationOptions = {}): Promise<MigrationOutcome> {
  const o = resolveMigrationOptions(options);
  const [sourceEnd, destEnd] = createChannelPair();
  const received = migrateDestination(destination, destEnd).then((v) => v, (e: unknown) => e as Error);
  const result = await migrateSource(vm, sourceEnd, o);
  const dest = await received;
  // The source reports completed only after the destination acknowledged, so then dest is its Vm.
  const destVm = dest instanceof Error ? null : dest;
  if (result.status === "completed" && destVm && o.verify) result.verification = verifyGuests(vm, destVm);
  return { ...result, destination: result.status === "completed" ? destVm : null };
}
