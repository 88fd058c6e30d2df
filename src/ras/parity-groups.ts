// Parity groups (seed T13): guest pages, of one VM or several, grouped k at a
// time, each group with one XOR parity page in a host frame of its own, so
// that any one lost member is rebuilt from the parity and the k - 1 others.
//
// Parity is never stale. A member is *covered* (its bytes are in the parity,
// its entry write-protected) or *open* (left the group on a write). The
// first write to a covered page faults write-protect (a guest write through
// the MMU, or a hypervisor write through the page hook): the handler XORs
// the page's current bytes out of the parity and unprotects it, then the
// write runs. Maintenance, every maintainIntervalNs, reads the dirty log: an
// open page not written for rejoinAfterNs is XORed back in and protected
// again; a page written for the first time (or no longer clean-backed)
// joins a group. So at every instant, between guest accesses:
//
//     parity(g) = XOR of the covered members of g            (the invariant)
//
// and a covered page can be rebuilt when every other covered member of its
// group is sound. An open page, a page never written, and a clean-backed
// page (refilled from its file instead) are not protected by parity. A
// covered page whose bytes changed without a write fault (another technique
// moved it: a balloon, a received page) is seen dirty by the next
// maintenance, which recomputes its group's parity from the members.
//
//   group g:  ┌────────┬────────┬────────┬─────┬────────┐   ┌──────────────┐
//             │ vm1:17 │ vm1:18 │ vm2:3  │ ... │ vm1:40 │ ⊕ │ parity frame │
//             │covered │ open   │covered │     │covered │   │ (host-owned) │
//             └────────┴────────┴────────┴─────┴────────┘   └──────────────┘
//             k slots; an open member's bytes are not in the parity
import type { Clock, Cancel } from "../sim/clock.js";
import { FaultReason, type Disposer, type Fault, type FaultAction } from "../host/faults.js";
import type { Host } from "../host/host.js";
import type { PageLogReader } from "../host/page-log.js";
import type { Vm } from "../host/vm.js";

interface Member {
  readonly vm: Vm;
  readonly pfn: number;
  readonly group: Group;
  covered: boolean;
  /** Last time (clock ns) the page was seen written while open. */
  lastWriteNs: number;
}

interface Group {
  readonly id: number;
  readonly parityHfn: number;
  members: Member[];
}

/** One group as tests and reports see it. */
export interface GroupView {
  readonly id: number;
  readonly parityHfn: number;
  readonly members: ReadonlyArray<{ readonly vm: Vm; readonly pfn: number; readonly covered: boolean }>;
}

/** What parity costs and covers so far. */
export interface ParityStats {
  readonly groupSizePages: number;
  readonly groups: number;
  /** Host frames holding parity pages: the memory overhead. */
  readonly parityFrames: number;
  readonly coveredPages: number;
  /** Members written and waiting to rejoin (not protected meanwhile). */
  readonly openPages: number;
  /** Write-protect faults taken because a covered page was written. */
  readonly writeFaults: number;
  /** Open pages XORed back into their group. */
  readonly rejoins: number;
  /** Wall time spent XORing pages in and out of parity (write faults, joins, rejoins, recomputes), ns. */
  readonly updateWallNs: number;
  /** Mean share of member pages covered, sampled at each maintenance before rejoins (1 when no sample yet). */
  readonly meanCoveredFraction: number;
}

/** A rebuild attempt: the page's bytes, or the other members that are not sound. */
export type RebuildResult =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly wallNs: number }
  | { readonly ok: false; readonly why: "not covered" }
  | { readonly ok: false; readonly why: "peers unsound"; readonly unsound: ReadonlyArray<{ readonly vm: Vm; readonly pfn: number }> };

export interface ParityGroupOptions {
  readonly groupSizePages: number;
  readonly rejoinAfterNs: number;
  readonly maintainIntervalNs: number;
}

export class ParityGroups {
  readonly groupSizePages: number;
  readonly #host: Host;
  readonly #clock: Clock;
  readonly #options: ParityGroupOptions;
  readonly #vms: readonly Vm[];
  readonly #members = new Map<Vm, Map<number, Member>>();
  readonly #readers = new Map<Vm, PageLogReader>();
  readonly #open = new Set<Member>();
  readonly #groups: Group[] = [];
  /** Groups with fewer than k members, oldest first: new pages fill them before a new group starts. */
  readonly #vacant: Group[] = [];
  readonly #disposers: Disposer[] = [];
  #cancelTick: Cancel | null = null;
  #nextGroupId = 0;
  #writeFaults = 0;
  #rejoins = 0;
  #updateWallNs = 0;
  #memberCount = 0;
  #coveredShareSum = 0;
  #coverageSamples = 0;
  #closed = false;

  /** Groups the present pages of `vms` (clean-backed ones excepted) and starts maintenance on `clock`. */
  constructor(host: Host, clock: Clock, vms: readonly Vm[], options: ParityGroupOptions) {
    this.#host = host;
    this.#clock = clock;
    this.#options = options;
    this.groupSizePages = options.groupSizePages;
    this.#vms = vms;
    for (const vm of vms) {
      this.#members.set(vm, new Map());
      this.#readers.set(vm, vm.dirtyLog.open("ras-parity"));
      this.#disposers.push(vm.onFault(FaultReason.WriteProtect, (f) => this.#onWrite(f)));
      const clean = new Set(vm.files.cleanPages());
      for (let pfn = 0; pfn < vm.pages; pfn++) if (!clean.has(pfn)) this.#join(vm, pfn);
      const reader = this.#readers.get(vm)!;
      reader.sync(); // writes from before the groups existed are in them already
      reader.pages.clear();
    }
    this.#schedule();
  }

  /** Where `pfn` of `vm` stands: "covered", "open" or null (not a member). */
  statusOf(vm: Vm, pfn: number): "covered" | "open" | null {
    const m = this.#members.get(vm)?.get(pfn);
    return m ? (m.covered ? "covered" : "open") : null;
  }

  stats(): ParityStats {
    return {
      groupSizePages: this.groupSizePages,
      groups: this.#groups.length,
      parityFrames: this.#groups.length,
      coveredPages: this.#memberCount - this.#open.size,
      openPages: this.#open.size,
      writeFaults: this.#writeFaults,
      rejoins: this.#rejoins,
      updateWallNs: this.#updateWallNs,
      meanCoveredFraction: this.#coverageSamples === 0 ? 1 : this.#coveredShareSum / this.#coverageSamples,
    };
  }

  /** The groups and their members (for tests and reports). */
  groups(): GroupView[] {
    return this.#groups.map((g) => ({ id: g.id, parityHfn: g.parityHfn, members: g.members.map((m) => ({ vm: m.vm, pfn: m.pfn, covered: m.covered })) }));
  }

  /**
   * One maintenance pass (it also runs by itself every maintainIntervalNs):
   * open pages quiet for rejoinAfterNs rejoin their group, pages written for
   * the first time (or written after their file load) join one.
   */
  maintain(): void {
    const now = this.#clock.nowNs;
    const fresh: Array<[Vm, number]> = [];
    const changed = new Set<Group>();
    for (const vm of this.#vms) {
      if (vm.destroyed) continue;
      const reader = this.#readers.get(vm)!;
      reader.sync();
      const written = reader.pages.snapshot().toArray();
      reader.pages.clear();
      vm.files.refresh();
      const members = this.#members.get(vm)!;
      for (const pfn of written) {
        const m = members.get(pfn);
        if (m === undefined) fresh.push([vm, pfn]);
        else if (!m.covered) m.lastWriteNs = now;
        else changed.add(m.group);
      }
    }
    for (const g of changed) this.#recompute(g);
    if (this.#memberCount > 0) {
      this.#coveredShareSum += (this.#memberCount - this.#open.size) / this.#memberCount;
      this.#coverageSamples++;
    }
    for (const m of [...this.#open]) if (now - m.lastWriteNs >= this.#options.rejoinAfterNs) this.#rejoin(m);
    for (const [vm, pfn] of fresh) if (vm.files.peek(pfn) === null) this.#join(vm, pfn);
  }

  /** Rebuilds covered page `pfn` of `vm` from its group's parity and the other covered members, if they are all sound. */
  rebuild(vm: Vm, pfn: number): RebuildResult {
    const m = this.#members.get(vm)?.get(pfn);
    if (!m || !m.covered) return { ok: false, why: "not covered" };
    const peers = m.group.members.filter((x) => x !== m && x.covered);
    const frames: number[] = [m.group.parityHfn];
    const unsound: Array<{ vm: Vm; pfn: number }> = [];
    for (const p of peers) {
      const state = p.vm.states.of(p.pfn);
      if (state.kind === "present") frames.push(state.hfn);
      else unsound.push({ vm: p.vm, pfn: p.pfn });
    }
    if (unsound.length > 0) return { ok: false, why: "peers unsound", unsound };
    const started = performance.now();
    const bytes = this.#host.framePages.xorOf(frames);
    return { ok: true, bytes, wallNs: (performance.now() - started) * 1e6 };
  }

  /**
   * The pages `lost` (their bytes are gone) leave their groups, and each
   * group's parity is recomputed from its covered members that are still
   * sound; a covered member that is not sound leaves too (it is lost as well).
   */
  lose(lost: ReadonlyArray<{ readonly vm: Vm; readonly pfn: number }>): void {
    const touched = new Set<Group>();
    for (const { vm, pfn } of lost) {
      const m = this.#members.get(vm)?.get(pfn);
      if (m) touched.add(m.group);
    }
    for (const g of touched) this.#recompute(g);
  }

  /** Unprotects every covered page, frees the parity frames and stops maintenance. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTick?.();
    for (const d of this.#disposers) d();
    for (const g of this.#groups) {
      for (const m of g.members) if (m.covered && !m.vm.destroyed && m.vm.states.of(m.pfn).kind === "present") m.vm.states.unprotect(m.pfn);
      this.#host.framePages.free(g.parityHfn);
    }
    for (const [vm, reader] of this.#readers) if (!vm.destroyed) reader.close();
  }

  #schedule(): void {
    this.#cancelTick = this.#clock.schedule(this.#clock.nowNs + this.#options.maintainIntervalNs, () => {
      if (this.#closed) return;
      this.maintain();
      this.#schedule();
    });
  }

  /** A write to a covered page: its bytes leave the parity, the page is unprotected and the write goes on. */
  #onWrite(f: Fault): FaultAction {
    const m = this.#members.get(f.vm)?.get(f.pfn);
    if (!m || !m.covered) return "pass";
    const state = f.vm.states.of(f.pfn);
    if (state.kind !== "present") return "pass";
    this.#timed(() => this.#host.framePages.xorInto(m.group.parityHfn, state.hfn));
    f.vm.states.unprotect(f.pfn);
    m.covered = false;
    m.lastWriteNs = this.#clock.nowNs;
    this.#open.add(m);
    this.#writeFaults++;
    return "retry";
  }

  /** Puts page `pfn` of `vm` in a group (a vacant one first) when it is present and not a member. */
  #join(vm: Vm, pfn: number): void {
    const members = this.#members.get(vm)!;
    if (members.has(pfn)) return;
    const state = vm.states.of(pfn);
    if (state.kind !== "present") return;
    const group = this.#vacantGroup();
    const m: Member = { vm, pfn, group, covered: true, lastWriteNs: 0 };
    group.members.push(m);
    if (group.members.length === this.groupSizePages) this.#vacant.splice(this.#vacant.indexOf(group), 1);
    members.set(pfn, m);
    this.#memberCount++;
    this.#timed(() => this.#host.framePages.xorInto(group.parityHfn, state.hfn));
    vm.states.writeProtect(pfn);
  }

  /** An open page rejoins: its bytes go back into the parity and it is protected again. */
  #rejoin(m: Member): void {
    this.#open.delete(m);
    const state = m.vm.states.of(m.pfn);
    if (state.kind !== "present") {
      m.group.members.splice(m.group.members.indexOf(m), 1);
      this.#forget(m);
      if (!this.#vacant.includes(m.group)) this.#vacant.push(m.group);
      return;
    }
    this.#timed(() => this.#host.framePages.xorInto(m.group.parityHfn, state.hfn));
    m.vm.states.writeProtect(m.pfn);
    m.covered = true;
    this.#rejoins++;
  }

  /** Drops the members of `g` that are not present any more and recomputes its parity from the covered ones. */
  #recompute(g: Group): void {
    const keep: Member[] = [];
    const frames: number[] = [];
    for (const m of g.members) {
      const state = m.vm.states.of(m.pfn);
      if (state.kind === "present") {
        keep.push(m);
        if (m.covered) frames.push(state.hfn);
      } else {
        this.#forget(m);
      }
    }
    g.members = keep;
    this.#timed(() => this.#host.framePages.xor(g.parityHfn, frames));
    if (keep.length < this.groupSizePages && !this.#vacant.includes(g)) this.#vacant.push(g);
  }

  /** Drops member `m` from the books and clears its protection (its group's list is the caller's). */
  #forget(m: Member): void {
    if (m.covered && !m.vm.destroyed && m.vm.pte(m.pfn) !== 0n) m.vm.states.unprotect(m.pfn); // no stray protection left behind
    this.#members.get(m.vm)?.delete(m.pfn);
    this.#open.delete(m);
    this.#memberCount--;
  }

  #vacantGroup(): Group {
    const g = this.#vacant[0];
    if (g) return g;
    const fresh: Group = { id: this.#nextGroupId++, parityHfn: this.#host.framePages.alloc(), members: [] };
    this.#groups.push(fresh);
    this.#vacant.push(fresh);
    return fresh;
  }

  #timed(fn: () => void): void {
    const started = performance.now();
    fn();
    this.#updateWallNs += (performance.now() - started) * 1e6;
  }
}
