// Protection over TCP: the primary is a `hypermem ft --to` child process,
// the backup a listener in this process serving the protection stream
// (src/checkpoint/tcp-backup.ts) beside migrations. A kill -9 of the
// primary makes the listener activate the backup guest at its last commit
// and verify it against the digest the primary printed at that
// checkpoint's pause; a clean end is no failover; a backup host too small
// refuses the protection before any page goes.
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createHost, type Vm } from "../src/index.js";
import { serveProtection, type ProtectionReport } from "../src/checkpoint/tcp-backup.js";
import { PROTECTION_MAGIC } from "../src/checkpoint/tcp-format.js";
import { protectOverTcp } from "../src/checkpoint/tcp-primary.js";
import type { ReleasedPacket } from "../src/checkpoint/output.js";
import { listenForMigrations, type MigrationListener } from "../src/migration/listener.js";
import { buildScenario } from "../src/migration/scenario.js";
import { connectMigrationChannel } from "../src/migration/tcp.js";
import { CLI_ARGS } from "./docs/examples.js";

const closers: Array<() => unknown> = [];
afterEach(async () => { for (const c of closers.splice(0).reverse()) await c(); });

const TOKEN = "protection token, long enough";

async function backupListener(hostMiB: number): Promise<{ listener: MigrationListener; reports: ProtectionReport[]; next: (event: string) => Promise<ProtectionReport>; taken: Vm[] }> {
  const reports: ProtectionReport[] = [];
  const waiters: Array<() => void> = [];
  const taken: Vm[] = [];
  const listener = await listenForMigrations({
    port: 0, token: new TextEncoder().encode(TOKEN), host: createHost({ memoryMiB: hostMiB }),
    streams: {
      [PROTECTION_MAGIC]: (c) => serveProtection(c, {
        onReport: (r) => { reports.push(r); for (const w of waiters.splice(0)) w(); },
        onTakeover: (vm) => { taken.push(vm); return true; },
      }),
    },
  });
  closers.push(() => listener.close());
  const next = async (event: string): Promise<ProtectionReport> => {
    for (;;) {
      const found = reports.find((r) => r.event === event);
      if (found) return found;
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { listener, reports, next, taken };
}

/** Runs `hypermem ft --to` in a child process; its stderr lines as they come. */
async function primary(port: number, args: string[]): Promise<{ child: ReturnType<typeof spawn>; lines: string[]; until: (re: RegExp, count: number) => Promise<void>; exited: Promise<number | null> }> {
  const dir = await mkdtemp("/tmp/hypermem-ft-");
  await writeFile(`${dir}/token`, `${TOKEN}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [...CLI_ARGS, "ft", "--to", `127.0.0.1:${port}`, "--token-file", `${dir}/token`, ...args],
    { cwd: new URL("..", import.meta.url).pathname, stdio: ["ignore", "pipe", "pipe"] });
  closers.push(() => { child.kill("SIGKILL"); });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let buffered = "";
  child.stderr!.on("data", (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  // "close", not "exit": the child's last stderr lines may still be in the pipe when it exits.
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const until = async (re: RegExp, count: number): Promise<void> => {
    while (lines.filter((l) => re.test(l)).length < count) {
      if (child.exitCode !== null) throw new Error(`the primary exited (${child.exitCode}): ${lines.join("\n")}`);
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { child, lines, until, exited };
}

describe("hypermem ft --to a listener (processes)", () => {
  it("kill -9 of the primary: the listener activates the backup at its last commit, verified against that checkpoint's digest", async () => {
    // A heartbeat timeout far above any stall of a loaded machine: the failover must come from the kill (a closed
    // connection is seen at once), not from a primary process that the test suite's load held up for seconds.
    const b = await backupListener(64);
    const p = await primary(b.listener.address.port, ["--guest", "8MiB", "--epoch", "50ms", "--duration", "120s", "--heartbeat-timeout", "30s"]);
    await p.until(/^ft: checkpoint \d+ acknowledged$/, 6);
    p.child.kill("SIGKILL");
    await p.exited;
    const f = await b.next("failover");
    if (f.event !== "failover") throw new Error("unreachable");
    const acked = p.lines.map((l) => /^ft: checkpoint (\d+) acknowledged$/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1]));
    const paused = new Map(p.lines.map((l) => /^ft: checkpoint (\d+) paused, digest (0x[0-9a-f]+)$/.exec(l)).filter((m) => m !== null).map((m) => [Number(m![1]), m![2]]));
    expect(f.reason).toBe("connection lost");
    expect(f.checkpoint).toBeGreaterThanOrEqual(Math.max(...acked)); // never behind what the primary saw acknowledged
    expect(f.checkpoint).toBeLessThanOrEqual(Math.max(...paused.keys()));
    expect(f.verified).toBe(true);
    expect(f.error).toBeNull();
    expect(f.digest).toBe(paused.get(f.checkpoint));
    expect(b.taken).toHaveLength(1);
    expect(b.reports.map((r) => r.event)).toEqual(["protecting", "failover"]);
  }, 60_000);

  it("a primary that finishes ends the protection cleanly: every checkpoint acknowledged, no failover", async () => {
    const b = await backupListener(64);
    const p = await primary(b.listener.address.port, ["--guest", "4MiB", "--epoch", "50ms", "--duration", "300ms", "--heartbeat-timeout", "30s", "--json"]);
    expect(await p.exited).toBe(0);
    const end = await b.next("protection-ended");
    const last = Math.max(...p.lines.map((l) => /^ft: checkpoint (\d+) acknowledged$/.exec(l)).filter((m) => m !== null).map((m) => Number(m![1])));
    expect(end).toMatchObject({ event: "protection-ended", committed: last });
    expect(b.reports.some((r) => r.event === "failover")).toBe(false);
  }, 60_000);

  it("a backup host without the memory for the guest refuses the protection (ERR_BACKUP_MEMORY) before any page goes; the primary fails", async () => {
    const b = await backupListener(8);
    const p = await primary(b.listener.address.port, ["--guest", "16MiB", "--epoch", "50ms", "--duration", "1s", "--heartbeat-timeout", "30s"]);
    expect(await p.exited).not.toBe(0);
    const failed = await b.next("protection-failed");
    expect(failed).toMatchObject({ committed: -1, error: { code: "ERR_BACKUP_MEMORY" } });
    expect(p.lines.join("\n")).toMatch(/ERR_BACKUP_MEMORY|free frames/);
    expect(b.reports.some((r) => r.event === "failover")).toBe(false);
  }, 60_000);
});

describe("output commit over TCP (the primary in this process)", () => {
  it("every packet is released once, after the acknowledgement of the checkpoint of the epoch that emitted it", async () => {
    const b = await backupListener(64);
    const s = buildScenario({ guestMiB: 4, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }, ratePerSec: 20_000, writeFraction: 0.3, seed: 3 });
    const sc = await connectMigrationChannel({ host: "127.0.0.1", port: b.listener.address.port, token: new TextEncoder().encode(TOKEN) });
    const acked: number[] = [];
    const releases: Array<{ packet: ReleasedPacket; checkpoint: number; ackedThen: number[] }> = [];
    // 2,000 packets/s and 50 ms epochs: exactly 100 packets per epoch's run.
    const r = await protectOverTcp(s.vm, s.workload, sc, {
      epochMs: 50, durationMs: 1500, heartbeatIntervalMs: 10, heartbeatTimeoutMs: 30_000, diffs: true,
      packetsPerSec: 2000, packetBytes: 64, seed: 3,
      onAck: (cp) => { acked.push(cp); },
      onRelease: (packet, checkpoint) => { releases.push({ packet, checkpoint, ackedThen: [...acked] }); },
    });
    expect(r.checkpoints).toBeGreaterThanOrEqual(2);
    expect(r.packets.emitted).toBe(100 * (r.checkpoints - 1));
    expect(r.packets.released).toBe(r.packets.emitted);
    expect(r.packets.heldAtEnd).toBe(0);
    expect(new Set(releases.map((x) => x.packet.id)).size).toBe(r.packets.emitted);
    for (const { packet, checkpoint, ackedThen } of releases) {
      expect(packet.epoch).toBeGreaterThanOrEqual(1); // checkpoint 0 is the initial copy: no run before it
      expect(packet.epoch).toBeLessThanOrEqual(checkpoint);
      expect(ackedThen).toContain(checkpoint);
    }
    // Each epoch's packets are released by the first acknowledgement that covers it.
    for (const { packet, checkpoint } of releases) expect(Math.min(...acked.filter((a) => a >= packet.epoch))).toBe(checkpoint);
    expect(r.packetLatencyMs.p50).toBeGreaterThan(0);
    expect(r.packetLatencyMs.p99).toBeGreaterThanOrEqual(r.packetLatencyMs.p50);
    expect((await b.next("protection-ended")).event).toBe("protection-ended");
  }, 60_000);
});

describe("early send over TCP (the primary in this process)", () => {
  const run = async (earlySend: boolean, onAck?: (cp: number, sc: { destroy(): void }) => void) => {
    const b = await backupListener(64);
    const s = buildScenario({ guestMiB: 4, workload: { kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }, ratePerSec: 20_000, writeFraction: 0.3, seed: 5 });
    const sc = await connectMigrationChannel({ host: "127.0.0.1", port: b.listener.address.port, token: new TextEncoder().encode(TOKEN) });
    const result = protectOverTcp(s.vm, s.workload, sc, {
      epochMs: 50, durationMs: 1500, heartbeatIntervalMs: 10, heartbeatTimeoutMs: 30_000, diffs: true, earlySend, packetsPerSec: 0,
      onAck: (cp) => onAck?.(cp, sc),
    });
    return { b, result };
  };

  it("stable pages go while the guest runs; without it none do; every checkpoint is acknowledged either way", async () => {
    const on = await run(true);
    const r = await on.result;
    expect(r.earlyPages).toBeGreaterThan(0);
    expect(r.earlyRewritten).toBeLessThanOrEqual(r.earlyPages);
    expect(r.acknowledged).toBe(r.checkpoints - 1);
    expect((await on.b.next("protection-ended")).event).toBe("protection-ended");
    const off = await run(false);
    const q = await off.result;
    expect(q.earlyPages).toBe(0);
    expect(q.acknowledged).toBe(q.checkpoints - 1);
  }, 60_000);

  it("a primary lost mid-run with pages sent early: the backup takes over at its last commit, equal to the primary's digest there", async () => {
    const { b, result } = await run(true, (cp, sc) => { if (cp === 8) sc.destroy(); });
    await expect(result).rejects.toMatchObject({ code: expect.any(String) });
    const f = await b.next("failover");
    if (f.event !== "failover") throw new Error("unreachable");
    expect(f.reason).toBe("connection lost");
    expect(f.checkpoint).toBeGreaterThanOrEqual(8);
    expect(f.verified).toBe(true);
    expect(f.error).toBeNull();
    expect(b.taken).toHaveLength(1);
  }, 60_000);
});
