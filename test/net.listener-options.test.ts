// The listener's options (src/migration/listener-options.ts), resolved once:
// the documented defaults, each bound at its value and one past it, the
// refusals naming the option and the value, and the result frozen. Found
// missing by a mutation run (issue 19).
import { describe, expect, it } from "vitest";
import { ErrorCode, HypermemError } from "../src/errors.js";
import { createHost } from "../src/host/host.js";
import { resolveListenerOptions, type ListenerOptions } from "../src/migration/listener-options.js";

const TOKEN = Buffer.from("a listener token of 16+ bytes");
const base = { port: 0, token: TOKEN };

function refusal(o: unknown): HypermemError {
  try {
    resolveListenerOptions(o as ListenerOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(HypermemError);
    return err as HypermemError;
  }
  return expect.fail("expected a refusal");
}

describe("listener options", () => {
  it("default to the documented numbers, frozen", () => {
    const o = resolveListenerOptions(base);
    expect(o).toEqual({
      port: 0, bindAddress: "127.0.0.1", token: TOKEN, encryption: true, hostMiB: 4096, host: null, idleTimeoutMs: 10_000, maxHandshakes: 16,
      handshakeTimeoutMs: 3000, minRateBytesPerSec: 102_400, progressWindowMs: 10_000, releaseHostAfterMs: 2000, receiverLimits: {}, onReport: null, onGuest: null,
      streams: {},
    });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it("keep what is given: every field, a host, callbacks, null release, encryption off", () => {
    const host = createHost({ memoryMiB: 16 });
    const onReport = (): void => undefined;
    const onGuest = (): boolean => true;
    const streams = { HMPS: async (): Promise<void> => undefined };
    const o = resolveListenerOptions({
      port: 65535, bindAddress: "::1", token: TOKEN, encryption: false, hostMiB: 1, host, idleTimeoutMs: 1, maxHandshakes: 1024, handshakeTimeoutMs: 86_400_000,
      minRateBytesPerSec: 0, progressWindowMs: 1, releaseHostAfterMs: null, receiverLimits: { maxGuestPages: 8 }, onReport, onGuest, streams,
    });
    expect(o).toEqual({
      port: 65535, bindAddress: "::1", token: TOKEN, encryption: false, hostMiB: 1, host, idleTimeoutMs: 1, maxHandshakes: 1024, handshakeTimeoutMs: 86_400_000,
      minRateBytesPerSec: 0, progressWindowMs: 1, releaseHostAfterMs: null, receiverLimits: { maxGuestPages: 8 }, onReport, onGuest, streams,
    });
    expect(resolveListenerOptions({ ...base, releaseHostAfterMs: 0, onReport: null as never }).releaseHostAfterMs).toBe(0);
  });

  it.each([
    ["port", 65536, "port must be an integer in [0, 65535], got 65536"],
    ["port", -1, "port must be an integer in [0, 65535], got -1"],
    ["hostMiB", 0, "hostMiB must be an integer in [1, 4096], got 0"],
    ["hostMiB", 4097, "hostMiB must be an integer in [1, 4096], got 4097"],
    ["idleTimeoutMs", 0, "idleTimeoutMs must be a number in [1, 86400000], got 0"],
    ["idleTimeoutMs", 86_400_001, "idleTimeoutMs must be a number in [1, 86400000], got 86400001"],
    ["maxHandshakes", 0, "maxHandshakes must be an integer in [1, 1024], got 0"],
    ["maxHandshakes", 1025, "maxHandshakes must be an integer in [1, 1024], got 1025"],
    ["handshakeTimeoutMs", 0, "handshakeTimeoutMs must be a number in [1, 86400000], got 0"],
    ["handshakeTimeoutMs", 86_400_001, "handshakeTimeoutMs must be a number in [1, 86400000], got 86400001"],
    ["minRateBytesPerSec", -1, "minRateBytesPerSec must be a number in [0, 1000000000000], got -1"],
    ["minRateBytesPerSec", 1e12 + 1, "minRateBytesPerSec must be a number in [0, 1000000000000], got 1000000000001"],
    ["progressWindowMs", 0, "progressWindowMs must be a number in [1, 86400000], got 0"],
    ["progressWindowMs", 86_400_001, "progressWindowMs must be a number in [1, 86400000], got 86400001"],
    ["releaseHostAfterMs", -1, "releaseHostAfterMs must be a number in [0, 86400000], got -1"],
    ["releaseHostAfterMs", 86_400_001, "releaseHostAfterMs must be a number in [0, 86400000], got 86400001"],
  ])("%s = %s is refused", (option, value, message) => {
    const e = refusal({ ...base, [option]: value });
    expect(e.code).toBe(ErrorCode.BadOption);
    expect(e.message).toContain(message);
    expect(e.details).toEqual({ option, value });
  });

  it("refuses what is not options, unknown keys, a non-boolean encryption, an empty or non-string address, callbacks that are not functions", () => {
    expect(refusal(null)).toMatchObject({ code: ErrorCode.BadOption, message: "listener options must be an object such as { port, token }, got null", details: { option: "options" } });
    expect(refusal(7)).toMatchObject({ code: ErrorCode.BadOption, message: "listener options must be an object such as { port, token }, got 7" });
    expect(refusal({ ...base, colour: 1 })).toMatchObject({ code: ErrorCode.UnknownOption, message: expect.stringMatching(/^listenForMigrations: unknown option "colour"/) });
    expect(refusal({ ...base, encryption: "yes" })).toMatchObject({ code: ErrorCode.BadOption, message: "encryption must be true or false, got yes", details: { option: "encryption" } });
    expect(refusal({ ...base, bindAddress: "" })).toMatchObject({ code: ErrorCode.BadOption, message: "bindAddress must be an address, got ", details: { option: "bindAddress" } });
    expect(refusal({ ...base, bindAddress: 5 })).toMatchObject({ code: ErrorCode.BadOption, message: "bindAddress must be an address, got 5" });
    expect(refusal({ ...base, onReport: "log" })).toMatchObject({ code: ErrorCode.BadOption, message: "onReport must be a function, got string", details: { option: "onReport" } });
    expect(refusal({ ...base, onGuest: 1 })).toMatchObject({ code: ErrorCode.BadOption, message: "onGuest must be a function, got number", details: { option: "onGuest" } });
    expect(refusal({ ...base, token: Buffer.alloc(8) })).toMatchObject({ code: ErrorCode.BadOption, details: { option: "token", bytes: 8 } });
  });
});
