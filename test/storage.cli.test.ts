// The disk commands as a user types them: `hypermem listen --disk-dir` in a
// child process receiving `hypermem disk send` beside migrations (same
// token), `disk make-image` and `disk fragments` with --json, one listener
// per --disk-dir (its lock), and bad options refused naming the flag as typed.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sendDisk } from "../src/storage/sender.js";
import { runCliCaptured } from "./cli-capture.js";
import { CLI_ARGS } from "./docs/examples.js";
import { firstDifference } from "./storage-helpers.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-disk-cli-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("hypermem disk", () => {
  it("make-image --json writes a sparse image and reports its SHA-256", async () => {
    const r = await runCliCaptured(["disk", "make-image", "--size", "2MiB", "--fill", "0.25", "--seed", "9", "--json", join(dir, "m.raw")]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { sizeBytes: number; dataBytes: number; sha256: string };
    expect(out.sizeBytes).toBe(2 * 2 ** 20);
    expect(statSync(join(dir, "m.raw")).blocks * 512).toBeLessThanOrEqual(out.dataBytes + 64 * 1024);
    const again = await runCliCaptured(["disk", "make-image", "--size", "2MiB", "--fill", "0.25", "--seed", "9", "--json", join(dir, "m2.raw")]);
    expect((JSON.parse(again.stdout) as { sha256: string }).sha256).toBe(out.sha256);
  });

  it("listen --disk-dir (a child process) receives disk send; a cut leaves a fragment disk fragments lists; the next send resumes", async () => {
    const port = await freePort();
    const token = randomBytes(32).toString("hex");
    writeFileSync(join(dir, "secret.txt"), token, { mode: 0o600 });
    mkdirSync(join(dir, "images"));
    const image = join(dir, "disk.raw");
    expect((await runCliCaptured(["disk", "make-image", "--size", "3MiB", "--fill", "0.5", "--seed", "4", image])).status).toBe(0);
    const listener = spawn(process.execPath, [...CLI_ARGS, "listen", "--port", String(port), "--token-file", join(dir, "secret.txt"), "--disk-dir", join(dir, "images"), "--disk-interval", "256KiB", "--json"], {
      cwd: dir, env: { ...process.env, NO_COLOR: "1" },
    });
    children.push(listener);
    let out = "";
    listener.stdout.on("data", (b: Buffer) => { out += b.toString(); });
    const waitFor = async (text: string): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!out.includes(text)) {
        if (Date.now() > deadline) throw new Error(`listen printed no ${text}: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitFor('"event":"listening"');
    // A cut transfer: the library aborts once 512 KiB are acknowledged.
    const ac = new AbortController();
    await expect(sendDisk(image, {
      host: "127.0.0.1", port, token: Buffer.from(token), blockBytes: 64 * 1024, retryDelaysMs: [], signal: ac.signal,
      onProgress: (p) => { if (p.ackedBytes >= 512 * 1024) ac.abort(); },
    })).rejects.toMatchObject({ code: "ERR_MIGRATION_CANCELLED" });
    await waitFor('"event":"disk-failed"');
    const listed = await runCliCaptured(["disk", "fragments", "--dir", join(dir, "images"), "--json"]);
    expect(listed.status, listed.stderr).toBe(0);
    const frags = (JSON.parse(listed.stdout) as { fragments: Array<{ name: string; committedBytes: number; sizeBytes: number }> }).fragments;
    expect(frags.map((f) => [f.name, f.sizeBytes])).toEqual([["disk.raw", 3 * 2 ** 20]]);
    expect(frags[0].committedBytes).toBeGreaterThanOrEqual(512 * 1024);
    const text = await runCliCaptured(["disk", "fragments", "--dir", join(dir, "images")]);
    expect(text.stdout).toMatch(/^1 fragment in .*\n {2}disk\.raw +\d/);
    const sent = await runCliCaptured(["disk", "send", "--to", `127.0.0.1:${port}`, "--token-file", join(dir, "secret.txt"), "--block", "64KiB", "--json", image]);
    expect(sent.status, sent.stderr).toBe(0);
    const r = JSON.parse(sent.stdout) as { sha256: string; attempts: Array<{ offer: string; startedAtBytes: number }> };
    expect(r.attempts[0].offer).toBe("resumed");
    expect(r.attempts[0].startedAtBytes).toBe(frags[0].committedBytes);
    expect(sent.stderr).toContain("disk send: acknowledged");
    expect(firstDifference(image, join(dir, "images", "disk.raw"))).toBe(-1);
    await waitFor('"event":"disk-received"');
    listener.kill("SIGTERM");
  }, 120_000);

  it("one listener per --disk-dir: a second is refused naming the holder; a killed holder's lock is taken over and released at exit", async () => {
    const folder = join(dir, "locked");
    mkdirSync(folder);
    writeFileSync(join(dir, "lock-secret.txt"), randomBytes(32).toString("hex"), { mode: 0o600 });
    const start = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, [...CLI_ARGS, "listen", "--port", "0", "--token-file", join(dir, "lock-secret.txt"), "--disk-dir", folder, "--json"], { env: { ...process.env, NO_COLOR: "1" } });
      children.push(child);
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (b: Buffer) => { out += b.toString(); if (out.includes('"event":"listening"')) resolve(); });
        child.once("exit", (code) => reject(new Error(`listen exited with ${code}: ${out}`)));
      });
      return child;
    };
    const exited = (c: ChildProcess): Promise<unknown> => new Promise((r) => c.once("exit", r));
    const first = await start();
    const second = await runCliCaptured(["listen", "--port", "0", "--token-file", join(dir, "lock-secret.txt"), "--disk-dir", folder]);
    expect(second.status).not.toBe(0);
    expect(second.stderr).toContain(`--disk-dir ${folder}: process ${first.pid} already serves this disk folder`);
    const killed = exited(first);
    first.kill("SIGKILL");
    await killed;
    expect(statSync(join(folder, ".hypermem-lock")).isFile()).toBe(true); // left by the kill
    const third = await start();
    expect(readFileSync(join(folder, ".hypermem-lock"), "utf8")).toBe(String(third.pid));
    const closed = exited(third);
    third.kill("SIGTERM");
    await closed;
    expect(existsSync(join(folder, ".hypermem-lock"))).toBe(false);
  }, 60_000);

  it("refuses bad options naming the flag as typed", async () => {
    const cases: Array<[string[], string]> = [
      [["disk", "make-image", "--size", "1MiB", "--fill", "2", join(dir, "x.raw")], "--fill 2"],
      [["disk", "send", "--to", "nowhere", "--token-file", join(dir, "secret.txt"), join(dir, "disk.raw")], "--to nowhere"],
      [["disk", "send", "--to", "127.0.0.1:1", "--token-file", join(dir, "secret.txt"), "--block", "3KiB", join(dir, "disk.raw")], "--block 3KiB"],
      [["listen", "--port", "0", "--token-file", join(dir, "secret.txt"), "--disk-dir", join(dir, "missing")], `--disk-dir ${join(dir, "missing")}`],
      [["listen", "--port", "0", "--token-file", join(dir, "secret.txt"), "--disk-interval", "1MiB"], "--disk-interval 1MiB: needs --disk-dir"],
    ];
    for (const [argv, text] of cases) {
      const r = await runCliCaptured(argv);
      expect(r.status, argv.join(" ")).toBe(2);
      expect(r.stderr, argv.join(" ")).toContain(text);
    }
  });
});
