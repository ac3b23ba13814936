/**
 * Placement's room check, which Nova's scheduler relies on from Newton: what one resource class of a
 * resource provider can still take. From openstack/placement 8.0.0 (Zed)
 * placement/objects/allocation.py `_check_capacity_exceeded` and
 * placement/objects/research_context.py (`used + amount <= (total - reserved) * allocation_ratio`,
 * `min_unit <= amount`, `max_unit >= amount`, `amount % step_size == 0`).
 */

/** One resource class's inventory (`GET /resource_providers/{uuid}/inventories`). */
export interface PlacementInventory {
  total: number;
  reserved: number;
  allocationRatio: number;
  minUnit: number;
  maxUnit: number;
  stepSize: number;
}

/** The resource classes Nova reports for a libvirt compute node and a flavor asks for. */
export const PLACEMENT_RESOURCE_CLASSES = { ram: "MEMORY_MB", cpu: "VCPU", disk: "DISK_GB" } as const;

/** `(total - reserved) * allocation_ratio`: what the provider holds in all, overcommit included. */
export function placementCapacity(inv: PlacementInventory): number {
  return (inv.total - inv.reserved) * inv.allocationRatio;
}

/** `capacity - used`: what one more allocation may still take before max_unit and step_size. */
export function placementFree(inv: PlacementInventory, used: number): number {
  return placementCapacity(inv) - used;
}

/** Why placement refuses an allocation of `amount`, or null when it fits. */
export function placementRefusal(
  inv: PlacementInventory,
  used: number,
  amount: number,
): "capacity" | "min_unit" | "max_unit" | "step_size" | null {
  if (amount < inv.minUnit) return "min_unit";
  if (amount > inv.maxUnit) return "max_unit";
  if (amount % inv.stepSize !== 0) return "step_size";
  return used + amount <= placementCapacity(inv) ? null : "capacity";
}

/**
 * The first release with a Placement service: nova 14.0.0 (Newton) added nova/api/openstack/placement
 * (optional there; the scheduler needs it from Ocata 15.0.0); 13.x (Mitaka) has none, so its cloud
 * counts capacity from the hypervisor statistics and allocation ratios alone.
 */
export const PLACEMENT_FIRST_MAJOR = 14;
