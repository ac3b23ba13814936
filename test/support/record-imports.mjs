// `node --import ./test/support/record-imports.mjs …`: the process prints each module it loads.
import { register } from "node:module";

register("./record-imports-hooks.mjs", import.meta.url);
