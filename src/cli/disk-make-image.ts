// `hypermem disk make-image --size SIZE --fill F --seed N PATH`: a test disk
// image with data and zero runs (src/storage/make-image.ts), sparse; a
// progress bar on stderr when it is a terminal.
import { makeImage } from "../storage/make-image.js";
import { flag, fraction, integer, outputFile, size } from "./option-kinds.js";
import { ByteProgress } from "./disk-progress.js";
import { defineCommand } from "./registry.js";
import { formatBytes } from "./units.js";

export const diskMakeImageCommand = defineCommand({
  name: ["disk", "make-image"],
  summary: "write a test disk image: runs of random data and of zeros (left as holes), the same for the same seed",
  description: "Writes a raw disk image of --size bytes made of runs of 1 to 16 extents of 64 KiB, each run random data " +
    "with probability --fill and zeros otherwise (zero runs are holes: the file is sparse). The same size, fill and " +
    "seed give the same bytes. Prints the image's SHA-256.",
  options: {
    size: size({ help: "the image's size", required: true, minBytes: 0, maxBytes: 2 ** 44 }),
    fill: fraction({ help: "the share of the image that is data", default: "0.5" }),
    seed: integer({ help: "the seed of the data and of the runs", default: "1", min: 0, max: 0xffffffff }),
    json: flag({ help: "print one JSON object (an error too)" }),
  },
  positionals: {
    path: outputFile({ help: "the image to write", required: true }),
  },
  examples: ["hypermem disk make-image --size 8MiB --fill 0.3 --seed 7 disk.raw"],
  run(v, ctx) {
    const progress = new ByteProgress("make-image", ctx.stderr);
    const r = makeImage(v.path, v.size, v.fill, v.seed, (done) => progress.bar(done, v.size, ""));
    progress.done();
    ctx.stdout.write(v.json ? `${JSON.stringify(r)}\n` : `wrote ${r.path}: ${formatBytes(r.sizeBytes)}, ${formatBytes(r.dataBytes)} of data, sha256 ${r.sha256}\n`);
    return 0;
  },
});
