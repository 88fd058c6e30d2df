// Shared pieces of the lockstep tests: two fresh hosts and a prefilled
// guest, a run that records its trace, and oracles over what the outside
// received (each packet once, in order, per connection).
import { createHost, type Host } from "../src/host/host.js";
import type { Vm } from "../src/host/vm.js";
import { runLockstep, type LockstepOutcome, type LockstepTraceEvent } from "../src/lockstep/lockstep.js";
import type { LockstepOptions } from "../src/lockstep/options.js";
import type { Packet } from "../src/lockstep/output.js";

export const SMALL_WORKLOAD = Object.freeze({ kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9, ratePerSec: 50_000 } as const);

export function pair(guestMiB = 2): { primary: Vm; secondaryHost: Host } {
  const a = createHost({ memoryMiB: 16 + 3 * guestMiB });
  const b = createHost({ memoryMiB: 16 + 3 * guestMiB });
  const primary = a.createVm({ memoryMiB: guestMiB });
  primary.prefillPages(0, primary.pages, 7);
  return { primary, secondaryHost: b };
}

export interface Traced {
  readonly r: LockstepOutcome;
  readonly primary: Vm;
  readonly events: LockstepTraceEvent[];
}

export async function traced(options: LockstepOptions, guestMiB = 2): Promise<Traced> {
  const { primary, secondaryHost } = pair(guestMiB);
  const events: LockstepTraceEvent[] = [];
  const r = await runLockstep(primary, secondaryHost, { workload: SMALL_WORKLOAD, ...options }, (e) => events.push(e));
  return { r, primary, events };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Every payload each side emitted, by "connection:seq". */
export function emitted(events: readonly LockstepTraceEvent[], side: Packet["side"]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.type !== "emit" || e.packet.side !== side) continue;
    const key = `${e.packet.connection}:${e.packet.seq}`;
    if (!m.has(key)) m.set(key, new Set());
    m.get(key)!.add(hex(e.packet.payload));
  }
  return m;
}

/** Per connection, the seqs the outside received, in order: must be 0, 1, 2... with no gap and no repeat. */
export function seqsPerConnection(r: LockstepOutcome): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const p of r.released) {
    if (!m.has(p.connection)) m.set(p.connection, []);
    m.get(p.connection)!.push(p.seq);
  }
  return m;
}

/** First differing byte of two guests, or -1 when equal. */
export function firstDifference(a: Vm, b: Vm): number {
  const x = a.readPages(0, a.pages);
  const y = b.readPages(0, b.pages);
  if (Buffer.compare(x, y) === 0) return -1;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return x.length;
}
