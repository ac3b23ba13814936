import { findProgram, freeLoopbackPort } from "../../src/runtime/redis-server";

/** Finds a program on PATH or in the usual sbin folders, or says which Debian package installs it. */
export function requireProgram(name: string, debianPackage: string): string {
  return findProgram(name, debianPackage, "or run `bash .ci/run`, which installs it");
}

/** Asks the kernel for a free TCP port on loopback. */
export const freePort = freeLoopbackPort;
