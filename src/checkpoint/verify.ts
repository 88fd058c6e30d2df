// The failover check: the guest the backup activates must equal the
// primary's memory at the pause of the checkpoint it resumed from. The
// primary records a digest of its whole guest at every pause (the page
// fingerprints of src/stream/fingerprints.ts, folded); the backup's guest
// is digested the same way when it takes over. A difference is
// ERR_FAILOVER_MISMATCH, naming the checkpoint and both digests.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import { guestDigest } from "../stream/fingerprints.js";

export interface TakeoverCheck {
  /** The backup guest's digest equals the recorded one. */
  readonly verified: boolean;
  /** The backup guest's digest, 0x-hex. */
  readonly digest: string;
  /** ERR_FAILOVER_MISMATCH when it differs, else null. */
  readonly error: HypermemError | null;
}

export const hexDigest = (d: bigint): string => `0x${d.toString(16).padStart(16, "0")}`;

/** Checks `vm` (the backup's guest, resumed from `checkpoint`) against `expected`, the primary's digest at that checkpoint's pause. */
export function checkTakeover(vm: Vm, checkpoint: number, expected: bigint): TakeoverCheck {
  const own = guestDigest(vm).digest;
  if (own === expected) return { verified: true, digest: hexDigest(own), error: null };
  const error = new HypermemError(ErrorCode.FailoverMismatch,
    `the backup guest (vm ${vm.id}) resumed from checkpoint ${checkpoint} has digest ${hexDigest(own)}, the primary's memory at that checkpoint's pause had ${hexDigest(expected)}`,
    { checkpoint, digest: hexDigest(own), expected: hexDigest(expected) });
  return { verified: false, digest: hexDigest(own), error };
}
