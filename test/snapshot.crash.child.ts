// Child process of test/snapshot.crash.test.ts: saves a 4 MiB guest into
// the snapshot file named by argv[2]. With "stall", it prints "saving" at
// the first progress report and then waits (the parent kills it there, in
// the middle of the save); with "run", it saves to the end (the parent
// limits the file size so the write fails) and prints "saved".
//
// Usage: node --import tsx test/snapshot.crash.child.ts FILE stall|run
import { randomFillSync } from "node:crypto";
import { createHost, saveSnapshot } from "../src/index.js";

const [path, how] = process.argv.slice(2);
const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 1024 });
vm.writePages(0, randomFillSync(new Uint8Array(1024 * 4096)));
const wait = new Int32Array(new SharedArrayBuffer(4));
saveSnapshot(vm, path, {
  chunkPages: 64,
  onProgress: () => {
    if (how !== "stall") return;
    process.stdout.write("saving\n");
    Atomics.wait(wait, 0, 0, 60_000);
  },
});
process.stdout.write("saved\n");
