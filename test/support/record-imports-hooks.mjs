// Module hooks that print every module the process loads (`IMPORT <url>` on stderr), for tests that
// check what a process does NOT load. Registered by record-imports.mjs.
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  process.stderr.write(`IMPORT ${result.url}\n`);
  return result;
}
