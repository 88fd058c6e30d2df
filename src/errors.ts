// HypermemError: the one error type of the library. `code` is a stable string
// (switch on it); the message names the offending value. Kernel statuses
// (assembly/status.ts) map to codes here.

export const ErrorCode = {
  WasmAbort: "ERR_WASM_ABORT",
  OutOfFrames: "ERR_OUT_OF_FRAMES",
  GpaRange: "ERR_GPA_RANGE",
  Unaligned: "ERR_UNALIGNED",
  Length: "ERR_LENGTH",
  GuestTooLarge: "ERR_GUEST_TOO_LARGE",
  BadOption: "ERR_BAD_OPTION",
  UnknownOption: "ERR_UNKNOWN_OPTION",
  PageSize: "ERR_PAGE_SIZE",
  XbzrleCorrupt: "ERR_XBZRLE_CORRUPT",
  UnhandledFault: "ERR_UNHANDLED_FAULT",
  FaultLoop: "ERR_FAULT_LOOP",
  PageState: "ERR_PAGE_STATE",
  MemoryPoisoned: "ERR_MEMORY_POISONED",
  TraceFormat: "ERR_TRACE_FORMAT",
  BadAccess: "ERR_BAD_ACCESS",
  HostLimit: "ERR_HOST_LIMIT",
  Destroyed: "ERR_DESTROYED",
  /** A migration stream failed a check (magic, version, crc, record type, index, length, order). */
  StreamCorrupt: "ERR_STREAM_CORRUPT",
  /** A migration stream ended before its end-of-stream record. */
  StreamTruncated: "ERR_STREAM_TRUNCATED",
  /** A migration stream asks for more than the receiver allows (guest size, chunk size). */
  StreamLimit: "ERR_STREAM_LIMIT",
  /** The received guest's memory does not match the end-of-stream digest. */
  StreamDigest: "ERR_STREAM_DIGEST",
  /** A migration failed. */
  MigrationFailed: "ERR_MIGRATION_FAILED",
  /** The source gave up a migration (a limit, --max-time or --max-rounds, or an interrupt) and told the destination. */
  MigrationCancelled: "ERR_MIGRATION_CANCELLED",
  /** The peer failed the token challenge-response (or we failed the peer's). */
  Auth: "ERR_AUTH",
  /** A handshake message failed a check (magic, version, type, length). */
  Handshake: "ERR_HANDSHAKE",
  /** The peer sent nothing for longer than the idle timeout. */
  Timeout: "ERR_TIMEOUT",
  /** The connection closed or reset before the protocol said it could. */
  PeerClosed: "ERR_PEER_CLOSED",
  /** The listener is serving another migration. */
  Busy: "ERR_BUSY",
  /** Guest accesses on a paused VM. */
  VmPaused: "ERR_VM_PAUSED",
  // format layer (src/format/)
  /** A header's version is not one this hypermem reads (another major, a newer minor, or a format from before the shared header). */
  FormatVersion: "ERR_FORMAT_VERSION",
  /** A file operation failed (open, write, fsync, rename); names the path and the OS code. */
  FileIo: "ERR_FILE_IO",
  /** A saved component state record failed a check (magic, crc, length). */
  StateCorrupt: "ERR_STATE_CORRUPT",

  // Command line (src/cli).
  /** Unknown command or flag, a flag without its value or given twice, a missing required flag or argument. */
  Usage: "ERR_USAGE",
  /** A command failed in a way the code did not foresee (a bug): exit status 70. */
  Internal: "ERR_INTERNAL",
  /** A system call failed while a command ran (disk full, file removed meanwhile...): exit status 1. */
  System: "ERR_SYSTEM",

  // Secure transport (src/net, src/migration/tcp.ts and listener.ts).
  /**
   * A record after the handshake failed its check: its tag (altered on the
   * way, or keyed for another session), its sequence number (replayed,
   * reordered or dropped), its header fields or length, or the connection
   * ended without a CLOSE record (truncated).
   */
  Integrity: "ERR_INTEGRITY",
  /** The VM is being migrated already; a second migration of it is refused before it starts. */
  VmMigrating: "ERR_VM_MIGRATING",
  // ras: memory-error recovery and retired frames (src/ras, src/host/retired-store.ts, src/host/file-backing.ts).
  /** A retired-frame store is not one (wrong magic), or its header holds values this hypermem cannot use. */
  RetiredStore: "ERR_RETIRED_STORE",
  /** A backing file of vm.mapFile is missing, unreadable, shorter than the mapping, or changed since it was mapped. */
  BackingFile: "ERR_BACKING_FILE",
  // Unified scheduling of containers and VMs (src/cluster/).
  /** A Kubernetes manifest is malformed: names the object (pod, Deployment...), the field and the file. */
  Manifest: "ERR_MANIFEST",
  /** A hosts file (the cluster's hosts) is malformed: names the host, the field and the file. */
  HostsFile: "ERR_HOSTS_FILE",
  /** A scenario file is malformed, or names a pod that does not exist at that time. */
  Scenario: "ERR_SCENARIO",
  /** Something asked the container scheduler to bind a pod off the host the VM scheduler selected. */
  BindOffHost: "ERR_BIND_OFF_HOST",
  /** A cluster too large for what was asked (real Hosts and Vms with materialize). */
  ClusterLimit: "ERR_CLUSTER_LIMIT",
  // Snapshots (src/snapshot).
  /** A snapshot file failed a check: truncated, magic, crc, an index or active set that does not fit the file or the guest, a page checksum. */
  SnapshotCorrupt: "ERR_SNAPSHOT_CORRUPT",
  /** The base of a diff snapshot is missing, or is another snapshot than the one the diff was taken against (details.reason says which). */
  SnapshotBase: "ERR_SNAPSHOT_BASE",
  /** A snapshot cannot start: another save runs on the VM, or its pages are traced by someone else. */
  SnapshotBusy: "ERR_SNAPSHOT_BUSY",

  // Fault tolerance by frequent checkpointing (src/checkpoint).
  /** The backup host has not the memory to hold the protected guest: protection is refused before it starts. */
  BackupMemory: "ERR_BACKUP_MEMORY",
  /** After a failover, the backup's guest differs from the primary's memory at the pause of the checkpoint it committed. */
  FailoverMismatch: "ERR_FAILOVER_MISMATCH",

  // Quasi-lockstep fault tolerance (src/lockstep).
  /** After a resync, the secondary's memory digest differs from the primary's at the pause. */
  LockstepDiverged: "ERR_LOCKSTEP_DIVERGED",

  // Resumable virtual-disk transfer (src/storage).
  /** A disk transfer's peer broke the protocol: an absurd size, a block out of order or past the end, a malformed message. */
  DiskProtocol: "ERR_DISK_PROTOCOL",
  /** A block, a fragment or the finished file does not match its SHA-256. */
  DiskHash: "ERR_DISK_HASH",
  /** The source and the destination disagree on the committed offset; details.serverOffset is the destination's (tus's 409). */
  DiskOffsetConflict: "ERR_DISK_OFFSET_CONFLICT",
  /** The source image changed while it was being sent (its size, times or inode moved). */
  DiskSourceChanged: "ERR_DISK_SOURCE_CHANGED",
  /** Another live process serves this disk folder (its lock file names it): two destinations would sweep each other's fragments. */
  DiskFolderLocked: "ERR_DISK_FOLDER_LOCKED",

  // Hypervisor swap (src/swap).
  /** The swap file has no free slot: the page that needed one stays in memory. */
  SwapFull: "ERR_SWAP_FULL",
  /** The swap file cannot be created or written: a missing folder, a read-only path, a path that exists. */
  SwapPath: "ERR_SWAP_PATH",

  // Remote memory and its recovery (src/remote, issue 20).
  /** A region larger than what the memory host has left, or a memory host that cannot start. */
  RemoteCapacity: "ERR_REMOTE_CAPACITY",
  /** The memory host cannot be reached (its link is down): no one-sided read or write is possible. */
  RemoteUnreachable: "ERR_REMOTE_UNREACHABLE",
  /** A page read from the region does not match its version or checksum. */
  RemoteChecksum: "ERR_REMOTE_CHECKSUM",
  /** A baseline file failed a check (truncated, magic, crc, a page checksum) or is of another generation than the region's. */
  RemoteBaseline: "ERR_REMOTE_BASELINE",
  /** A dirty-page list in the region failed a check (crc, generation, epoch order, an entry out of range). */
  RemoteDirtyList: "ERR_REMOTE_DIRTY_LIST",

  // NVM regions with virtblocks (src/nvm, issue 20).
  /** The mass-storage file has no free slot for a purged block (details.capacityBlocks). */
  NvmStorageFull: "ERR_NVM_STORAGE_FULL",
  /** The NVM device has no free block and nothing can be purged to make one. */
  NvmFull: "ERR_NVM_FULL",

  // Memory overcommit (src/balloon).
  /** The VMs' reservations (or one VM's) exceed the memory the host can give them: refused before the run starts. */
  Admission: "ERR_ADMISSION",
  /** Free host memory fell to the low threshold and no reclamation step could free a frame: the host would run out. */
  HostOvercommitted: "ERR_HOST_OVERCOMMITTED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class HypermemError extends Error {
  readonly code: ErrorCode;
  /** The offending values, for programs (the message says the same for people). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "HypermemError";
    this.code = code;
    this.details = Object.freeze({ ...details });
  }
}

/** Kernel status codes (assembly/status.ts), positive form. */
export const KernelStatus = {
  OutOfFrames: 1,
  MemoryGrow: 2,
  GfnRange: 3,
  PageState: 4,
  BadAccess: 5,
} as const;

const STATUS_CODES: Record<number, ErrorCode> = {
  [KernelStatus.OutOfFrames]: ErrorCode.OutOfFrames,
  [KernelStatus.MemoryGrow]: ErrorCode.OutOfFrames,
  [KernelStatus.GfnRange]: ErrorCode.GpaRange,
  [KernelStatus.PageState]: ErrorCode.PageState,
  [KernelStatus.BadAccess]: ErrorCode.BadAccess,
};

/** Returns `status` when >= 0; otherwise throws the HypermemError it stands for. */
export function check(status: number, op: string, details: Record<string, unknown> = {}): number {
  if (status >= 0) return status;
  const code = STATUS_CODES[-status] ?? ErrorCode.WasmAbort;
  const what = Object.entries(details).map(([k, v]) => `${k}=${String(v)}`).join(", ");
  throw new HypermemError(code, `${op} failed: ${code}${what ? ` (${what})` : ""}`, { ...details, status });
}
