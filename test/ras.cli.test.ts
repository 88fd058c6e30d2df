// `hypermem ras` and `hypermem ras retired`: both policies on one run in a
// table and in JSON, the store written by one run and listed, warned about
// and cleared by the other command, and bad input refused before any work,
// naming the flag as typed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { RETIRED_STORE_HEADER, RetiredStore } from "../src/index.js";
import { runCliCaptured, type CapturedRun } from "./cli-capture.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-ras-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...argv: string[]): Promise<CapturedRun> => runCliCaptured(argv);

const SMALL = ["--guest", "2MiB", "--duration", "100ms", "--rate", "100000"];

describe("hypermem ras", () => {
  it("runs both policies on one run of events and prints them side by side", async () => {
    const backing = join(dir, "image.bin");
    writeFileSync(backing, new Uint8Array(64 * 4096).map((_, i) => (i * 31) & 0xff));
    const r = await cli("ras", ...SMALL, "--errors", "12", "--latent", "6", "--correctable", "20", "--backing-file", backing);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^\s+linux\s+parity$/);
    for (const label of ["recovered by refill", "recovered by parity", "machine checks delivered", "pages lost", "Recovered", "Failed", "Ignored", "Delayed", "clean file pages", "parity frames", "parity write faults", "rebuild time per page", "latent error to scrubber", "retired frames", "repaired pages checked"]) {
      expect(lines.some((l) => l.startsWith(label)), label).toBe(true);
    }
    expect(lines.find((l) => l.startsWith("guest"))).toContain("64 pages from the backing file");
    expect(lines.find((l) => l.startsWith("errors"))).toMatch(/12 known, 6 latent, 20 corrected\s+12 known, 6 latent, 20 corrected/);
    expect(lines.find((l) => l.startsWith("parity frames"))).toMatch(/^parity frames\s+-\s+\d+ \(/);
    expect(r.stderr).toContain("ras: policy linux");
    expect(r.stderr).toContain("ras: policy parity");
  }, 60_000);

  it("--json: one object with a run per policy; linux rebuilds nothing from parity", async () => {
    const r = await cli("ras", ...SMALL, "--errors", "10", "--latent", "0", "--json");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runs: Array<{ report: { policy: string; recoveredByParity: number; errors: { known: number } }; check: { mismatched: string[] } }> };
    expect(out.runs.map((x) => x.report.policy)).toEqual(["linux", "parity"]);
    expect(out.runs[0].report.recoveredByParity).toBe(0);
    expect(out.runs.map((x) => x.report.errors.known)).toEqual([10, 10]);
    expect(out.runs.flatMap((x) => x.check.mismatched)).toEqual([]);
  }, 60_000);

  it("--store: retirements are appended; `ras retired` lists them, warns past 90 % of --limit, and clears them", async () => {
    const store = join(dir, "retired.hmrf");
    const run = await cli("ras", ...SMALL, "--policy", "linux", "--errors", "3", "--latent", "0", "--store", store, "--json");
    expect(run.status, run.stderr).toBe(0);
    const frames = RetiredStore.open(store).list().map((f) => f.hfn);
    expect(frames.length).toBe(3);
    const list = await cli("ras", "retired", "--store", store);
    expect(list.status).toBe(0);
    expect(list.stdout).toContain(`retired-frame store ${store}: 3 frames`);
    for (const h of frames) expect(list.stdout).toMatch(new RegExp(`^\\s+${h}  uncorrectable`, "m"));
    const warned = await cli("ras", "retired", "--store", store, "--limit", "3", "--json");
    expect(JSON.parse(warned.stdout)).toMatchObject({ warning: expect.stringContaining("3 retired frames of a limit of 3"), frames: expect.any(Array) });
    expect(warned.stderr).toContain("warning: 3 retired frames");
    expect((await cli("ras", "retired", "--store", store, "--limit", "4")).stderr).not.toContain("warning");
    const one = await cli("ras", "retired", "--store", store, "--clear", String(frames[1]));
    expect(one.stdout).toContain("2 frames (1 cleared)");
    expect(RetiredStore.open(store).list().map((f) => f.hfn)).toEqual([frames[0], frames[2]]);
    const again = await cli("ras", ...SMALL, "--policy", "linux", "--errors", "0", "--latent", "0", "--store", store);
    expect(again.stdout).toMatch(/retired-frame store\s+.*2 records at start \(2 frames kept out of use/);
    const all = await cli("ras", "retired", "--store", store, "--clear", "all", "--json");
    expect(JSON.parse(all.stdout)).toMatchObject({ cleared: 2, frames: [] });
  }, 60_000);

  it("refuses bad input before any work, naming the flag as typed (exit status 2)", async () => {
    const newer = join(dir, "newer.hmrf");
    RetiredStore.open(newer).append({ hfn: 5, cause: "uncorrectable", timeMs: 0, errorCount: 1 });
    const bytes = readFileSync(newer);
    new DataView(bytes.buffer, bytes.byteOffset).setUint16(4, 2, true);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(RETIRED_STORE_HEADER.byteLength - 4, crc32(bytes.subarray(0, RETIRED_STORE_HEADER.byteLength - 4)), true);
    writeFileSync(newer, bytes);
    const tiny = join(dir, "tiny.bin");
    writeFileSync(tiny, "12");
    const cases: Array<[string[], RegExp]> = [
      [["ras", "--group-size", "1"], /--group-size 1: must be an integer from 2 to 64/],
      [["ras", "--policy", "raid"], /--policy raid: must be one of both, parity, linux/],
      [["ras", "--guest", "3GiB", "--group-size", "2"], /--guest 3GiB: the guest, its parity \(1\/2 of it\) and 64MiB of tables and buffers need 4672MiB; one host has at most 4096MiB/],
      [["ras", "--scrub-rate", "fast"], /--scrub-rate fast: must be a whole number of pages per second/],
      [["ras", "--backing-file", join(dir, "missing.bin")], /--backing-file .*missing\.bin: cannot read .*no such file/],
      [["ras", "--backing-file", tiny], /--backing-file .*tiny\.bin: is 2 bytes, less than one 4 KiB page/],
      [["ras", "--guest", "1MiB", "--errors", "300"], /--errors 300: 304 pages with errors do not fit the 256 pages the guest has written \(--prefill 1 of --guest 1MiB\)/],
      [["ras", "--store", newer], /--store .*newer\.hmrf: .*version 2\.0 is not supported/],
      [["ras", "retired", "--store", newer], /--store .*newer\.hmrf: .*version 2\.0 is not supported/],
      [["ras", "retired"], /missing --store FILE/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect([argv.join(" "), r.status]).toEqual([argv.join(" "), 2]);
      expect(r.stderr, argv.join(" ")).toMatch(message);
      expect(r.stdout).toBe("");
    }
    const clear = await cli("ras", "retired", "--store", join(dir, "retired.hmrf"), "--clear", "0");
    expect([clear.status, clear.stderr]).toEqual([2, expect.stringContaining("--clear 0: must be a frame number (1 or more) or all")]);
    expect(readFileSync(newer).equals(bytes)).toBe(true);
  });
});
