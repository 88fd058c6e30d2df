// The shared token (src/net/token.ts and the CLI's --token-file): read as
// bytes, so two binary files that decode to the same text stay different
// tokens; 16 to 4096 bytes, refused at once past the limit (even /dev/zero);
// ASCII whitespace trimmed at both ends and nothing else; a warning, on the
// command's stderr, when other users may read or change the file.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/cli.js";
import type { CliIo } from "../src/cli/io.js";
import { ErrorCode } from "../src/errors.js";
import { createHost } from "../src/host/host.js";
import { listenForMigrations, type ListenerReport } from "../src/migration/listener.js";
import { connectMigrationChannel } from "../src/migration/tcp.js";
import { checkToken, loadToken, MAX_TOKEN_BYTES, MIN_TOKEN_BYTES } from "../src/net/token.js";

const dir = mkdtempSync(join(tmpdir(), "hypermem-token-test-"));

function file(name: string, bytes: Uint8Array | string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, bytes, { mode });
  chmodSync(path, mode); // whatever the umask
  return path;
}

async function load(path: string): Promise<{ token: Buffer; warnings: string[] }> {
  const warnings: string[] = [];
  const token = await loadToken(path, { onWarning: (w) => warnings.push(w) });
  return { token, warnings };
}

describe("token files", () => {
  it("are bytes: two binary files that read as the same UTF-8 text are different tokens, and do not authenticate each other", async () => {
    const a = file("binary-a", Buffer.alloc(32, 0xff));
    const b = file("binary-b", Buffer.alloc(32, 0xfe));
    expect(Buffer.alloc(32, 0xff).toString("utf8")).toBe(Buffer.alloc(32, 0xfe).toString("utf8")); // what reading them as text did
    const tokenA = (await load(a)).token;
    const tokenB = (await load(b)).token;
    expect(Buffer.compare(tokenA, Buffer.alloc(32, 0xff))).toBe(0);
    expect(Buffer.compare(tokenB, Buffer.alloc(32, 0xfe))).toBe(0);
    const reports: ListenerReport[] = [];
    const listener = await listenForMigrations({ port: 0, token: tokenA, host: createHost({ memoryMiB: 16 }), onReport: (r) => reports.push(r) });
    try {
      await expect(connectMigrationChannel({ host: "127.0.0.1", port: listener.address.port, token: tokenB })).rejects.toMatchObject({ code: ErrorCode.Auth });
      const ch = await connectMigrationChannel({ host: "127.0.0.1", port: listener.address.port, token: tokenA });
      ch.destroy();
    } finally {
      await listener.close();
    }
  });

  it("hold 16 to 4096 bytes once trimmed; reading stops past the limit, so /dev/zero is refused at once", async () => {
    expect(MIN_TOKEN_BYTES).toBe(16);
    expect(MAX_TOKEN_BYTES).toBe(4096);
    expect((await load(file("sixteen", "0123456789abcdef\n"))).token.toString()).toBe("0123456789abcdef");
    await expect(loadToken(file("fifteen", "0123456789abcde\n"))).rejects.toMatchObject({
      code: ErrorCode.BadOption, message: expect.stringMatching(/holds 15 bytes once trimmed; a token needs at least 16/),
    });
    expect((await load(file("max", Buffer.alloc(4096, 0x41)))).token.length).toBe(4096);
    await expect(loadToken(file("over", Buffer.alloc(4097, 0x41)))).rejects.toMatchObject({ message: expect.stringMatching(/holds more than 4096 bytes/) });
    const t0 = performance.now();
    await expect(loadToken("/dev/zero")).rejects.toMatchObject({ code: ErrorCode.BadOption, message: expect.stringMatching(/"\/dev\/zero" holds more than 4096 bytes/) });
    expect(performance.now() - t0).toBeLessThan(500);
    await expect(loadToken(file("blank", " \t\r\n\v\f "))).rejects.toMatchObject({ message: expect.stringMatching(/is empty/) });
  });

  it("lose ASCII whitespace at both ends and nothing else", async () => {
    const inner = Buffer.from([0x00, 0xa0, 0x20, 0x85, 0x41, 0x09, 0x42, ...Buffer.from("0123456789"), 0x00]);
    const { token } = await load(file("padded", Buffer.concat([Buffer.from(" \t\r\n"), inner, Buffer.from("\r\n ")])));
    expect(Buffer.compare(token, inner)).toBe(0); // NUL, NBSP and NEL are bytes of the token
  });

  it("that other users may read or change draw a warning (as ssh does for keys); a private file none", async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const path = file(`open-${mode.toString(8)}`, "a token, long enough to pass\n", mode);
      const { warnings } = await load(path);
      expect(warnings).toEqual([`--token-file ${path}: permissions 0${mode.toString(8)} are too open: other users may read or change the token; chmod 600 ${path} (as ssh asks of private keys)`]);
    }
    expect((await load(file("private", "a token, long enough to pass\n", 0o600))).warnings).toEqual([]);
    expect((await load(file("read-only", "a token, long enough to pass\n", 0o400))).warnings).toEqual([]);
  });

  it("given to the library are checked too: a Uint8Array of 16 to 4096 bytes", () => {
    expect(checkToken(Buffer.alloc(16))).toHaveLength(16);
    for (const bad of [Buffer.alloc(15), new Uint8Array(4097), "a string of more than sixteen", null]) {
      expect(() => checkToken(bad)).toThrow(expect.objectContaining({ code: ErrorCode.BadOption }));
    }
  });
});

describe("--token-file on the command line", () => {
  async function run(argv: readonly string[], interruptAtOnce = false): Promise<{ status: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
      stdout: { write: (t: string) => { stdout += t; } },
      stderr: { write: (t: string) => { stderr += t; } },
      debug: false,
      watchInterrupts: (onInterrupt) => {
        if (interruptAtOnce) setImmediate(onInterrupt);
        return () => {};
      },
    };
    const status = await runCli(argv, io);
    return { status, stdout, stderr };
  }

  it("prints the permissions warning on stderr, before the work, for migrate --to and listen", async () => {
    const open = file("cli-open", "a token, long enough to pass\n", 0o644);
    const warning = `warning: --token-file ${open}: permissions 0644 are too open`;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const migrate = await run(["migrate", "--guest", "4MiB", "--to", `127.0.0.1:${port}`, "--token-file", open]);
    expect(migrate.status).toBe(1); // nothing listens there
    expect(migrate.stderr.split("\n")[0]).toMatch(new RegExp(`^hypermem migrate: ${warning.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    expect(migrate.stderr.split("\n")[1]).toMatch(/^hypermem migrate: cannot migrate to/);
    const listen = await run(["listen", "--port", "0", "--token-file", open, "--host-memory", "16MiB"], true);
    expect(listen.status).toBe(0);
    expect(listen.stderr).toMatch(new RegExp(`^hypermem listen: ${warning.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    expect(listen.stdout).toMatch(/^listening on 127\.0\.0\.1:\d+ \(host memory 16\.0 MiB, encrypted\)/);
    const quiet = await run(["listen", "--port", "0", "--token-file", file("cli-private", "a token, long enough to pass\n"), "--host-memory", "16MiB", "--no-encryption", "--json"], true);
    expect(quiet.stderr).toBe("");
    expect(JSON.parse(quiet.stdout.split("\n")[0])).toMatchObject({ event: "listening", encryption: false });
  });

  it("refuses a short token naming the flag and the path", async () => {
    const short = file("cli-short", "short\n");
    const o = await run(["listen", "--port", "0", "--token-file", short]);
    expect(o.status).toBe(2);
    expect(o.stderr).toBe(`hypermem listen: --token-file ${short}: "${short}" holds 5 bytes once trimmed; a token needs at least 16 (e.g. openssl rand -hex 32 > FILE; chmod 600 FILE)\n`);
  });
});
