import type { CliCommand } from "./main";

export const command: CliCommand = {
  summary: "not available yet",
  async run() {
    console.error("migbot start: not available yet in this version");
    return 2;
  },
};
