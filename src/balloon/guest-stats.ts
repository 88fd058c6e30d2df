// A guest's memory statistics, named as virtio-balloon reports them and QEMU
// shows them (qom-get guest-stats: stat-swap-in, stat-major-faults...; the
// balloon's `actual` and `target`), plus the stall time guest paging cost
// (for the memory condition's PSI figures).

/** Counters a guest keeps (pages and events since boot). */
export interface GuestCounters {
  /** Pages the guest OS read back from its swap (a balloon had taken their frames). */
  swapInPages: number;
  /** Pages the guest OS wrote to its swap to give their frames to the balloon. */
  swapOutPages: number;
  /** Faults that had to read a page back from swap. */
  majorFaults: number;
  /** Faults on a ballooned page that held nothing (zero-filled). */
  minorFaults: number;
  /** Simulated time the guest's vCPU stalled on memory (major faults). */
  stallNs: number;
  /** Pages with data the balloon took (paged out first). */
  takenWithData: number;
}

export function newCounters(): GuestCounters {
  return { swapInPages: 0, swapOutPages: 0, majorFaults: 0, minorFaults: 0, stallNs: 0, takenWithData: 0 };
}

/** One VM's balloon and guest statistics at an instant, with QEMU's names where they exist (bytes unless said). */
export interface BalloonStats {
  readonly actual: number;
  readonly target: number;
  readonly "stat-swap-in": number;
  readonly "stat-swap-out": number;
  readonly "stat-major-faults": number;
  readonly "stat-minor-faults": number;
  readonly "stat-free-memory": number;
  readonly "stat-total-memory": number;
  readonly "stat-available-memory": number;
}
