// The floor under an in-process migration: the three passes the migration
// stream makes over a guest, each timed alone, beside a plain copy of the
// same bytes in the same run. No guest runs and no link is simulated, so this
// is what migrate-1GiB-inprocess would cost with nothing else to do.
//
//   pack     the source's streamPack of every page (copy into the chunk, streaming XXH3-64 chunk checksum)
//   receive  the destination's StreamReceiver: payload into its host, chunk check, copy into frames with fingerprints, its digest check
//   digest   the source's endStream(): the poisoned-page walk and the memory digest (a hash pass over the stopped guest)
//   copy     Uint8Array.prototype.set of the same number of bytes, 256 MiB at a time (memmove)
//
// Every pass is verified before its time counts: the receiver checks each
// chunk's checksum and, at END_STREAM, its digest of the rebuilt guest
// against the source's (test/stream.test.ts makes both fail). A warm-up pass
// lets the OS fault in the destination's frames first.
//
//   npx tsx bench/migration-passes.ts [--guest MiB] [--passes N]
import { PfnList } from "../src/host/page-set.js";
import { hostPair, scenarioHostMiB } from "../src/migration/scenario.js";
import { PagePacker } from "../src/stream/packer.js";
import { StreamReceiver } from "../src/stream/receiver.js";
import { benchArgs, usageError } from "./cli-args.js";
import { median } from "./stats.js";

const USAGE = "npx tsx bench/migration-passes.ts [--guest MiB] [--passes N]";
const values = benchArgs("migration-passes", USAGE, {
  options: { guest: { type: "string", default: "1024" }, passes: { type: "string", default: "5" } },
});
const guestMiB = Number(values.guest);
/** The largest guest whose hosts (the guest and 256 MiB, at most 4 GiB each) hold it. */
const MAX_GUEST_MIB = 4096 - 256;
if (!Number.isInteger(guestMiB) || guestMiB < 16 || guestMiB > MAX_GUEST_MIB) usageError("migration-passes", USAGE, `--guest ${values.guest}: must be a whole number of MiB from 16 to ${MAX_GUEST_MIB}`);
const passes = Number(values.passes);
if (!Number.isInteger(passes) || passes < 1 || passes > 50) usageError("migration-passes", USAGE, `--passes ${values.passes}: must be a whole number from 1 to 50`);

const LIST_PAGES = 65_536;
const COPY_BYTES = 256 << 20;

interface PassMs { pack: number; receive: number; digest: number; copy: number; wireBytes: number }

const { source, destination } = hostPair(scenarioHostMiB({ guestMiB }));
const vm = source.createVm({ memoryMiB: guestMiB });
vm.prefillPages(0, vm.pages, 7);
vm.pause();
const list = new PfnList(source.kernels, LIST_PAGES);
const copyFrom = new Uint8Array(COPY_BYTES).fill(0x5a);
const copyTo = new Uint8Array(COPY_BYTES);

/** One verified pass of each; the destination guest is destroyed afterwards. */
function pass(): PassMs {
  const packer = new PagePacker(vm, { xbzrleCacheBytes: null, borrowChunks: true, chunkBuffers: 1 });
  const receiver = new StreamReceiver(destination);
  receiver.push(packer.header());
  let pack = 0;
  let receive = 0;
  let wireBytes = 0;
  for (let first = 0; first < vm.pages; first += LIST_PAGES) {
    const n = Math.min(LIST_PAGES, vm.pages - first);
    list.set(Array.from({ length: n }, (_, i) => first + i));
    for (let at = 0; at < n;) {
      const t0 = performance.now();
      const { consumed, chunk } = packer.packChunk(list, at, n - at, "bulk", 1);
      const t1 = performance.now();
      if (chunk) receiver.push(chunk);
      receive += performance.now() - t1;
      pack += t1 - t0;
      wireBytes += chunk?.length ?? 0;
      at += consumed;
    }
  }
  const t0 = performance.now();
  const end = packer.endStream();
  const t1 = performance.now();
  receiver.push(end);
  const rebuilt = receiver.finish();
  const t2 = performance.now();
  const digest = t1 - t0;
  receive += t2 - t1;
  wireBytes += end.length;
  rebuilt.destroy();
  packer.close();
  const t3 = performance.now();
  for (let done = 0; done < wireBytes; done += COPY_BYTES) copyTo.set(done + COPY_BYTES <= wireBytes ? copyFrom : copyFrom.subarray(0, wireBytes - done));
  const copy = performance.now() - t3;
  return { pack, receive, digest, copy, wireBytes };
}

pass();
const runs = Array.from({ length: passes }, pass);
const wireBytes = runs[0].wireBytes;
const row = (name: string, ms: number): string => `${name.padEnd(46)}${ms.toFixed(0).padStart(7)}${(wireBytes / ms / 1e6).toFixed(2).padStart(9)}`;
const ms = (k: keyof PassMs): number => median(runs.map((r) => r[k]));
const all = median(runs.map((r) => r.pack + r.receive + r.digest));
console.log(`${guestMiB} MiB guest, ${(wireBytes / 1e9).toFixed(3)} GB on the wire, median of ${passes} verified passes after a warm-up`);
console.log(`${"pass".padEnd(46)}${"ms".padStart(7)}${"GB/s".padStart(9)}`);
console.log(row("source: pack (copy, chunk checksum)", ms("pack")));
console.log(row("destination: receive (check, copy, fingerprint)", ms("receive")));
console.log(row("source: END_STREAM digest", ms("digest")));
console.log(row("the three passes", all));
console.log(row("plain copy of the same bytes (memmove)", ms("copy")));
console.log(`the three passes run at ${(ms("copy") / all).toFixed(2)}x the plain copy`);
vm.destroy();
list.free();
