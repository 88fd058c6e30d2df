// The TypeScript reference of the whole-page kernels (assembly/guest-pages.ts,
// Vm.readPages and Vm.writePages): the same pages moved one at a time
// through the per-page path, vm.read and vm.write, and the states a write
// refuses, read from each page's entry.
import type { Vm } from "../../src/index.js";

/** Pages [first, first + count), 4 KiB each, read one by one. */
export function readPagesRef(vm: Vm, first: number, count: number): Uint8Array {
  const out = new Uint8Array(count * 4096);
  for (let i = 0; i < count; i++) out.set(vm.read((first + i) * 4096, 4096), i * 4096);
  return out;
}

/** The first page of [first, first + count) that writePages refuses (not untouched, present or traced), or -1. */
export function refusedPageRef(vm: Vm, first: number, count: number): number {
  for (let i = 0; i < count; i++) {
    const kind = vm.states.of(first + i).kind;
    if (kind !== "unpopulated" && kind !== "zero-mapped" && kind !== "present" && kind !== "traced") return first + i;
  }
  return -1;
}

/** Writes whole pages one by one. */
export function writePagesRef(vm: Vm, first: number, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length / 4096; i++) vm.write((first + i) * 4096, bytes.subarray(i * 4096, (i + 1) * 4096));
}
