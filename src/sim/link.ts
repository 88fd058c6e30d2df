// The network link between two hosts, as the migration models it: a
// bandwidth, an optional cap on what precopy may use (QEMU's max-bandwidth),
// and a one-way latency. Simulated time only: nothing here sleeps.

export interface LinkModel {
  /** Line rate in bytes per second. */
  readonly bandwidthBytesPerSec: number;
  /** One-way latency in ns. */
  readonly latencyNs: number;
  /** Cap on the rate migration may use, bytes/s (QEMU max-bandwidth); null = none. */
  readonly maxBandwidthBytesPerSec: number | null;
}

/** The rate migration traffic gets: the line rate, or the cap if lower. */
export function effectiveRate(link: LinkModel): number {
  return link.maxBandwidthBytesPerSec === null ? link.bandwidthBytesPerSec : Math.min(link.bandwidthBytesPerSec, link.maxBandwidthBytesPerSec);
}

/** Time to put `bytes` on the link at the effective rate, in ns. */
export function transferNs(link: LinkModel, bytes: number): number {
  return (bytes / effectiveRate(link)) * 1e9;
}
