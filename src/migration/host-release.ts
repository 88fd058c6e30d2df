// Giving a destination host's memory back to the operating system. A wasm
// memory only grows: once a large guest was received, the host's linear
// memory stays committed (4 GB of RSS after a 3.75 GiB guest) even when every
// frame is free again. The only way back is a new host (a new wasm instance)
// and a garbage collection that frees the old memory's backing store, which
// V8 may otherwise put off indefinitely in an idle process (it collects when
// JavaScript allocates, not when RSS is high). collectGarbage() runs a full
// collection: through globalThis.gc when Node runs with --expose-gc, else
// through a gc function obtained once by the documented way of turning that
// flag on at run time (v8.setFlagsFromString, then a new context, which is
// the only place the flag takes effect; it is turned off again at once).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Host } from "../host/host.js";

let gc: (() => void) | null | undefined;

function findGc(): (() => void) | null {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === "function") return exposed as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    return typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    return null;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

/** Runs a full garbage collection; false when this Node offers no way to. */
export function collectGarbage(): boolean {
  gc ??= findGc();
  gc?.();
  return gc !== null;
}

/**
 * True when replacing `host` by a new one would give memory back: it holds
 * no VM and its linear memory grew past `freshBytes` (what it started with).
 * The caller then drops every reference to it and calls collectGarbage().
 */
export function worthReleasing(host: Host, freshBytes: number): boolean {
  const stats = host.stats();
  return stats.vms === 0 && stats.linearMemoryBytes > freshBytes;
}
