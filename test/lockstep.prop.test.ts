// Properties of quasi-lockstep over seeds, nondeterminism rates and failure
// instants (fast-check): after every resync the secondary equals the
// primary byte for byte (an oracle independent of the run's own digest
// check), and a failover at any instant never duplicates, loses or
// reorders a packet the outside saw, nor releases one the surviving copy
// did not produce.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runLockstep } from "../src/lockstep/lockstep.js";
import { emitted, firstDifference, hex, pair, seqsPerConnection, SMALL_WORKLOAD, traced } from "./lockstep-helpers.js";

describe("lockstep properties", () => {
  it("after every resync the secondary equals the primary byte for byte", async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 400 }), async (seed, rate) => {
      const { primary, secondaryHost } = pair(1);
      const differences: number[] = [];
      const r = await runLockstep(primary, secondaryHost, {
        workload: { ...SMALL_WORKLOAD, seed }, seed, nondeterminismPerSec: rate, durationMs: 150, checkpointDelayMs: 50,
        onFlushed: (_attempt, secondary) => { differences.push(firstDifference(primary, secondary)); },
      });
      expect(differences.length).toBe(r.resyncRecords.length);
      expect(differences.every((d) => d === -1)).toBe(true);
      expect(r.resyncRecords.every((x) => x.verified === true)).toBe(true);
    }), { numRuns: 8 });
  }, 120_000);

  it("a failover at a random instant never duplicates, loses or reorders a released packet", async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 300 }), fc.double({ min: 0, max: 200, noNaN: true }),
      async (seed, rate, failAtMs) => {
        const { r, events } = await traced({ seed, nondeterminismPerSec: rate, durationMs: 200, failAtMs, packetsPerSec: 2000, workload: { ...SMALL_WORKLOAD, seed } }, 1);
        expect(r.status).toBe("failed-over");
        expect(r.packets.outOfOrder).toBe(0);
        for (const seqs of seqsPerConnection(r).values()) expect(seqs).toEqual(seqs.map((_, i) => i));
        const secondary = emitted(events, "secondary");
        const primary = emitted(events, "primary");
        const failNs = (events.find((e) => e.type === "fail") as { atNs: number }).atNs;
        const committed = events.filter((e) => e.type === "resync" && e.phase === "committed").map((e) => (e as { atNs: number }).atNs);
        for (const p of r.released) {
          const key = `${p.connection}:${p.seq}`;
          const payload = hex(p.payload);
          if (p.origin === "matched") expect(secondary.get(key)?.has(payload)).toBe(true);
          if (p.origin !== "secondary") expect(p.releasedNs).toBeLessThanOrEqual(failNs);
          if (p.origin === "secondary" && !secondary.get(key)?.has(payload)) {
            // adopted at a resync: the primary produced it and a checkpoint holding its state committed on the secondary
            expect(primary.get(key)?.has(payload)).toBe(true);
            expect(committed.some((t) => t >= p.emittedNs)).toBe(true);
          }
        }
        expect(r.released.filter((p) => p.origin === "secondary").length).toBeGreaterThan(0);
      }), { numRuns: 10 });
  }, 120_000);
});
