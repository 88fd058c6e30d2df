// The backup side of a protected VM: a staged stream receiver (epochs mode:
// a checkpoint's records are checked as they arrive and applied only at its
// COMMIT), the acknowledgement of each commit, and the failure detector (a
// heartbeat timeout). A damaged, cut, reordered or replayed stream stops the
// receiver with a typed error and leaves the guest at its last commit; on
// failover the guest is taken as that commit left it.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Host } from "../host/host.js";
import type { Vm } from "../host/vm.js";
import { StreamReceiver } from "../stream/receiver.js";

/** Frames the backup keeps free beyond the guest's pages: its page tables and the receiver's buffers. */
const BACKUP_SLACK_FRAMES = 1024;
/** Smallest staging room: a few chunks (4 MiB). */
const MIN_STAGING_FRAMES = 1024;

export class Backup {
  readonly host: Host;
  readonly receiver: StreamReceiver;
  /** The first error the stream met (the backup stays at its last commit), or null. */
  error: HypermemError | null = null;
  #committed = -1;

  /**
   * Refuses a guest of `guestPages` pages the host could not hold whole (it
   * must, to take over) with room left to stage a checkpoint:
   * ERR_BACKUP_MEMORY naming both sizes, before any byte is sent. What a
   * checkpoint may stage is bounded by twice the guest (a page can go early
   * and again at the pause) and by the room left.
   */
  constructor(host: Host, guestPages: number) {
    const free = host.maxFrames - host.kernels.frames.used;
    const need = guestPages + BACKUP_SLACK_FRAMES + MIN_STAGING_FRAMES;
    if (need > free) {
      throw new HypermemError(
        ErrorCode.BackupMemory,
        `the backup host has ${free} free frames (${(free / 256).toFixed(0)} MiB); a ${guestPages}-page guest (${(guestPages / 256).toFixed(0)} MiB) needs ${need} with its page tables and staging: protection refused`,
        { guestPages, framesFree: free, framesNeeded: need },
      );
    }
    const stagingFrames = Math.min(2 * guestPages + MIN_STAGING_FRAMES, free - guestPages - BACKUP_SLACK_FRAMES);
    this.host = host;
    this.receiver = new StreamReceiver(host, { mode: "epochs", maxStagedBytes: stagingFrames * 4096 });
  }

  /** Number of the last committed checkpoint, -1 before the first. */
  get committed(): number { return this.#committed; }

  /** The backup's guest: always the state of the last commit (null before the stream header). */
  get vm(): Vm | null { return this.receiver.vm; }

  /** Takes stream bytes; returns the checkpoints they committed (in order). A stream error is kept in `error` and ends the reception. */
  receive(bytes: Uint8Array): number[] {
    if (this.error) return [];
    try {
      this.receiver.push(bytes);
    } catch (err) {
      this.error = err instanceof HypermemError ? err : new HypermemError(ErrorCode.StreamCorrupt, String(err));
    }
    const commits: number[] = [];
    while (this.#committed < this.receiver.epoch) commits.push(++this.#committed);
    return commits;
  }

  /** Failover: the guest as the last commit left it (records of an unfinished checkpoint are dropped), or null when nothing was committed. */
  activate(): { vm: Vm; checkpoint: number } | null {
    const taken = this.receiver.takeCommitted();
    if (!taken || taken.epoch < 0) return null;
    return { vm: taken.vm, checkpoint: taken.epoch };
  }
}
