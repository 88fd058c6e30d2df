// A save that fails midway never leaves a file that looks complete: a
// process killed with SIGKILL in the middle of a save, and one whose writes
// hit a file size limit (as a full disk stops them), leave no file at the
// target path, only a temporary file that no reader takes for a snapshot;
// a save that throws midway in process leaves nothing at all.
import { execFile, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createHost, saveSnapshot, snapshotInfo } from "../src/index.js";
import { thrownCode } from "./helpers.js";
import { scratchDir } from "./snapshot.helpers.js";

const CHILD = fileURLToPath(new URL("./snapshot.crash.child.ts", import.meta.url));

/** The leftover temporary files of `target` in its folder. */
function leftovers(folder: string): string[] {
  return readdirSync(folder).filter((name) => name.endsWith(".tmp"));
}

describe("a save that does not finish", () => {
  it("killed with SIGKILL in the middle: no file at the target, and the temporary file is not a snapshot", async () => {
    const folder = scratchDir("snapshot-kill");
    const target = join(folder, "guest.hmsn");
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, target, "stall"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => { stderr += String(d); });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      child.stdout.on("data", (d) => { if (String(d).includes("saving")) child.kill("SIGKILL"); });
      child.on("exit", (_code, sig) => resolve(sig));
    });
    expect(signal, stderr).toBe("SIGKILL");
    expect(existsSync(target)).toBe(false);
    const tmp = leftovers(folder);
    expect(tmp).toHaveLength(1);
    expect(thrownCode(() => snapshotInfo(join(folder, tmp[0])))).toBe("ERR_SNAPSHOT_CORRUPT");
  });

  it("stopped by a file size limit (a full disk): no file at the target", async () => {
    const folder = scratchDir("snapshot-fsize");
    const target = join(folder, "guest.hmsn");
    const outcome = await new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) => {
      execFile("bash", ["-c", `ulimit -f 1024; exec "${process.execPath}" --import tsx "${CHILD}" "${target}" run`], (err, stdout) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, signal: err?.signal ?? null, stdout });
      });
    });
    expect(outcome.stdout).not.toContain("saved");
    expect(outcome.code !== 0 || outcome.signal !== null).toBe(true);
    expect(existsSync(target)).toBe(false);
  });

  it("a save that throws midway in process removes its temporary file and leaves the guest as it was", () => {
    const folder = scratchDir("snapshot-throw");
    const target = join(folder, "guest.hmsn");
    const vm = createHost({ memoryMiB: 8 }).createVm({ pages: 512 });
    vm.writePages(0, new Uint8Array(512 * 4096).fill(5));
    expect(() => saveSnapshot(vm, target, { chunkPages: 16, onProgress: (p) => { if (p.bytesWritten > 64 << 10) throw new Error("stop"); } })).toThrow("stop");
    expect(readdirSync(folder)).toEqual([]);
    expect(vm.states.counts().tracedPages).toBe(0);
    expect(vm.paused).toBe(false);
    saveSnapshot(vm, target);
    expect(snapshotInfo(target).entries.data).toBe(512);
  });
});
