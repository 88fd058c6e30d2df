// Giving a destination host's memory back to the operating system. A wasm
// memory only grows: once a large guest was received, the host's linear
// memory stays committed (4 GB of RSS after a 3.75 GiB guest) even when every
// frame is free again. The only way back is a new host (a new wasm instance)
// and a garbage collection that frees the old memory's backing store
// (collectGarbage, src/net/native-memory.ts).
import type { Host } from "../host/host.js";

export { collectGarbage } from "../net/native-memory.js";

/**
 * True when replacing `host` by a new one would give memory back: it holds
 * no VM and its linear memory grew past `freshBytes` (what it started with).
 * The caller then drops every reference to it and calls collectGarbage().
 */
export function worthReleasing(host: Host, freshBytes: number): boolean {
  const stats = host.stats();
  return stats.vms === 0 && stats.linearMemoryBytes > freshBytes;
}
