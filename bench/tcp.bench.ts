// Wall-clock speed of a live migration between two processes over loopback
// TCP: a 1 GiB guest, fully touched, running a hot/cold workload, migrated
// to a `hypermem listen` child process (handshake, stream, digest check on
// the destination, acknowledgement). The baseline sends the same number of
// bytes through a plain Node socket to a child process that only counts
// them, in 1 MiB writes that respect 'drain': what loopback TCP between two
// Node processes can do at all. Both report bytes on the socket per wall
// second, the median of 5 passes after 2 warm-up passes (reported; the
// listener's first guest has every frame faulted in by the OS, 2-6 s here,
// and both processes' code and memory settle over the first passes).
//
// Over TCP the guest runs in wall-clock time on the source's thread, as a
// vCPU sharing the migration's core: at 1,000,000 accesses/s simulating it
// takes about half of that thread (300-500 ns per access), which no
// transport could hide. The compared case runs it at 100,000 accesses/s
// (30,000 writes/s into a 100 MiB hot set: a few rounds); a second case
// shows the busy guest. Run alone with `npx tsx bench/tcp.bench.ts`.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ScenarioBench } from "./case.js";
import { buildScenario } from "../src/migration/scenario.js";
import { migrateOverTcp } from "../src/migration/tcp.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TOKEN = "bench-token-not-secret";
/** Bytes the baseline sends when the migration has not run first: 1 GiB plus stream overhead. */
const DEFAULT_BASELINE_BYTES = 2 ** 30 + 4 * 2 ** 20;
let lastMigrationBytes = 0;
/** Guest accesses per second of the compared case and of the busy-guest case. */
const GUEST_RATE = 100_000;
const BUSY_GUEST_RATE = 1_000_000;

/** Spawns a child and resolves with its first stdout line that parses as JSON with a port. */
function spawnWithPort(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const line of out.split("\n")) {
        try {
          const msg = JSON.parse(line) as { port?: number };
          if (typeof msg.port === "number") {
            child.stdout!.off("data", onData);
            child.stdout!.resume();
            resolve({ child, port: msg.port });
            return;
          }
        } catch {
          // not a complete JSON line yet
        }
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`child exited with ${code} before listening: ${out}`)));
  });
}

/** A migration of a 1 GiB guest running at `ratePerSec` accesses/s to a listener child process. */
function tcpMigration(name: string, ratePerSec: number, recordBytes: boolean): ScenarioBench {
  return {
    name,
    passes: 5,
    warmupPasses: 2,
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-"));
      const tokenFile = join(dir, "token");
      writeFileSync(tokenFile, TOKEN);
      const { child, port } = await spawnWithPort(["--import", "tsx", "src/cli/main.ts", "listen", "--port", "0", "--token-file", tokenFile, "--json"]);
      const s = buildScenario({
        guestMiB: 1024, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 },
        ratePerSec, writeFraction: 0.3, seed: 7,
      });
      return {
        async run() {
          const r = await migrateOverTcp(s.vm, { workload: s.workload }, { host: "127.0.0.1", port, token: Buffer.from(TOKEN), idleTimeoutMs: 30_000 });
          // Correctness gate: the destination acknowledged a guest that matched the end-of-stream digest.
          if (r.status !== "completed" || r.verification?.ok !== true) throw new Error(`migration ${r.status}: ${r.stopReason}`);
          s.vm.resume(); // a completed migration leaves the source paused; the next pass migrates it running again
          if (recordBytes) lastMigrationBytes = r.tcp.bytesSent;
          return { bytes: r.tcp.bytesSent, ops: 1, wallMs: r.tcp.wallMs };
        },
        teardown: () => { s.workload.close(); child.kill("SIGTERM"); },
      };
    },
  };
}

/** The compared case (the baseline sends as many bytes as its last pass). */
export const tcpMigrationBench = tcpMigration("migrate-1GiB-tcp-loopback", GUEST_RATE, true);
/** The same with a guest ten times as busy, for reference. */
export const tcpBusyGuestBench = tcpMigration("migrate-1GiB-tcp-loopback-busy-guest", BUSY_GUEST_RATE, false);

/** The sink: counts bytes per connection and answers the count when the sender ends. */
const SINK = `
const net = require("node:net");
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0;
  s.on("data", (d) => { n += d.length; });
  s.on("end", () => s.end(String(n)));
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));
process.on("SIGTERM", () => process.exit(0));
`;

export const tcpBaselineBench: ScenarioBench = {
  name: "plain-socket-same-bytes-loopback",
  passes: 5,
  warmupPasses: 2,
  async setup() {
    const { child, port } = await spawnWithPort(["-e", SINK]);
    const chunk = Buffer.alloc(2 ** 20, 0x5a);
    return {
      async run() {
        const total = lastMigrationBytes || DEFAULT_BASELINE_BYTES;
        const t0 = performance.now();
        const socket = connect({ host: "127.0.0.1", port, allowHalfOpen: true });
        await new Promise((r) => socket.once("connect", r));
        let reply = "";
        socket.on("data", (d: Buffer) => { reply += d.toString(); });
        const answered = new Promise((r) => socket.once("end", r));
        for (let sent = 0; sent < total;) {
          const n = Math.min(chunk.length, total - sent);
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => socket.once("drain", r));
          sent += n;
        }
        socket.end();
        await answered;
        const wallMs = performance.now() - t0;
        socket.destroy();
        if (Number(reply) !== total) throw new Error(`sink counted ${reply} bytes, sent ${total}`);
        return { bytes: total, ops: 1, wallMs };
      },
      teardown: () => { child.kill("SIGTERM"); },
    };
  },
};

/** The compared pair, migration first (the baseline then sends exactly as many bytes), then the busy guest. */
export const tcpBenches: readonly ScenarioBench[] = [tcpMigrationBench, tcpBaselineBench, tcpBusyGuestBench];

/** Runs the benches; returns the median MiB/s of the compared pair and of the busy guest. */
export async function runTcpBench(log: (line: string) => void = console.log): Promise<{ migrationMiBps: number; baselineMiBps: number; busyGuestMiBps: number; bytes: number }> {
  const medians: number[] = [];
  for (const b of tcpBenches) {
    const { run, teardown } = await b.setup();
    const rates: number[] = [];
    try {
      for (let i = 0; i < (b.warmupPasses ?? 0) + b.passes; i++) {
        const r = await run();
        const rate = r.bytes / 2 ** 20 / (r.wallMs / 1e3);
        const warmup = i < (b.warmupPasses ?? 0);
        if (!warmup) rates.push(rate);
        log(`${b.name} ${warmup ? "warm-up" : "pass"} ${i + 1}: ${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${r.wallMs.toFixed(0)} ms = ${rate.toFixed(0)} MiB/s`);
      }
    } finally {
      teardown?.();
    }
    rates.sort((x, y) => x - y);
    medians.push(rates[rates.length >> 1]);
    log(`${b.name}: median ${medians.at(-1)!.toFixed(0)} MiB/s`);
  }
  return { migrationMiBps: medians[0], baselineMiBps: medians[1], busyGuestMiBps: medians[2], bytes: lastMigrationBytes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await runTcpBench();
  console.log(`migration over TCP: ${r.migrationMiBps.toFixed(0)} MiB/s; plain socket, same ${(r.bytes / 2 ** 20).toFixed(1)} MiB: ${r.baselineMiBps.toFixed(0)} MiB/s (${(r.migrationMiBps / r.baselineMiBps).toFixed(2)}x, target >= 0.5x); busy guest: ${r.busyGuestMiBps.toFixed(0)} MiB/s`);
}
