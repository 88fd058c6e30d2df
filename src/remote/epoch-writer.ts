// An epoch's write-back to a region in one go, without a guest: its pages to
// staging, its list published, its pages home, in the order the compute
// host's timed write-back uses (compute.ts). `stopAfter` cuts it after that
// many of the 2n + 1 steps (n staged pages, the publish, n pages home): a
// failure in the middle, for tests and figures.
import { xxh3Pages } from "../pages/page-window.js";
import { PAGE_BYTES } from "./region-layout.js";
import { dirtyListEntries, type RemoteRegion } from "./region.js";

/** Writes epoch `epoch`: `pages` holds pfns.length pages, in order. Returns the steps done. */
export function writeEpoch(region: RemoteRegion, epoch: number, pfns: ArrayLike<number>, pages: Uint8Array, stopAfter = Infinity): number {
  const n = pfns.length;
  const versions = Array.from({ length: n }, (_, i) => region.homeVersion(pfns[i]) + 1);
  const hashes = xxh3Pages(pages.subarray(0, n * PAGE_BYTES));
  const entries = dirtyListEntries(pfns, versions, hashes);
  let steps = 0;
  for (let i = 0; i < n; i++) {
    if (steps >= stopAfter) return steps;
    region.writeStaged(i, pages.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES));
    steps++;
  }
  if (steps >= stopAfter) return steps;
  region.publishList(epoch, entries);
  steps++;
  for (let i = 0; i < n; i++) {
    if (steps >= stopAfter) return steps;
    region.writeHome(pfns[i], pages.subarray(i * PAGE_BYTES, (i + 1) * PAGE_BYTES), versions[i], hashes, i);
    steps++;
  }
  return steps;
}
