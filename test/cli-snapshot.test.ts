// `hypermem snapshot save | restore | info`: the files and figures the
// library gives for the same options, --json, the comparison of the three
// modes, and refusals that name the flag as typed, before any work.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createHost, guestDigest, restoreSnapshot, snapshotInfo } from "../src/index.js";
import { SnapshotFile } from "../src/snapshot/file-reader.js";
import { runCliCaptured as run } from "./cli-capture.js";
import { scratchDir } from "./snapshot.helpers.js";

const dir = scratchDir("cli-snapshot");
const base = join(dir, "base.hmsn");
const diff = join(dir, "diff.hmsn");
const saved = run(["snapshot", "save", "--guest", "8MiB", "--workload", "hotcold:0.2,0.95", "--rate", "2000000", "--storage", "sata-ssd",
  "--file", base, "--diff-file", diff, "--diff-after", "20ms", "--json"]);

describe("snapshot save", () => {
  it("writes a full snapshot and a diff of it, and prints their figures", async () => {
    const r = await saved;
    expect(r.status, r.stderr).toBe(0);
    const { full, diff: d } = JSON.parse(r.stdout);
    expect(full).toMatchObject({ path: base, kind: "full", guestPages: 2048, storage: "sata-ssd", dataPages: expect.any(Number) });
    expect(d).toMatchObject({ path: diff, kind: "diff", basePath: base });
    expect(full.trace.copiedBeforeWrite).toBeGreaterThan(0);
    expect(snapshotInfo(diff)).toMatchObject({ snapshotId: d.snapshotId, chain: [diff, base], workload: { kind: "hotcold", ratePerSec: 2_000_000 } });
    expect(snapshotInfo(base)).toMatchObject({ snapshotId: full.snapshotId, activePages: full.activePages, entries: { data: 2048 } });
    expect(r.stderr).toBe(""); // --json: no progress either
  });

  it("prints a table by default", async () => {
    const file = join(dir, "table.hmsn");
    const r = await run(["snapshot", "save", "--guest", "1MiB", "--file", file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^snapshot of a 1MiB guest \(256 pages, 256 prefilled\) running hotcold:0\.1,0\.9/);
    expect(r.stdout).toMatch(/^copied before write +\d+ pages/m);
    expect(r.stdout).toMatch(/^pause +[\d.]+ ms wall, no simulated time/m);
    expect(r.stderr).toBe(`${file}: saving pages\n${file}: trace window closed, writing the working set\n${file}: done\n`);
  });

  it("refuses, naming the flag: a trace workload, a --diff-after without --diff-file, a guest no host holds", async () => {
    const file = join(dir, "never.hmsn");
    const trace = await run(["snapshot", "save", "--guest", "1MiB", "--workload", `trace:${base}`, "--file", file]);
    expect(trace.status).toBe(2);
    const after = await run(["snapshot", "save", "--guest", "1MiB", "--diff-after", "1ms", "--file", file]);
    expect([after.status, after.stderr]).toEqual([2, expect.stringContaining("--diff-after 1ms: needs --diff-file")]);
    const big = await run(["snapshot", "save", "--guest", "8GiB", "--file", file, "--json"]);
    expect(big.status).toBe(2);
    expect(JSON.parse(big.stdout).error).toMatchObject({ code: "ERR_BAD_OPTION", option: "--guest", value: "8GiB" });
  });
});

describe("snapshot restore", () => {
  it("--mode lazy: the figures and the memory the library's restore gives", async () => {
    await saved;
    const r = await run(["snapshot", "restore", "--file", diff, "--mode", "lazy", "--accesses", "5000", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows).toHaveLength(1);
    expect(report.rows[0]).toMatchObject({ mode: "lazy", accesses: 5000, pagesBeforeRun: 0, storage: "nvme" });
    expect(report.rows[0].faultsServed).toBeGreaterThan(0);
    const restored = restoreSnapshot(createHost({ memoryMiB: 16 }), diff, { mode: "eager" });
    restored.workload!.runFor(5000 / 2_000_000 * 1e9);
    expect(report.digests[0]).toBe(`0x${guestDigest(restored.vm).digest.toString(16).padStart(16, "0")}`);
    restored.close();
  });

  it("--compare: the three modes side by side, identical memory, active-first against lazy in REAP's terms", async () => {
    await saved;
    const r = await run(["snapshot", "restore", "--file", base, "--compare", "--accesses", "5000", "--storage", "sata-ssd"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ +eager +lazy +active-first$/m);
    expect(r.stdout).toMatch(/^first 5,000 accesses +[\d.]+ ms simulated/m);
    expect(r.stdout).toMatch(/active-first against lazy: cold start [\d.]+x faster, -?\d+% fewer page faults/);
    expect(r.stdout).toContain("guest memory after every page was loaded: identical in the three modes");
  });

  it("refuses a damaged file naming --file, --mode with --compare, --prefetch with eager", async () => {
    await saved;
    const cut = join(dir, "cut.hmsn");
    writeFileSync(cut, readFileSync(base).subarray(0, 5000));
    const r = await run(["snapshot", "restore", "--file", cut, "--json"]);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: "ERR_SNAPSHOT_CORRUPT", option: "--file", value: cut });
    expect(r.stderr).toMatch(new RegExp(`--file ${cut}: snapshot ${cut}: truncated`));
    expect((await run(["snapshot", "restore", "--file", base, "--compare", "--mode", "lazy"])).status).toBe(2);
    const eager = await run(["snapshot", "restore", "--file", base, "--mode", "eager", "--prefetch"]);
    expect([eager.status, eager.stderr]).toEqual([2, expect.stringContaining("--prefetch: not with --mode eager")]);
  });
});

describe("snapshot info", () => {
  it("describes the chain and, with --verify, checks every page; a damaged page is exit 1", async () => {
    await saved;
    const ok = await run(["snapshot", "info", "--file", diff, "--verify"]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`  chain         ${diff} <- ${base}`);
    expect(ok.stdout).toMatch(/check +ok: [\d,]+ pages match their checksums/);
    const bad = join(dir, "bad.hmsn");
    const bytes = readFileSync(base);
    const file = SnapshotFile.open(base);
    const slot = file.index.slot[0]; // page 0's data, wherever it is
    file.close();
    bytes[4096 + slot * 4096 + 10] ^= 1;
    writeFileSync(bad, bytes);
    const r = await run(["snapshot", "info", "--file", bad, "--verify", "--json"]);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: "full", verified: false, error: { code: "ERR_SNAPSHOT_CORRUPT" }, workload: { seed: "1" } });
  });
});
