// Wall-clock speed of a disk transfer (issue 17) beside a plain Node socket
// moving the same bytes, in the same run. The image is 128 MiB of random
// data (fill 1: no zero page to skip, so both sides move the same bytes).
// As in use, the two ends are two processes: this one sends, and a child
// process receives: `hypermem listen --disk-dir` for the transfer (the
// whole library path: the listener's handshake, sealed records, AES-256-GCM
// or GMAC only with encryption off, XXH3-64 of every block and SHA-256 of
// the whole file on both sides, an fdatasync and a crash-safe record every
// 8 MiB, the final fsync and rename), and a plain Node server for the
// baseline, which writes what it receives to a file and fsyncs it once at
// the end. The baseline's sender reads the image in 1 MiB pieces into a
// plain socket (respecting 'drain'). Both are verified (the received
// file's SHA-256) before anything is timed. Each pass times one transfer,
// then the plain socket (alternating rounds); the scenario's figure is the
// transfer, and its teardown prints the ratio of the medians (plain /
// transfer): the target is >= 0.8x (docs/disk-transfer.md, Figures).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ScenarioBench } from "../case.js";
import { makeImage } from "../../src/storage/make-image.js";
import { sendDisk } from "../../src/storage/sender.js";
import { DONE_FOLDER } from "../../src/storage/store.js";

const IMAGE_BYTES = 128 * 2 ** 20;
const CHUNK_BYTES = 2 ** 20;
const TOKEN = "bench-disk-token-0123456789abcdef";
const PASSES = 5;
const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/**
 * The baseline's receiving process: writes each connection's bytes to
 * `path`, fsyncs once at the end, then ends its side (the sender's signal
 * that the file is durable).
 */
const PLAIN_SERVER = `
const net = require("node:net"), fs = require("node:fs");
const server = net.createServer((socket) => {
  const fd = fs.openSync(process.argv[1], "w", 0o600);
  let at = 0;
  socket.on("data", (b) => { at += fs.writeSync(fd, b, 0, b.length, at); });
  socket.on("end", () => { fs.fsyncSync(fd); fs.closeSync(fd); socket.end(); });
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: server.address().port })));`;

interface Receiver { readonly child: ChildProcess; readonly port: number }
interface Bed { dir: string; image: string; sha256: string; encryption: boolean; listener: Receiver; plain: Receiver }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Starts a receiving process and waits for the port it prints (a JSON line with "port"). */
function receiver(args: readonly string[], what: string): Promise<Receiver> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code} before it listened`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const port = (JSON.parse(line) as { port?: number }).port;
      if (port !== undefined) resolve({ child, port });
    });
  });
}

async function bed(encryption: boolean): Promise<Bed> {
  const dir = mkdtempSync(join(tmpdir(), "hypermem-bench-disk-"));
  mkdirSync(join(dir, "dst"));
  const img = makeImage(join(dir, "disk.raw"), IMAGE_BYTES, 1, 17);
  const tokenFile = join(dir, "token");
  writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
  const listener = await receiver([
    ...process.execArgv, CLI, "listen", "--port", "0", "--token-file", tokenFile, "--json", "--host-memory", "1MiB",
    "--disk-dir", join(dir, "dst"), ...(encryption ? [] : ["--no-encryption"]),
  ], "hypermem listen");
  const plain = await receiver(["-e", PLAIN_SERVER, join(dir, "plain.raw")], "the plain server");
  return { dir, image: img.path, sha256: img.sha256, encryption, listener, plain };
}

/** The image through a plain socket into the other process's file; resolves once that file is fsynced. */
async function plainSend(b: Bed): Promise<void> {
  const socket = connect({ host: "127.0.0.1", port: b.plain.port });
  await new Promise<void>((r) => socket.once("connect", () => r()));
  const fd = openSync(b.image, "r");
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  try {
    for (let at = 0; at < IMAGE_BYTES;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, at);
      at += n;
      if (!socket.write(Buffer.from(buf.subarray(0, n)))) await new Promise((r) => socket.once("drain", r));
    }
  } finally {
    closeSync(fd);
  }
  const durable = new Promise((r) => socket.once("end", r));
  socket.resume();
  socket.end();
  await durable;
}

/**
 * Deletes the destination's finished image and its record (before a timed
 * send): with them in place the next send is answered at once as already
 * finished, and nothing would be sent.
 */
function clearDestination(b: Bed): void {
  rmSync(join(b.dir, "dst", "disk.raw"), { force: true });
  rmSync(join(b.dir, "dst", DONE_FOLDER), { recursive: true, force: true });
}

/** One whole transfer; fails unless every block of the image was sent. */
async function diskSend(b: Bed): Promise<void> {
  const r = await sendDisk(b.image, { host: "127.0.0.1", port: b.listener.port, token: new TextEncoder().encode(TOKEN), encryption: b.encryption, retryDelaysMs: [] });
  if (r.blockBytesSent !== IMAGE_BYTES) throw new Error(`disk-transfer: ${r.blockBytesSent} bytes of blocks sent, not the image's ${IMAGE_BYTES}`);
}

function scenario(name: string, encryption: boolean): ScenarioBench {
  const diskMs: number[] = [];
  const plainMs: number[] = [];
  return {
    name, passes: PASSES, warmupPasses: 1,
    async setup() {
      const b = await bed(encryption);
      await diskSend(b);
      await plainSend(b);
      const sha = (p: string): string => createHash("sha256").update(readFileSync(p)).digest("hex");
      if (sha(join(b.dir, "dst", "disk.raw")) !== b.sha256) throw new Error(`${name}: the transferred image differs from the source`);
      if (sha(join(b.dir, "plain.raw")) !== b.sha256) throw new Error(`${name}: the plain socket's copy differs from the source`);
      return {
        async run() {
          clearDestination(b);
          const t0 = performance.now();
          await diskSend(b);
          const wallMs = performance.now() - t0;
          diskMs.push(wallMs);
          const t1 = performance.now();
          await plainSend(b);
          plainMs.push(performance.now() - t1);
          return { bytes: IMAGE_BYTES, ops: IMAGE_BYTES / CHUNK_BYTES, wallMs };
        },
        teardown() {
          const disk = median(diskMs.slice(1));
          const plain = median(plainMs.slice(1));
          console.log(`${name}: ${disk.toFixed(0)} ms, plain socket + fs ${plain.toFixed(0)} ms, same bytes, alternating rounds: ${(plain / disk).toFixed(2)}x (target >= 0.8x)`);
          b.listener.child.kill();
          b.plain.child.kill();
          rmSync(b.dir, { recursive: true, force: true });
        },
      };
    },
  };
}

export const diskScenarios: readonly ScenarioBench[] = [
  scenario("disk-transfer-128MiB", true),
  scenario("disk-transfer-128MiB-integrity-only", false),
];
