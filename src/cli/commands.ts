// Every command of `hypermem`, in the order help lists them.
import { clusterCommand } from "./cluster.js";
import { demoCommand } from "./demo.js";
import { demoHostCommand } from "./demo-host.js";
import { diskCommands } from "./disk.js";
import { ftCommand } from "./ft.js";
import { helpCommand } from "./help.js";
import { listenCommand } from "./listen.js";
import { lockstepCommand } from "./lockstep.js";
import { migrateCommand } from "./migrate.js";
import { nvmCommand } from "./nvm.js";
import { overcommitCommand } from "./overcommit.js";
import { rasCommand, rasRetiredCommand } from "./ras.js";
import { remoteCommand } from "./remote.js";
import type { Command } from "./registry.js";
import { snapshotCommands } from "./snapshot.js";
import { swapCommand } from "./swap.js";
import { traceInfoCommand } from "./trace-info.js";
import { traceRecordCommand } from "./trace-record.js";

export const COMMANDS: readonly Command[] = Object.freeze([
  demoCommand, demoHostCommand, migrateCommand, ftCommand, lockstepCommand, listenCommand, traceRecordCommand, traceInfoCommand, rasCommand, rasRetiredCommand, clusterCommand, ...snapshotCommands, ...diskCommands, swapCommand, remoteCommand, nvmCommand, overcommitCommand, helpCommand,
]);
