// Wall-clock speed of an in-process live migration: a 1 GiB guest, fully
// touched, running a hot/cold workload, migrated over a simulated 10 Gbit
// link (XBZRLE off, no verification pass). Reported as bytes sent per wall
// second; compare with the native page-copy-256MiB rate (npm run bench:native).
// The first pass lands on a fresh destination host (its frames are faulted in
// by the OS as they are first written); later passes reuse the freed frames.
import type { ScenarioBench } from "./case.js";
import { migrate } from "../src/migration/migrate.js";
import { buildScenario } from "../src/migration/scenario.js";

export const migrationBench: ScenarioBench = {
  name: "migrate-1GiB-inprocess",
  passes: 3,
  async setup() {
    const s = buildScenario({
      guestMiB: 1024, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 },
      ratePerSec: 1_000_000, writeFraction: 0.3, seed: 7,
    });
    return {
      async run() {
        const t0 = performance.now();
        const r = await migrate(s.vm, s.destination, { workload: s.workload, verify: false });
        const wallMs = performance.now() - t0;
        if (r.status !== "completed") throw new Error(`migration ${r.status}: ${r.stopReason}`);
        r.destination?.destroy();
        s.vm.resume(); // a completed migration leaves the source paused; the next pass migrates it running again
        return { bytes: r.ram.transferred, ops: 1, wallMs };
      },
      teardown: () => s.workload.close(),
    };
  },
};
