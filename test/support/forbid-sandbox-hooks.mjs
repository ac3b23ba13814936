// Module hooks that make src/sandbox/ and test/ unavailable to the process: any import resolving
// into them throws, as it would in an install that lacks them. Registered by forbid-sandbox.mjs.
const FORBIDDEN = [/\/src\/sandbox\//, /\/test\//];

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (FORBIDDEN.some((re) => re.test(result.url))) {
    const err = new Error(`forbidden in production: ${result.url} (imported from ${context.parentURL})`);
    err.code = "ERR_MODULE_NOT_FOUND";
    throw err;
  }
  return result;
}
