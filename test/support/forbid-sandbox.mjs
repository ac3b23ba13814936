// `node --import ./test/support/forbid-sandbox.mjs …`: the process cannot load src/sandbox/ or test/.
import { register } from "node:module";

register("./forbid-sandbox-hooks.mjs", import.meta.url);
