/**
 * Tools with one BPF program per attach target (funccount's and funcprofile's fentry and kprobe
 * programs) have DIAG_SLOTS of them (bpf/diag.h), slot r*8+c named r_c. Routing reads SLOTS too,
 * so that a pattern matching more functions passes these candidates over.
 */
export const SLOTS = 64
export const slotName = (slot: number) => `${Math.floor(slot / 8)}_${slot % 8}`
