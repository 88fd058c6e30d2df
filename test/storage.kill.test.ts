// The disk transfer's kill test: real processes (test/fixtures/disk-peer.ts,
// transpiled once to plain JavaScript by test/fixtures/transpile.ts, with
// TypeScript, no bundler: no dependency of its own; one spare child is
// always loaded and waiting, so a restart after a kill costs a line on its
// stdin, not a Node start), a real socket, real files. fast-check chooses,
// per transfer, a list of kills: which side and at which offset of the
// image; the parent sends SIGKILL to that child once the sender reports
// having sent that far, then starts it again. 100 kills in all. Every transfer must end with a file identical to
// the image, byte for byte, still sparse (allocated blocks within the data
// plus slack), and no resume may start more than one progress interval plus
// what was in flight (one more interval: the sender's window) below the
// furthest offset sent before the failure.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeImage } from "../src/storage/make-image.js";
import { transpileTree } from "./fixtures/transpile.js";

const ROOT = resolve(import.meta.dirname, "..");
const IMAGE_BYTES = 3 * 2 ** 20 + 5000;
const BLOCK_BYTES = 64 * 1024;
const INTERVAL_BYTES = 256 * 1024;
const KILLS = 100;
const KILLS_PER_TRANSFER = 10;

/** A child and the lines it printed so far. */
class Peer {
  readonly lines: string[] = [];
  /** waitFor and sentBytes look at the lines from here on. */
  mark = 0;
  /** The end of what it wrote on stderr. */
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #buffer = "";
  #waiters: Array<() => void> = [];
  #closed = false;

  constructor(readonly role: string, readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => {
      this.#buffer += text;
      const parts = this.#buffer.split("\n");
      this.#buffer = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.#waiters.splice(0)) w();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (text: string) => { this.stderr = (this.stderr + text).slice(-2000); });
    // "close", not "exit": the child's last lines may still be in the pipe when it has exited.
    this.exited = new Promise((r) => child.once("close", (code, signal) => { this.#closed = true; for (const w of this.#waiters.splice(0)) w(); r({ code, signal }); }));
  }

  get alive(): boolean { return !this.#closed; }

  /** Resolves once `test` holds for a line (or the child exited: then false). */
  async waitFor(test: (line: string) => boolean, timeoutMs = 60_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.lines.slice(this.mark).some(test)) return true;
      if (!this.alive) return this.lines.slice(this.mark).some(test);
      if (Date.now() > deadline) throw new Error(`${this.role}: timed out; last lines ${this.lines.slice(-3).join(" | ")}`);
      await new Promise<void>((r) => { this.#waiters.push(r); setTimeout(r, 200); });
    }
  }

  sentBytes(): number {
    for (let i = this.lines.length - 1; i >= this.mark; i--) if (this.lines[i].startsWith("sent ")) return Number(this.lines[i].split(" ")[1]);
    return 0;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("disk transfer survives kill -9 of either side (real processes)", () => {
  const root = mkdtempSync(join(tmpdir(), "hypermem-disk-kill-"));
  const running = new Set<ChildProcess>();

  let peerScript = "";
  let spare: ChildProcess | null = null;

  beforeAll(() => {
    peerScript = transpileTree(ROOT, join(ROOT, "test/fixtures/disk-peer.ts"), mkdtempSync(join(tmpdir(), "hypermem-disk-peer-")));
  }, 60_000);

  afterAll(() => {
    for (const c of running) c.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
    rmSync(resolve(peerScript, "../../.."), { recursive: true, force: true });
  });

  function spawnSpare(): ChildProcess {
    const child = spawn(process.execPath, [peerScript, "spare"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    return child;
  }

  /** Hands the role to the waiting spare (its modules are loaded) and starts the next spare. */
  function start(role: "receiver" | "sender", args: string[]): Peer {
    const child = spare ?? spawnSpare();
    const peer = new Peer(role, child);
    child.stdin!.end(`${[role, ...args].join(" ")}\n`);
    spare = spawnSpare();
    return peer;
  }

  it("100 kills at offsets fast-check chooses: every transfer ends identical and sparse, each resume within one interval plus one in flight", async () => {
    const plan = fc.array(fc.record({ who: fc.constantFrom("sender", "receiver"), at: fc.noBias(fc.integer({ min: 0, max: IMAGE_BYTES - 1 })) }), { minLength: KILLS_PER_TRANSFER, maxLength: KILLS_PER_TRANSFER });
    const seed = 1789;
    const plans = fc.sample(plan, { numRuns: 40, seed });
    const token = randomBytes(32).toString("hex");
    let kills = 0;
    let resumes = 0;
    const worstResend: number[] = [];
    for (let t = 0; kills < KILLS; t++) {
      expect(t, `only ${kills} kills after ${t} transfers (seed ${seed})`).toBeLessThan(plans.length);
      const dir = join(root, `t${t}`);
      mkdirSync(join(dir, "dst"), { recursive: true });
      const image = makeImage(join(dir, "disk.raw"), IMAGE_BYTES, 0.5, t + 1);
      const port = await freePort();
      const receiverArgs = [String(port), token, join(dir, "dst"), String(INTERVAL_BYTES)];
      const senderArgs = [String(port), token, image.path, String(BLOCK_BYTES)];
      let receiver = start("receiver", receiverArgs);
      await receiver.waitFor((l) => l === "listening");
      let sender = start("sender", senderArgs);
      /** The furthest offset sent before each failure, checked against the next start. */
      let furthestBefore = 0;
      /** Checks the first start after the mark against the furthest offset sent before the failure. */
      const checkStart = (): void => {
        const line = sender.lines.slice(sender.mark).find((l) => l.startsWith("start "))!;
        const at = Number(line.split(" ")[1]);
        const resent = Math.max(0, furthestBefore - at);
        worstResend.push(resent);
        if (at > 0) resumes++;
        expect(resent, `transfer ${t}: resumed at ${at} after sending to ${furthestBefore} (${line})`).toBeLessThanOrEqual(2 * INTERVAL_BYTES);
      };
      for (const kill of plans[t]) {
        if (kills >= KILLS) break;
        const at = kill.at;
        await sender.waitFor((l) => l.startsWith("sent ") && Number(l.split(" ")[1]) >= at);
        if (sender.lines.some((l) => l.startsWith("result "))) break; // finished first
        const victim = kill.who === "sender" ? sender : receiver;
        victim.child.kill("SIGKILL");
        const exit = await victim.exited;
        if (exit.signal !== "SIGKILL") continue;
        kills++;
        if (kill.who === "sender") {
          furthestBefore = Math.max(furthestBefore, sender.sentBytes());
          sender = start("sender", senderArgs);
        } else {
          await new Promise((r) => setTimeout(r, 50)); // the sender sees the cut; what it sent is what it printed
          furthestBefore = Math.max(furthestBefore, sender.sentBytes());
          sender.mark = sender.lines.length;
          receiver = start("receiver", receiverArgs);
          await receiver.waitFor((l) => l === "listening");
        }
        // The next start resumes: the offsets sent after it are the new attempt's.
        await sender.waitFor((l) => l.startsWith("start "));
        if (!sender.lines.slice(sender.mark).some((l) => l.startsWith("start "))) break; // the sender finished on its own
        checkStart();
        sender.mark = sender.lines.indexOf(sender.lines.slice(sender.mark).find((l) => l.startsWith("start "))!, sender.mark);
        furthestBefore = 0;
      }
      sender.mark = 0; // the result may precede the mark: a receiver killed just after the sender finished
      const finished = await sender.waitFor((l) => l.startsWith("result "), 120_000);
      expect(finished, `transfer ${t}: the sender ended without a result: ${sender.lines.slice(-3).join(" | ")} ${sender.stderr}`).toBe(true);
      const result = JSON.parse(sender.lines.find((l) => l.startsWith("result "))!.slice(7)) as { sha256: string };
      expect(result.sha256).toBe(image.sha256);
      const out = join(dir, "dst", "disk.raw");
      expect(existsSync(out)).toBe(true);
      const a = readFileSync(image.path);
      const b = readFileSync(out);
      expect(b.length).toBe(a.length);
      const same = Buffer.compare(a, b) === 0;
      expect(same, `transfer ${t}: first difference at ${a.findIndex((x, i) => x !== b[i])}`).toBe(true);
      const allocated = statSync(out).blocks * 512;
      expect(allocated).toBeLessThanOrEqual(image.dataBytes + 256 * 1024);
      receiver.child.kill("SIGKILL");
      await receiver.exited;
      rmSync(dir, { recursive: true, force: true });
    }
    expect(kills).toBe(KILLS);
    expect(resumes).toBeGreaterThan(KILLS / 2);
    expect(Math.max(...worstResend)).toBeLessThanOrEqual(2 * INTERVAL_BYTES);
  }, 600_000);
});
