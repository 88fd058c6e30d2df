// Pre-copy live migration, the source side (Clark et al., NSDI'05; QEMU
// ram.c; Xen xc_domain_save). The source sends every page (the bulk pass),
// then keeps sending the pages the running guest dirtied, syncing its dirty
// log, until the policy stops precopy; then it pauses the guest and sends
// what is left (stop-and-copy). It reads pages through its own dirty-log
// reader ("migration"), so other readers of the same guest lose nothing, and
// spends time only through its Link: a SimulatedLink on a Timeline
// in-process (each chunk takes its bytes / rate, or its encode time if
// longer, and the guests attached to the timeline run meanwhile) or a
// MeasuredLink on the wall clock over TCP (the guest runs for the real time
// that passes; max-bandwidth paces the sends). The engine does not know
// which.
import { ErrorCode, HypermemError } from "../errors.js";
import type { PageLogReader } from "../host/page-log.js";
import { PageSet, PfnList } from "../host/page-set.js";
import type { Vm } from "../host/vm.js";
import type { Channel } from "../net/channel.js";
import type { Link } from "../sim/link.js";
import { addStats, emptyPackStats, PagePacker, type PackStage, type PackStats } from "../stream/packer.js";
import { expectedDowntimeNs, qemuShouldSwitchover, SyncPeriod, xenStopReason, type SwitchoverInput } from "./policy.js";
import type { ResolvedMigrationOptions } from "./options.js";
import { buildResult } from "./result.js";
import type { MigrationResult, RoundRecord } from "./stats.js";
import { isAck } from "../stream/format.js";

/** Words of the migration bitmap scanned at a time: 65,536 pages (QEMU), 1,024 pages (Xen, which re-checks the dirty log per window). */
const QEMU_WINDOW_WORDS = 1024;
const XEN_WINDOW_WORDS = 16;
/** Wall-clock ms between yields to the event loop, so timers, signals and test timeouts run during an in-process migration. */
const YIELD_EVERY_MS = 50;
/** What a pass that finds nothing dirty for the second time waits before it syncs, ns: an engine waits for the guest rather than polling. */
const IDLE_WAIT_NS = 1e6;

/** Source-side state of one migration. */
export class PrecopySource {
  readonly vm: Vm;
  readonly o: ResolvedMigrationOptions;
  readonly channel: Channel;
  readonly link: Link;
  readonly packer: PagePacker;
  readonly words: number;
  /** The migration's dirty-log reader: every page written since it was taken. */
  readonly log: PageLogReader;
  /** Pages still to send: the reader's own set (QEMU), or the round's set (Xen sends only what was dirty when the round began). */
  readonly pending: PageSet;
  readonly list: PfnList;
  readonly sync: SyncPeriod;
  readonly startNs: number;
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
  /** A whole pass went by with nothing to send since the last sync. */
  idleSinceSync = false;
  /** Wall time the source's END_STREAM digest took, ns (0 on a simulated link: it takes no simulated time). */
  digestNs = 0;
  /** Bytes handed to the channel whose sends have not resolved: the stop-and-copy's pages queue behind them. */
  queuedBytes = 0;
  /** Pages of the scan window being sent that have not gone yet (taken from the pending set, not sent). */
  windowUnsentPages = 0;
  roundPages = 0;
  roundBytes = 0;
  pagesSentTotal = 0;
  /** Bytes on the wire when the guest stopped for stop-and-copy (null while it runs). */
  bytesAtStop: number | null = null;
  readonly rounds: RoundRecord[] = [];
  readonly totals: PackStats = emptyPackStats();
  /** Sends the channel has not resolved yet, oldest first (at most its sendDepth). */
  readonly inFlight: Promise<void>[] = [];
  readonly sendDepth: number;
  #lastYieldMs = performance.now();

  constructor(vm: Vm, o: ResolvedMigrationOptions, channel: Channel, link: Link) {
    this.vm = vm;
    this.o = o;
    this.channel = channel;
    this.link = link;
    this.words = Math.ceil(vm.pages / 64);
    this.sendDepth = Math.max(1, Math.min(16, Math.floor(channel.sendDepth ?? 1)));
    this.startNs = link.clock.nowNs;
    this.log = vm.dirtyLog.open("migration", { initial: "all" });
    const resources: Array<{ free(): void } | { close(): void }> = [this.log];
    try {
      this.pending = o.policy === "xen" ? new PageSet(vm.host.kernels, vm.pages) : this.log.pages;
      if (o.policy === "xen") resources.push(this.pending);
      this.list = new PfnList(vm.host.kernels, QEMU_WINDOW_WORDS * 64);
      resources.push(this.list);
      this.packer = new PagePacker(vm, { xbzrleCacheBytes: o.xbzrleCacheBytes, borrowChunks: true, chunkBuffers: this.sendDepth, zeroPageDetection: o.zeroPageDetection });
    } catch (err) {
      for (const r of resources) ("close" in r ? r.close() : r.free());
      throw err;
    }
    // QEMU's setup sync: bits the guest set before the migration reach the other readers, not this one's first round.
    this.log.sync();
    if (o.policy === "xen") {
      this.pending.fill();
      this.log.pages.clear();
    }
    this.pendingPages = vm.pages;
    this.sync = new SyncPeriod(0, o.autoConverge);
  }

  /**
   * Time since the migration started, as of the last thing the link did,
   * ns: on the wall clock it does not run on by itself between sends, so a
   * pass over the bitmap that sent nothing has taken no time (and ends no
   * round), as in simulated time.
   */
  nowNs = 0;

  /** Takes the clock's time after the link spent some. */
  #tick(): void { this.nowNs = this.link.clock.nowNs - this.startNs; }

  release(): void {
    this.packer.close();
    if (this.pending !== this.log.pages) this.pending.free();
    this.list.free();
    this.log.close();
  }

  /**
   * Sends framed bytes. Up to sendDepth sends stay in flight (each borrowed
   * chunk in its own packer buffer); past that, waits for the oldest. Then
   * the link lets the time they take pass (`minNs`: at least this long).
   */
  async send(bytes: Uint8Array, minNs = 0): Promise<void> {
    const sent = this.channel.send(bytes);
    this.queuedBytes += bytes.length;
    sent.then(() => { this.queuedBytes -= bytes.length; }, () => {}); // failures are observed when awaited below or by flush()
    this.inFlight.push(sent);
    this.transferred += bytes.length;
    if (this.inFlight.length >= this.sendDepth) await this.inFlight.shift();
    await this.link.transmit(bytes.length, minNs);
    this.#tick();
    await this.#yieldNow();
  }

  /** Lets the event loop run (timers, signals, a test's timeout) every YIELD_EVERY_MS of wall time; then honours a cancellation. */
  async #yieldNow(): Promise<void> {
    const now = performance.now();
    if (now - this.#lastYieldMs >= YIELD_EVERY_MS) {
      this.#lastYieldMs = now;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (this.o.signal?.aborted) throw new Cancelled("cancelled (interrupted)");
  }

  /** Waits for every send in flight. */
  async flush(): Promise<void> {
    while (this.inFlight.length > 0) await this.inFlight.shift();
  }

  /**
   * Sends the stream header, then attaches the guest's workload to the
   * link's clock: it runs while the migration sends, from the bulk pass on
   * (the setup exchange is short and runs before the guest's first slice).
   */
  async setup(): Promise<void> {
    await this.send(this.packer.header());
    await this.link.propagate(2); // the destination's answer to the connection
    this.#tick();
    this.o.workload?.attach(this.link.clock);
    this.setupNs = this.nowNs;
    this.roundStartNs = this.nowNs;
  }

  /** Takes up to `maxWords` words of the pending set from `word` into the list. Returns pfns listed. */
  takeWindow(word: number, maxWords: number): number {
    const n = this.pending.takeWindow(word, maxWords, this.list);
    this.pendingPages -= n;
    return n;
  }

  /** Xen: drops from list[from, n) the pages dirtied again during this round (they wait for the next). Returns the new n. */
  skipRedirtied(from: number): number {
    this.log.sync();
    return this.list.dropIn(this.log.pages, from);
  }

  /** QEMU: puts list[from, n) back into the pending set. */
  unsend(from: number, n: number): void {
    this.log.requeue(this.list, from, n);
    this.pendingPages += n - from;
    this.windowUnsentPages = 0;
  }

  /** Pages still to send: the pending set and what the current scan window has not sent yet. */
  get remainingPages(): number { return this.pendingPages + this.windowUnsentPages; }

  /** Packs and sends one chunk from list[pos, n); the link lets its time pass. Returns pfns consumed. */
  async sendChunk(pos: number, n: number, stage: PackStage): Promise<number> {
    const { consumed, chunk, stats } = this.packer.packChunk(this.list, pos, n - pos, stage, this.generation);
    addStats(this.totals, stats);
    const encodeNs = (stats.xbzrlePages + stats.xbzrleOverflow + stats.xbzrleUnchanged) * this.o.xbzrleEncodeNsPerPage;
    if (chunk) await this.send(chunk, encodeNs);
    else {
      await this.link.transmit(0, encodeNs);
      this.#tick();
    }
    this.roundBytes += chunk ? chunk.length : 0;
    this.roundPages += stats.pages;
    this.pagesSentTotal += stats.pages;
    return consumed;
  }

  /** Syncs the dirty log into the pending set; returns the pages pending. */
  syncLog(): number {
    if (this.o.policy !== "xen") return this.log.sync();
    this.log.sync();
    this.pending.addAll(this.log.pages);
    this.log.pages.clear();
    return this.pending.count();
  }

  /** A dirty-log sync: ends a round, updates rates and the throttle. */
  async syncDirty(): Promise<void> {
    const before = this.pendingPages;
    this.pendingPages = this.syncLog();
    const dirtied = this.pendingPages - before;
    const durationNs = this.nowNs - this.roundStartNs;
    this.link.endPeriod();
    this.sync.onSync(this.nowNs, this.transferred, dirtied);
    this.lastExpectedDowntimeNs = this.expectedDowntimeNs();
    if (this.o.workload) this.o.workload.throttle = this.sync.throttlePct / 100;
    this.rounds.push({
      round: this.round, pagesSent: this.roundPages, bytes: this.roundBytes,
      durationMs: durationNs / 1e6, pagesDirtied: dirtied, throttlePct: this.sync.throttlePct,
    });
    await this.send(this.packer.endRound(this.round));
    this.generation++;
    this.round++;
    this.roundStartNs = this.nowNs;
    this.roundPages = 0;
    this.roundBytes = 0;
    this.idleSinceSync = false;
  }

  #switchoverInput(unsent = 0): SwitchoverInput {
    return {
      remainingPages: this.pendingPages + unsent, bandwidthBytesPerSec: this.link.bandwidthBytesPerSec,
      latencyNs: this.link.latencyNs, downtimeLimitNs: this.o.downtimeLimitNs, queuedBytes: this.queuedBytes,
    };
  }

  expectedDowntimeNs(): number { return expectedDowntimeNs(this.#switchoverInput()); }

  /** After a sync: why precopy stops now, or null. */
  stopReason(): string | null {
    if (this.o.policy === "xen") {
      return xenStopReason({ roundsDone: this.round, pagesSentTotal: this.pagesSentTotal, guestPages: this.vm.pages, remainingPages: this.pendingPages });
    }
    return qemuShouldSwitchover(this.#switchoverInput()) ? `expected downtime ${(this.expectedDowntimeNs() / 1e6).toFixed(1)} ms within the ${this.o.downtimeLimitNs / 1e6} ms limit` : null;
  }

  /** Why the user's limits end the migration now, or null. */
  giveUpReason(): string | null {
    if (this.o.maxRounds !== null && this.round >= this.o.maxRounds) return `gave up after ${this.round} rounds (maxRounds)`;
    if (this.o.maxTotalTimeNs !== null && this.nowNs >= this.o.maxTotalTimeNs) return `gave up after ${(this.nowNs / 1e6).toFixed(0)} ms (maxTotalTimeNs)`;
    return null;
  }

  progress(phase: "precopy" | "stop-and-copy"): void {
    this.o.onProgress?.({
      phase, round: this.round, remainingBytes: this.remainingPages * 4096, transferredBytes: this.transferred,
      dirtyPagesRate: this.sync.dirtyPagesRate, throttlePct: this.sync.throttlePct, elapsedMs: this.nowNs / 1e6,
    });
  }

  /**
   * Precopy: scans the pending set from where it left off, wrapping; syncs
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
        // A pass that sent nothing since the last sync (it began right after one) need not sync
        // again; a second one in a row waits for the guest, then syncs: an idle guest neither
        // spins the loop nor fills the round log with rounds that take no time.
        if (this.roundPages === 0 && this.nowNs === this.roundStartNs) {
          if (!this.idleSinceSync) {
            this.idleSinceSync = true;
            continue;
          }
          await this.link.clock.sleep(IDLE_WAIT_NS);
          this.#tick();
        }
        await this.syncDirty();
        const stop = this.stopReason();
        if (stop) return { switchover: true, reason: stop };
        const giveUp = this.giveUpReason();
        if (giveUp) return { switchover: false, reason: giveUp };
        continue;
      }
      let n = this.takeWindow(word, windowWords);
      word += windowWords;
      if (xen && this.round > 0) n = this.skipRedirtied(0);
      this.windowUnsentPages = n;
      const stage: PackStage = this.passes === 0 ? "bulk" : "iterate";
      for (let pos = 0; pos < n;) {
        pos += await this.sendChunk(pos, n, stage);
        this.windowUnsentPages = n - pos;
        this.progress("precopy");
        const giveUp = this.o.maxTotalTimeNs !== null && this.nowNs >= this.o.maxTotalTimeNs ? this.giveUpReason() : null;
        if (giveUp) return { switchover: false, reason: giveUp };
        if (!xen && qemuShouldSwitchover(this.#switchoverInput(n - pos))) {
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

  /** Stop-and-copy: the guest is paused; every pending page goes, then the end of the stream. Returns the downtime, ns. */
  async stopAndCopy(): Promise<number> {
    this.link.clock.settle();
    this.#tick();
    this.vm.pause();
    const stoppedNs = this.nowNs;
    this.bytesAtStop = this.transferred;
    this.link.unlimit(); // QEMU lifts max-bandwidth for the completion
    this.pendingPages = this.syncLog();
    this.generation++;
    for (let word = 0; word < this.words; word += QEMU_WINDOW_WORDS) {
      const n = this.takeWindow(word, QEMU_WINDOW_WORDS);
      this.windowUnsentPages = n;
      for (let pos = 0; pos < n;) {
        pos += await this.sendChunk(pos, n, this.passes === 0 ? "bulk" : "final");
        this.windowUnsentPages = n - pos;
        this.progress("stop-and-copy");
      }
    }
    // The END_STREAM digest is a pass over the whole guest (our verification, which a hypervisor does not
    // do): the time it takes on the wall clock is kept out of the downtime and reported as digestTime.
    const digestStartNs = this.link.clock.nowNs;
    const end = this.packer.endStream();
    this.digestNs = this.link.clock.nowNs - digestStartNs;
    await this.send(end);
    await this.flush();
    this.link.clock.settle();
    await this.link.propagate(1);
    this.#tick();
    const downtimeNs = this.nowNs - stoppedNs - this.digestNs;
    this.rounds.push({
      round: this.round, pagesSent: this.roundPages, bytes: this.roundBytes,
      durationMs: downtimeNs / 1e6, pagesDirtied: 0, throttlePct: this.sync.throttlePct,
    });
    return downtimeNs;
  }
}

/** A cancellation asked for by the caller (the AbortSignal). */
class Cancelled extends Error {}

/**
 * Runs the source side of a migration of `vm` over `channel`, spending time
 * through `link`. The source guest is left running (with its workload)
 * unless the migration completed; then it stays paused (QEMU's
 * postmigrate), and vm.resume() runs it again.
 */
export async function migrateSource(vm: Vm, channel: Channel, o: ResolvedMigrationOptions, link: Link): Promise<MigrationResult> {
  const wallStart = performance.now();
  if (o.workload && o.workload.vm !== vm) {
    throw new HypermemError(ErrorCode.BadOption, `the workload runs on vm ${o.workload.vm.id}, not on the migrating vm ${vm.id}`, { option: "workload" });
  }
  const attachedBefore = o.workload?.clock ?? null;
  const src = new PrecopySource(vm, o, channel, link);
  let completed = false;
  try {
    await src.setup();
    const { switchover, reason } = await src.precopy();
    if (!switchover) {
      channel.close(new HypermemError(ErrorCode.MigrationCancelled, `migration cancelled by the source: ${reason}`));
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
    completed = true;
    return buildResult(src, "completed", reason, downtimeNs, performance.now() - wallStart);
  } catch (err) {
    if (err instanceof Cancelled) {
      channel.close(new HypermemError(ErrorCode.MigrationCancelled, `migration ${err.message}`));
      return buildResult(src, "cancelled", err.message, 0, performance.now() - wallStart);
    }
    const e = err instanceof HypermemError ? err : new HypermemError(ErrorCode.MigrationFailed, String((err as Error)?.message ?? err));
    channel.close(e);
    const result = buildResult(src, "failed", e.message, 0, performance.now() - wallStart);
    result.error = { code: e.code, message: e.message };
    return result;
  } finally {
    src.release();
    if (!completed) vm.resume();
    if (o.workload && attachedBefore !== link.clock) o.workload.detach();
  }
}
