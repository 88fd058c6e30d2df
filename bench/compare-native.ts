// Sets hypermem's kernels beside ../shared/native/run (native C, -O3, the
// same shapes and names) built twice: NATIVE_MARCH=x86-64-v3 (AVX2: 256-bit
// vectors) and NATIVE_MARCH=x86-64-v2 (SSE4.2: 128-bit vectors, the width of
// WebAssembly SIMD), so a reader sees which gap is vector width and which is
// our code. AVX2 is named, not -march=native: on a CPU with AVX-512 the
// native build would use 512-bit vectors and the column would change meaning
// from one machine to the next.
// Alternates the three benches `--rounds` times in one time window and
// reports the median of each and the ratios. Optional tooling: it needs the
// native harness beside the repository.
//
//   npm run bench:native [-- --rounds 3] [--case NAME ...] [--native PATH]
//
// --native: the harness's run script (default ../shared/native/run beside the
// repository; a worktree elsewhere passes /work/shared/native/run). A child
// that fails (an unknown case, a failed verification) stops the comparison
// with its message and exit status 2.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchArgs, usageError } from "./cli-args.js";

interface Row { case: string; impl: string; bytesPerSec: number; opsPerSec: number }

const USAGE = "npm run bench:native [-- --rounds N] [--case NAME ...] [--native PATH]";
const values = benchArgs("bench:native", USAGE, {
  options: {
    rounds: { type: "string", default: "2" },
    case: { type: "string", multiple: true },
    native: { type: "string", default: fileURLToPath(new URL("../../shared/native/run", import.meta.url)) },
  },
});
const NATIVE = values.native;
if (!existsSync(NATIVE)) {
  usageError("bench:native", USAGE, `--native ${NATIVE}: not found (the native harness lives beside the repository in the project workspace)`);
}
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) usageError("bench:native", USAGE, `--rounds ${values.rounds}: must be a positive integer`);
const caseArgs = (values.case ?? []).flatMap((c) => ["--case", c]);
const ours: Row[] = [];
const native: Row[] = [];
const native128: Row[] = [];
const STACK_LINE = /^\s+at /;

/** Rows printed (JSON) by `file args`; when it fails, its message (stack frames left out) and exit status 2. */
function runChild(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Row[] {
  const r = spawnSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env, maxBuffer: 64 << 20 });
  if (r.status === 0) return JSON.parse(r.stdout) as Row[];
  const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  const message = (r.stderr ?? "").split("\n").filter((l) => l.trim() !== "" && !STACK_LINE.test(l)).join("\n");
  process.stderr.write(`bench:native: ${[file, ...args].join(" ")} failed (${why})${message ? `:\n${message}` : ""}\n`);
  process.exit(2);
}
/** The native harness's rows, built for `march`. */
function runNative(march: string): Row[] {
  return runChild(NATIVE, ["--json", "--quick", ...caseArgs], { ...process.env, NATIVE_MARCH: march });
}
for (let r = 0; r < rounds; r++) {
  process.stderr.write(`round ${r + 1}/${rounds}: hypermem\n`);
  ours.push(...runChild("npx", ["tsx", "bench/run.ts", "--json", "--time", "300", ...caseArgs]));
  process.stderr.write(`round ${r + 1}/${rounds}: native AVX2 (-march=x86-64-v3)\n`);
  native.push(...runNative("x86-64-v3"));
  process.stderr.write(`round ${r + 1}/${rounds}: native 128-bit (-march=x86-64-v2)\n`);
  native128.push(...runNative("x86-64-v2"));
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const names = [...new Set(ours.filter((r) => r.impl === "wasm").map((r) => r.case))];
const rows = names.flatMap((name) => {
  const n = native.filter((r) => r.case === name);
  if (n.length === 0) return [];
  const w = median(ours.filter((r) => r.case === name && r.impl === "wasm").map((r) => r.bytesPerSec));
  const t = median(ours.filter((r) => r.case === name && r.impl === "ts").map((r) => r.bytesPerSec));
  const c = median(n.map((r) => r.bytesPerSec));
  const c128 = median(native128.filter((r) => r.case === name).map((r) => r.bytesPerSec));
  const unit = (v: number): string => `${(v / 1e9).toFixed(2)} GB/s`;
  return [{
    case: name, wasm: unit(w), "native AVX2": unit(c), "wasm/AVX2": `${(w / c).toFixed(2)}x`,
    "native 128-bit": unit(c128), "wasm/128-bit": `${(w / c128).toFixed(2)}x`, ts: unit(t), "wasm/ts": `${(w / t).toFixed(1)}x`,
  }];
});
console.table(rows);
console.log(`median of ${rounds} alternating rounds; native AVX2 = NATIVE_MARCH=x86-64-v3, native 128-bit = NATIVE_MARCH=x86-64-v2 (SSE4.2); GB/s = 10^9 counted bytes per second (see ../shared/native/README.md)`);
