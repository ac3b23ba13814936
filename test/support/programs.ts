import { spawnSync } from "node:child_process";
import { createServer } from "node:net";

/** Finds a program on PATH or in the usual sbin folders, or says which Debian package installs it. */
export function requireProgram(name: string, debianPackage: string): string {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin"])) {
    const candidate = `${dir}/${name}`;
    if (dir && spawnSync("test", ["-x", candidate]).status === 0) return candidate;
  }
  throw new Error(
    `${name} is not installed: run \`apt-get install -y ${debianPackage}\` (or \`bash .ci/run\`, which installs it)`,
  );
}

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") throw new Error("no port");
      server.close(() => resolve(address.port));
    });
  });
}
