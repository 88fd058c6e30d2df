// `hypermem disk fragments --dir DIR`: the fragment store of a disk folder
// (src/storage/store.ts), one line per fragment: the disk, its committed
// offset, its age and when it expires. Read only: nothing is moved or deleted.
import { listFragments } from "../storage/store.js";
import { duration, flag, text } from "./option-kinds.js";
import { defineCommand } from "./registry.js";
import { formatBytes } from "./units.js";

const ageText = (ms: number): string => (ms < 120_000 ? `${(ms / 1e3).toFixed(0)} s` : ms < 7_200_000 ? `${(ms / 60_000).toFixed(0)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

export const diskFragmentsCommand = defineCommand({
  name: ["disk", "fragments"],
  summary: "list the fragments a disk folder keeps from failed transfers (disk, committed offset, age)",
  description: "Lists the fragment store of DIR (the folder of `hypermem listen --disk-dir`): for each fragment of a " +
    "failed transfer, the disk's name and size, the offset its record committed, its age since the last write, the " +
    "bytes it takes and when it expires. Nothing is changed.",
  options: {
    dir: text({ help: "the disk folder of hypermem listen --disk-dir", required: true, placeholder: "DIR" }),
    "fragment-ttl": duration({ help: "the destination's fragment lifetime, for the expiry column", default: "10080min", minNs: 0, maxNs: 3650 * 86400e9 }),
    json: flag({ help: "print one JSON object (an error too)" }),
  },
  examples: ["hypermem disk fragments --dir ."],
  run(v, ctx) {
    const fragments = listFragments(v.dir, { fragmentTtlMs: v["fragment-ttl"] / 1e6 });
    if (v.json) {
      ctx.stdout.write(`${JSON.stringify({ dir: v.dir, fragments })}\n`);
      return 0;
    }
    const lines = fragments.map((f) => `  ${f.name.padEnd(24)} ${formatBytes(f.committedBytes).padStart(10)} of ${formatBytes(f.sizeBytes).padEnd(10)} ` +
      `age ${ageText(f.ageMs).padEnd(8)} stored ${formatBytes(f.storedBytes).padEnd(10)} ${f.expiresInMs > 0 ? `expires in ${ageText(f.expiresInMs)}` : "expired"}`);
    ctx.stdout.write(`${fragments.length} fragment${fragments.length === 1 ? "" : "s"} in ${v.dir}\n${lines.join("\n")}${lines.length ? "\n" : ""}`);
    return 0;
  },
});
