/**
 * Nova facts: per-release numbers and rules from Nova's own code (and the libvirt/QEMU behaviour
 * they rest on), each defined once with the tag and file it was read from. Everything that imitates
 * or judges Nova — the convergence analyzer, diagnosis, nova.conf fixes, the sandbox, the lab —
 * imports from here.
 */
export * from "./api";
export * from "./capacity";
export * from "./cpu";
export * from "./data-size";
export * from "./downtime";
export * from "./errors";
export * from "./facts";
export * from "./libvirt-dirtyrate";
export * from "./migration-figures";
export * from "./migration-flags";
export * from "./monitor";
export * from "./placement";
export * from "./python-float";
export * from "./qemu";
export * from "./releases";
export * from "./timeouts";
