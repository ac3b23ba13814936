/**
 * VM restarts through the sandbox's Nova: after the CPU model is set on a host, hard reboots in
 * batches restart each guest with that model, and progress is reported per VM.
 */
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { progressLine } from "../../bot/render/proposal";
import { applyProposal } from "../../src/fixes/apply";
import { followUpVmRestart } from "../../src/fixes/drafts/vm-restart";
import { type RebootPort, runVmRestarts } from "../../src/fixes/vm-restarts";
import { silentLogger } from "../../src/log";
import type { NovaPort } from "../../src/openstack/port";
import { type ApplyHarness, approved, draftOf, planChanges, startApplyHarness } from "./harness";

let h: ApplyHarness;
beforeAll(async () => {
  h = await startApplyHarness(inject("redisUrl"));
});
afterAll(async () => {
  await h?.stop();
});

test("hard-reboots the VMs in batches; each comes back ACTIVE with the new CPU model", async () => {
  const changes = await planChanges(h, "cpu-model", ["compute-3"], "kvm64");
  const applied = await applyProposal(approved(draftOf("cpu-model", changes)), {
    hosts: h.hosts,
    nova: h.nova,
    migrations: h.migrations,
    audit: h.audit,
    log: silentLogger,
    progress: async () => {},
    timing: { serviceSettleMs: 200, servicePollIntervalMs: 100, serviceUpTimeoutMs: 15_000 },
  });
  expect(applied.ok).toBe(true);

  const names = ["web-7", "app-1", "app-2", "app-3"];
  const vms = [];
  for (const name of names) {
    const s = (await h.nova.findServer(name))!;
    expect(h.sandbox.cloud.vms.get(s.id)!.cpuModel).not.toBe("kvm64");
    vms.push({ serverId: s.id, name, host: s.host! });
  }
  const progress: string[] = [];
  const outcome = await runVmRestarts(
    approved(draftOf("vm-restart", [], { vmRestarts: vms, serviceRestarts: [] })),
    {
      nova: h.nova as NovaPort & RebootPort,
      audit: h.audit,
      log: silentLogger,
      progress: async (event) => {
        progress.push(progressLine(event));
      },
      timing: { batchSize: 3, pollIntervalMs: 100 },
    },
  );
  expect(outcome.ok).toBe(true);
  expect(outcome.results.map((r) => r.host)).toEqual(names);
  for (const r of outcome.results) expect(r.detail).toMatch(/ACTIVE again after/);
  expect(progress.filter((l) => l.startsWith("Batch"))).toEqual([
    "Batch 1 of 2: hard-rebooting *web-7*, *app-1*, *app-2*…",
    "Batch 2 of 2: hard-rebooting *app-3*…",
  ]);
  for (const v of vms) {
    const vm = h.sandbox.cloud.vms.get(v.serverId)!;
    expect(vm.status).toBe("ACTIVE");
    expect({ mode: vm.cpuMode, model: vm.cpuModel }).toEqual({ mode: "custom", model: "kvm64" });
  }
  const audit = await h.audit.read(10);
  expect(audit.filter((e) => e.action === "vm-restart" && e.result === "ok")).toHaveLength(4);
});

test("a VM Nova cannot reboot stops the batches after it", async () => {
  const s = (await h.nova.findServer("batch-1"))!;
  const outcome = await runVmRestarts(
    approved(
      draftOf("vm-restart", [], {
        vmRestarts: [
          { serverId: "00000000-0000-0000-0000-000000000000", name: "ghost", host: "compute-5" },
          { serverId: s.id, name: "batch-1", host: "compute-5" },
        ],
      }),
    ),
    {
      nova: h.nova as NovaPort & RebootPort,
      audit: h.audit,
      log: silentLogger,
      progress: async () => {},
      timing: { batchSize: 1, pollIntervalMs: 100 },
    },
  );
  expect(outcome.ok).toBe(false);
  expect(outcome.results[0]!.ok).toBe(false);
  expect(outcome.results[1]!.detail).toMatch(/not rebooted: stopped after a failure/);
  expect(h.sandbox.cloud.vms.get(s.id)!.status).toBe("ACTIVE");
});

test("after a CPU model is applied: the VMs it named are proposed for a reboot, or else the VM it retries", async () => {
  const change = {
    host: "compute-3",
    path: "/etc/nova/nova.conf",
    beforeSha256: "0".repeat(64),
    afterSha256: "1".repeat(64),
    diff: "",
    changedKeys: [],
  };
  const cpu = approved(
    draftOf("cpu-model", [change], {
      cpuModel: "kvm64",
      next: "vm-restart",
      retry: { vm: "web-7", destination: "compute-5" },
    }),
  );
  const web7 = (await h.nova.findServer("web-7"))!;
  const draft = await followUpVmRestart(cpu, h.nova);
  expect(draft).toMatchObject({
    kind: "vm-restart",
    title: "Hard-reboot web-7 so it picks up the kvm64 CPU model",
    cpuModel: "kvm64",
    vmRestarts: [{ serverId: web7.id, name: "web-7", host: web7.host }],
    retry: { vm: "web-7", destination: "compute-5" },
    changes: [],
    serviceRestarts: [],
  });
  expect(draft!.reasoning).toMatch(
    /^nova.conf now selects kvm64 on compute-3\.\nA running guest keeps the CPU/,
  );
  const named = { serverId: "5a1dc0de-7e57-4b1d-9c1a-000000000051", name: "app-1", host: "compute-3" };
  expect((await followUpVmRestart({ ...cpu, vmRestarts: [named] }, h.nova))?.vmRestarts).toEqual([named]);
  expect(await followUpVmRestart({ ...cpu, retry: undefined }, h.nova)).toBeNull();
});
