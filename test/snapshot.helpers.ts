// Helpers of the snapshot tests: a scratch folder, a guest prefilled with
// seeded data and running a workload on a timeline, the copy of its memory
// at an instant, and byte-for-byte comparison of two memories.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { createHost, Timeline, type GuestWorkload, type Vm, type WorkloadOptions } from "../src/index.js";

/** A fresh folder for the test file's snapshots. */
export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `hypermem-${name}-`));
}

export interface RunningGuest {
  readonly vm: Vm;
  readonly timeline: Timeline;
  readonly workload: GuestWorkload;
}

/** A `pages`-page guest whose first `prefill` pages are written with seeded data, running `workload` on its own timeline. */
export function runningGuest(pages: number, prefill: number, workload: WorkloadOptions, hostMiB = 32): RunningGuest {
  const vm = createHost({ memoryMiB: hostMiB }).createVm({ pages });
  if (prefill > 0) {
    const fill = vm.startWorkload({ kind: "sequential", ratePerSec: prefill, writeFraction: 1, writeBytes: 4096, seed: 77, pageCount: prefill });
    fill.runFor(1e9);
    fill.close();
  }
  vm.harvestDirty();
  vm.harvestAccessed();
  const timeline = new Timeline();
  const w = vm.startWorkload(workload);
  w.attach(timeline);
  return { vm, timeline, workload: w };
}

/** Every page of `vm`, read through the page hook (what a guest would read). */
export function memoryOf(vm: Vm): Uint8Array {
  return vm.readPages(0, vm.pages);
}

/** Fails naming the first differing page when `actual` and `expected` differ. */
export function expectSameMemory(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length === expected.length && Buffer.compare(actual, expected) === 0) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  expect.fail(`${what}: memories differ (${actual.length} and ${expected.length} bytes), first at byte ${i} (page ${Math.floor(i / 4096)})`);
}
