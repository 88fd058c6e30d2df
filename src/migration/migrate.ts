// In-process live migration between two hosts of this process: the source
// engine (src/migration/precopy.ts) and the destination's stream receiver
// joined by an in-memory channel, on a simulated Timeline and link.
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { createChannelPair, type Channel } from "../net/channel.js";
import { SimulatedLink } from "../sim/link.js";
import { Timeline } from "../sim/timeline.js";
import { encodeAck } from "../stream/format.js";
import { StreamReceiver } from "../stream/receiver.js";
import { verifyGuests } from "../stream/verify.js";
import { claimMigration, releaseMigration } from "./migrating.js";
import { resolveMigrationOptions, type MigrationOptions } from "./options.js";
import { migrateSource } from "./precopy.js";
import type { MigrationResult } from "./stats.js";

export interface MigrationOutcome extends MigrationResult {
  /** The running destination guest (null unless completed). */
  destination: Vm | null;
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
  claimMigration(vm);
  let result: MigrationResult;
  let dest: Vm | Error;
  try {
    const link = new SimulatedLink(o.timeline ?? new Timeline(), o.link);
    const [sourceEnd, destEnd] = createChannelPair();
    const received = migrateDestination(destination, destEnd).then((v) => v, (e: unknown) => e as Error);
    result = await migrateSource(vm, sourceEnd, o, link);
    dest = await received;
  } finally {
    releaseMigration(vm);
  }
  // The source reports completed only after the destination acknowledged, so then dest is its Vm.
  const destVm = dest instanceof Error ? null : dest;
  if (result.status === "completed" && destVm && o.verify) result.verification = verifyGuests(vm, destVm);
  return { ...result, destination: result.status === "completed" ? destVm : null };
}
