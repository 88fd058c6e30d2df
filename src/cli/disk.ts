// The `hypermem disk` commands: send, fragments, make-image.
import { diskFragmentsCommand } from "./disk-fragments.js";
import { diskMakeImageCommand } from "./disk-make-image.js";
import { diskSendCommand } from "./disk-send.js";

export const diskCommands = Object.freeze([diskSendCommand, diskFragmentsCommand, diskMakeImageCommand]);
