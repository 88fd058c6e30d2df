// The `hypermem snapshot` commands: save, restore, info.
import { snapshotInfoCommand } from "./snapshot-info.js";
import { snapshotRestoreCommand } from "./snapshot-restore.js";
import { snapshotSaveCommand } from "./snapshot-save.js";

export const snapshotCommands = Object.freeze([snapshotSaveCommand, snapshotRestoreCommand, snapshotInfoCommand]);
