// A migration whose stream is damaged in flight (a flipped bit, a cut
// connection, a duplicated, dropped or reordered chunk): always a typed
// error, never a crash or a hang; the migration reports failed, the source
// guest is intact, the destination holds nothing, and a retry succeeds.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost, ErrorCode, HypermemError, injectMemoryError, SimulatedLink, Timeline } from "../src/index.js";
import { createChannelPair, type Channel } from "../src/net/channel.js";
import { resolveMigrationOptions } from "../src/migration/options.js";
import { migrate, migrateDestination } from "../src/migration/migrate.js";
import { migrateSource } from "../src/migration/precopy.js";
import { TEST_LIMITS } from "./helpers.js";

type Damage =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "cut"; at: number }
  | { kind: "dup" | "drop" | "swap"; send: number };

/** The source's end of a channel, damaging what it sends as `damage` says. */
function damaging(inner: Channel, damage: Damage): Channel {
  let offset = 0;
  let sends = 0;
  let held: Uint8Array | null = null;
  return {
    async send(bytes) {
      const index = sends++;
      const start = offset;
      offset += bytes.length;
      if (damage.kind === "flip" && damage.at >= start && damage.at < offset) {
        const copy = bytes.slice();
        copy[damage.at - start] ^= 1 << damage.bit;
        return inner.send(copy);
      }
      if (damage.kind === "cut" && damage.at < offset) {
        if (damage.at > start) await inner.send(bytes.slice(0, damage.at - start));
        inner.close();
        throw new HypermemError(ErrorCode.MigrationFailed, `connection cut at byte ${damage.at}`);
      }
      if ("send" in damage && damage.send === index) {
        if (damage.kind === "drop") return;
        if (damage.kind === "dup") {
          await inner.send(bytes.slice());
          return inner.send(bytes);
        }
        held = bytes.slice();
        return;
      }
      await inner.send(bytes);
      if (held) {
        const late = held;
        held = null;
        await inner.send(late);
      }
    },
    receive: () => inner.receive(),
    close: (error) => inner.close(error),
  };
}

// A flipped bit in the header's version field is ERR_FORMAT_VERSION (the format layer's check), not a stream code.
const STREAM_CODES = ["ERR_STREAM_CORRUPT", "ERR_FORMAT_VERSION", "ERR_STREAM_TRUNCATED", "ERR_STREAM_LIMIT", "ERR_STREAM_DIGEST", "ERR_MIGRATION_FAILED"];

describe("a damaged migration stream", () => {
  const source = createHost({ memoryMiB: 16 });
  const vm = source.createVm({ pages: 300 });
  vm.write(0, Uint8Array.from({ length: 250 * 4096 }, (_, i) => (i * 2654435761) >>> 24));
  injectMemoryError(source, { vm, gpa: 17 * 4096 });
  const destination = createHost({ memoryMiB: 16 });
  const baseline = destination.stats().usedFrames;
  const link = { bandwidthBytesPerSec: 1.25e8 };
  const options = resolveMigrationOptions({ ...TEST_LIMITS, ...link });
  const simulated = (): SimulatedLink => new SimulatedLink(new Timeline(), options.link);

  it("fails with a typed error, leaves both sides as they were, and a retry succeeds", async () => {
    const [probeSrc, probeDst] = createChannelPair();
    let streamBytes = 0;
    let streamSends = 0;
    const counting: Channel = { ...probeSrc, send: (b) => { streamBytes += b.length; streamSends++; return probeSrc.send(b); } };
    const [clean, received] = await Promise.all([migrateSource(vm, counting, options, simulated()), migrateDestination(destination, probeDst)]);
    expect(clean.status).toBe("completed");
    received.destroy();
    const before = vm.read(0, 300 * 4096 - 4096 * 283);

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ kind: fc.constant("flip" as const), at: fc.nat(streamBytes - 1), bit: fc.nat(7) }),
          fc.record({ kind: fc.constant("cut" as const), at: fc.nat(streamBytes - 1) }),
          fc.record({ kind: fc.constantFrom("dup" as const, "drop" as const, "swap" as const), send: fc.nat(streamSends - 2) }),
        ),
        async (damage) => {
          const [a, b] = createChannelPair();
          const [result, dest] = await Promise.all([
            migrateSource(vm, damaging(a, damage), options, simulated()),
            migrateDestination(destination, b).then((v) => v, (e: unknown) => e),
          ]);
          expect(result.status).toBe("failed");
          expect(STREAM_CODES).toContain(result.error?.code);
          expect(dest).toBeInstanceOf(HypermemError);
          expect(STREAM_CODES).toContain((dest as HypermemError).code);
          expect(destination.stats()).toMatchObject({ vms: 0, usedFrames: baseline });
          expect(Buffer.compare(vm.read(0, 17 * 4096), before)).toBe(0);
          expect(vm.pteInfo(17).poisoned).toBe(true);
        },
      ),
      { numRuns: 60 },
    );

    const retry = await migrate(vm, destination, { ...TEST_LIMITS, ...link });
    expect(retry.status).toBe("completed");
    expect(retry.verification).toMatchObject({ ok: true, poisonedPages: 1 });
  });
});
